/**
 * Routing policies are versioned rows: publishing never edits, it adds the
 * next version. Version 0 is the built-in DEFAULT_POLICY.
 */
import { assertValidPolicy, DEFAULT_POLICY, type RoutingPolicy } from '../../domain/routing/policy';
import type { SqlLike } from '../db/client';
import { audit } from '../auth/guard';
import type { User } from '../auth/users';

export interface StoredPolicy {
	version: number;
	policy: RoutingPolicy;
	note: string | null;
	publishedBy: string;
	publishedAt: string | null;
}

const BUILT_IN: StoredPolicy = { version: 0, policy: DEFAULT_POLICY, note: 'built-in default', publishedBy: 'radflow', publishedAt: null };

/** The policy in force: the newest published version, else the built-in default. */
export async function currentPolicy(sql: SqlLike): Promise<StoredPolicy> {
	const [row] = await sql`SELECT version, body, note, published_by, published_at FROM routing_policies ORDER BY version DESC LIMIT 1`;
	if (!row) return BUILT_IN;
	return {
		version: row.version,
		policy: { ...(row.body as RoutingPolicy), version: `v${row.version}` },
		note: row.note,
		publishedBy: row.published_by,
		publishedAt: new Date(row.published_at).toISOString()
	};
}

export async function policyHistory(sql: SqlLike, limit = 20): Promise<StoredPolicy[]> {
	const rows = await sql`SELECT version, body, note, published_by, published_at FROM routing_policies ORDER BY version DESC LIMIT ${limit}`;
	return [
		...rows.map((r) => ({
			version: r.version as number,
			policy: { ...(r.body as RoutingPolicy), version: `v${r.version}` },
			note: r.note as string | null,
			publishedBy: r.published_by as string,
			publishedAt: new Date(r.published_at).toISOString()
		})),
		BUILT_IN
	];
}

/**
 * Validate and publish the next version inside the caller's transaction, with
 * its audit entry. Throws PolicyError listing every problem.
 */
export async function publishPolicy(tx: SqlLike, user: User, candidate: unknown, note: string | null): Promise<StoredPolicy> {
	const policy = assertValidPolicy(candidate);
	// Serialize publishers: two admins publishing at once get consecutive versions.
	await tx`SELECT pg_advisory_xact_lock(4242004)`;
	const [{ next }] = await tx`SELECT coalesce(max(version), 0) + 1 AS next FROM routing_policies`;
	const body = { ...policy, version: `v${next}` };
	await tx`INSERT INTO routing_policies (version, body, note, published_by)
		VALUES (${next}, ${JSON.stringify(body)}::text::jsonb, ${note}, ${user.username})`;
	await audit(tx, user, 'policy.publish', `policy:v${next}`, note, { weights: policy.weights, waitCapMinutes: policy.waitCapMinutes });
	return { version: next, policy: body, note, publishedBy: user.username, publishedAt: new Date().toISOString() };
}
