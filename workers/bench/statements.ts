/**
 * `radflow bench statements`: what one SQL statement costs on the ingest write
 * path, against writing the same rows set-based. Rows are patient upserts (the
 * statement every HL7 order, ADT and lab result starts with), written in group
 * transactions of `--group` rows, the way group commit writes them:
 *
 * - baseline: one statement per row, pipelined in the transaction (what the
 *   HL7 handler does per message today);
 * - set-based: one `unnest` statement per group.
 *
 * Reported per row: wall time, this process's CPU (postgres.js, protocol) and
 * the PostgreSQL backends' CPU (read from /proc; null when the server is not on
 * this machine). The difference is the per-statement cost that set-based SQL
 * per group would save; it tells how far one statement per row can go.
 *
 * Options: --rows N (default 4000), --group G (default 8), --runs R (default 2,
 * the first warms up; the last is reported).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Sql, SqlLike } from '../../src/lib/server/db/client';
import { pgArray } from '../../src/lib/server/events/store';
import { createLogger } from '../../src/lib/server/log';
import { openBenchDatabase } from './db';

interface PerRow {
	wall_us: number;
	node_cpu_us: number;
	pg_cpu_us: number | null;
}

/** CPU (ms) of the server processes behind this database's connections, or null if they cannot be read here. */
async function backendCpuMs(sql: Sql): Promise<number | null> {
	const pids = (await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`).map((r) => r.pid);
	let total = 0;
	for (const pid of pids) {
		try {
			const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
			const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			total += (Number(f[11]) + Number(f[12])) * 10;
		} catch {
			return null;
		}
	}
	return total;
}

async function measure(sql: Sql, rows: number, group: number, writeGroup: (tx: SqlLike, mrns: string[]) => Promise<unknown>, prefix: string): Promise<PerRow> {
	const pg0 = await backendCpuMs(sql);
	const cpu0 = process.cpuUsage();
	const t0 = performance.now();
	for (let base = 0; base < rows; base += group) {
		const mrns = Array.from({ length: Math.min(group, rows - base) }, (_, i) => `${prefix}-${base + i}`);
		await sql.begin((tx) => writeGroup(tx, mrns));
	}
	const wall = performance.now() - t0;
	const cpu = process.cpuUsage(cpu0);
	const pg1 = await backendCpuMs(sql);
	const round = (n: number) => Math.round(n * 10) / 10;
	return {
		wall_us: round((wall * 1000) / rows),
		node_cpu_us: round((cpu.user + cpu.system) / rows),
		pg_cpu_us: pg0 === null || pg1 === null ? null : round(((pg1 - pg0) * 1000) / rows)
	};
}

const UPSERT_TAIL = `ON CONFLICT (issuer, mrn) DO UPDATE SET patient_class = EXCLUDED.patient_class, location = EXCLUDED.location, updated_at = now() RETURNING id`;

export async function run(args: string[]): Promise<Record<string, unknown>> {
	const { values } = parseArgs({ args, options: { rows: { type: 'string' }, group: { type: 'string' }, runs: { type: 'string' } } });
	const rows = Number(values.rows ?? 4000);
	const group = Number(values.group ?? 8);
	const runs = Number(values.runs ?? 2);
	if (![rows, group, runs].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--rows, --group and --runs take positive integers');
	const log = createLogger('bench', 'warn');
	// One connection: the server CPU read is of the backend that ran the statements.
	const bench = await openBenchDatabase(log, { max: 1 });
	const say = (m: string) => process.stderr.write(`[bench:statements] ${m}\n`);
	try {
		const sql = bench.db.sql;
		let perRow: PerRow | undefined;
		let setBased: PerRow | undefined;
		for (let r = 1; r <= runs; r++) {
			say(`run ${r}/${runs}: ${rows} rows, one statement per row, groups of ${group}`);
			perRow = await measure(
				sql,
				rows,
				group,
				(tx, mrns) => Promise.all(mrns.map((mrn) => tx.unsafe(`INSERT INTO patients (mrn, issuer, patient_class, location) VALUES ($1, 'BENCH', 'E', 'ED') ${UPSERT_TAIL}`, [mrn], { prepare: true }).execute())),
				`r${r}`
			);
			say(`run ${r}/${runs}: ${rows} rows, one set-based statement per group of ${group}`);
			setBased = await measure(
				sql,
				rows,
				group,
				(tx, mrns) => tx.unsafe(`INSERT INTO patients (mrn, issuer, patient_class, location) SELECT m, 'BENCH', 'E', 'ED' FROM unnest($1::text::text[]) AS m ${UPSERT_TAIL}`, [pgArray(mrns)], { prepare: true }),
				`s${r}`
			);
		}
		const a = perRow!;
		const b = setBased!;
		const ratio = (x: number | null, y: number | null) => (x === null || y === null || y === 0 ? null : Math.round((x / y) * 100) / 100);
		return {
			rows,
			group,
			statement_per_row: a,
			set_based: b,
			// What one statement per row costs beyond the set-based write, per row: about the cost of one statement.
			statement_overhead_node_cpu_us: Math.round((a.node_cpu_us - b.node_cpu_us) * 10) / 10,
			statement_overhead_pg_cpu_us: a.pg_cpu_us === null || b.pg_cpu_us === null ? null : Math.round((a.pg_cpu_us - b.pg_cpu_us) * 10) / 10,
			ratio_wall: ratio(a.wall_us, b.wall_us),
			ratio_cpu: ratio(a.node_cpu_us + (a.pg_cpu_us ?? 0), b.node_cpu_us + (b.pg_cpu_us ?? 0))
		};
	} finally {
		await bench.close();
	}
}
