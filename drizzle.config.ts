import { defineConfig } from 'drizzle-kit';

// The SQL files in migrations/ are authoritative (they carry the TimescaleDB
// parts); drizzle-kit is used for `drizzle-kit check` and studio, not generate.
export default defineConfig({
	dialect: 'postgresql',
	schema: './src/lib/server/db/schema.ts',
	out: './migrations',
	dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/radflow' }
});
