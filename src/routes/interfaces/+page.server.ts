import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { can } from '$lib/domain/auth/roles';
import { lastMessagePerSender, messagesPerMinuteByType, messageTypeTotals, pendingMessages, recentNacks } from '$lib/server/queries/interfaces';
import { latestEventId, liveRoleStatus, summarizeHl7Status } from '$lib/server/queries/ingest';

const MINUTES = 60;

export const load: PageServerLoad = async ({ locals, setHeaders }) => {
	const user = authorize(locals, 'view');
	setHeaders({ 'cache-control': 'no-store' });
	const { sql } = getContext().db;
	const now = new Date();
	const [perMinute, totals, nacks, senders, hl7Rows, lastEventId, pending] = await Promise.all([
		messagesPerMinuteByType(sql, { now, minutes: MINUTES }),
		messageTypeTotals(sql, { now, minutes: MINUTES }),
		recentNacks(sql, { limit: 50 }),
		lastMessagePerSender(sql, { limit: 100 }),
		liveRoleStatus(sql, { now, role: 'hl7' }),
		latestEventId(sql),
		pendingMessages(sql)
	]);
	// One zero-filled series of MINUTES points per message type, for the sparklines.
	const firstMinute = Math.floor(now.getTime() / 60_000) - (MINUTES - 1);
	const series: Record<string, number[]> = {};
	for (const t of totals) series[t.messageType] = new Array(MINUTES).fill(0);
	for (const r of perMinute) {
		const i = Math.floor(r.minute.getTime() / 60_000) - firstMinute;
		if (i >= 0 && i < MINUTES) (series[r.messageType] ??= new Array(MINUTES).fill(0))[i] += r.count;
	}
	return {
		now,
		minutes: MINUTES,
		types: totals.map((t) => ({ ...t, series: series[t.messageType] ?? [] })),
		nacks,
		pending,
		senders,
		hl7: summarizeHl7Status(hl7Rows),
		canViewRaw: can(user.role, 'view_raw_messages'),
		lastEventId
	};
};
