/**
 * The audit log: append-only (a trigger refuses UPDATE and DELETE) and
 * tamper-evident: each row's hash covers its content and the previous hash,
 * so editing or removing any row breaks every hash after it.
 */
import { createHash } from 'node:crypto';
import type { SqlLike } from '../db/client';

export interface AuditEntry {
	userId: number | null;
	username: string;
	role: string | null;
	action: string;
	target?: string | null;
	reason?: string | null;
	details?: Record<string, unknown>;
}

const AUDIT_LOCK = 4_242_003;
export const GENESIS_HASH = '0'.repeat(64);

/** Stable JSON: keys sorted, so the hash does not depend on key order. */
function canonical(v: unknown): string {
	if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
	if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
	const o = v as Record<string, unknown>;
	return `{${Object.keys(o)
		.sort()
		.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
		.join(',')}}`;
}

export function auditHash(prevHash: string, row: { at: string; userId: number | null; username: string; role: string | null; action: string; target: string | null; reason: string | null; details: unknown }): string {
	return createHash('sha256')
		.update(prevHash)
		.update(canonical({ ...row, at: new Date(row.at).toISOString() }))
		.digest('hex');
}

/** Append one entry inside the caller's transaction (so it commits with the action it records). */
export async function appendAudit(tx: SqlLike, e: AuditEntry, at = new Date()): Promise<{ id: number; hash: string }> {
	await tx`SELECT pg_advisory_xact_lock(${AUDIT_LOCK})`;
	const [last] = await tx`SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1`;
	const prevHash = (last?.hash as string | undefined) ?? GENESIS_HASH;
	const row = {
		at: at.toISOString(),
		userId: e.userId,
		username: e.username,
		role: e.role,
		action: e.action,
		target: e.target ?? null,
		reason: e.reason ?? null,
		details: e.details ?? {}
	};
	const hash = auditHash(prevHash, row);
	const [r] = await tx`INSERT INTO audit_log (at, user_id, username, role, action, target, reason, details, prev_hash, hash)
		VALUES (${row.at}, ${row.userId}, ${row.username}, ${row.role}, ${row.action}, ${row.target}, ${row.reason},
			${JSON.stringify(row.details)}::text::jsonb, ${prevHash}, ${hash}) RETURNING id`;
	return { id: r.id as number, hash };
}

export interface AuditVerification {
	ok: boolean;
	rows: number;
	/**
	 * The newest row checked and its hash. A chain cannot show that rows were cut
	 * off its end; record this head elsewhere (a ticket, a log shipper) and compare.
	 */
	head?: { id: number; hash: string };
	/** First row whose hash does not match, if any. */
	brokenAt?: number;
	problem?: string;
}

/** Walk the whole chain and recompute every hash. */
export async function verifyAuditChain(sql: SqlLike): Promise<AuditVerification> {
	let prev = GENESIS_HASH;
	let rows = 0;
	let afterId = 0;
	for (;;) {
		const batch = await sql`SELECT id, at, user_id, username, role, action, target, reason, details, prev_hash, hash
			FROM audit_log WHERE id > ${afterId} ORDER BY id LIMIT 5000`;
		if (batch.length === 0) break;
		for (const r of batch) {
			rows++;
			if (r.prev_hash !== prev) return { ok: false, rows, brokenAt: r.id, problem: 'previous hash does not match (a row was removed or reordered)' };
			const expect = auditHash(prev, {
				at: (r.at as Date).toISOString(),
				userId: r.user_id,
				username: r.username,
				role: r.role,
				action: r.action,
				target: r.target,
				reason: r.reason,
				details: r.details
			});
			if (expect !== r.hash) return { ok: false, rows, brokenAt: r.id, problem: 'row content does not match its hash (it was edited)' };
			prev = r.hash;
			afterId = r.id;
		}
	}
	return { ok: true, rows, ...(rows > 0 ? { head: { id: Number(afterId), hash: prev } } : {}) };
}
