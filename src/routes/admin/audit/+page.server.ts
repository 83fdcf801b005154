import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { verifyAuditChain } from '$lib/server/auth/audit';

export const load: PageServerLoad = async ({ locals, url }) => {
	authorize(locals, 'administer');
	const { sql } = getContext().db;
	const action = url.searchParams.get('action') ?? '';
	const rows = await sql`SELECT id, at, username, role, action, target, reason, details, hash FROM audit_log
		${action ? sql`WHERE action = ${action}` : sql``} ORDER BY id DESC LIMIT 300`;
	const verification = url.searchParams.has('verify') ? await verifyAuditChain(sql) : null;
	return {
		action,
		verification,
		rows: rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() })) as unknown as {
			id: number; at: string; username: string; role: string | null; action: string; target: string | null; reason: string | null; details: Record<string, unknown>; hash: string;
		}[]
	};
};
