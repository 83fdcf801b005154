/**
 * The live router: keeps the dynamic worklist assigned. A pg-boss worker
 * routes each study as it is triaged (or re-prioritized); a periodic tick, also
 * kicked by `complete` / `triaged` / reader-status events, assigns whatever is
 * still assignable, moves the router's own unopened work off readers who went
 * away, fills in missing SLA deadlines and raises SLA-risk alerts before the
 * deadline passes.
 *
 * Safe with many processes: ticks serialize on a session advisory lock, and
 * every write is `applyStudyCommand` with the version the decision was made
 * against, so a study someone changed in between is simply skipped.
 */
import { reserveConnection } from '../db/pipelined';
import { decide, type Decision } from '../../domain/routing/decide';
import { currentShift } from '../../domain/routing/roster';
import { itemPriority } from '../../domain/routing/scoring';
import { estimateSlaRisk, riskRank, RiskLevel, type SlaRisk } from '../../domain/routing/sla';
import { RoutingSnapshot } from '../../domain/routing/eligibility';
import { ReaderStatus, type QueueItem } from '../../domain/routing/types';
import { Priority, StudyStatus } from '../../domain/study/model';
import type { Sql } from '../db/client';
import { EVENTS_CHANNEL, insertEvents, type NewEvent } from '../events/store';
import { JobName, type JobData, type JobQueue } from '../jobs/queue';
import type { Logger } from '../log';
import { assignStudyTx, releaseStudyTx, ROUTER_ACTOR, WorklistEventKind } from './commands';
import { currentPolicy } from './policy-store';
import { loadRoutingState, type QueueRow, type ReaderRow } from './queries';

/** One session-level advisory lock: one router tick at a time across all processes. */
const ROUTER_LOCK = 4_242_010;

export interface RouterOptions {
	/** Clock, epoch ms (tests pass a fixed one). */
	now?: () => number;
	/** A complete study not yet triaged is routed anyway after this many seconds (stat: at once). */
	untriagedAfterSeconds?: number;
	/** Periodic tick interval. */
	tickMs?: number;
}

export interface TickResult {
	/** False when another process held the router lock. */
	ran: boolean;
	assigned: { studyId: number; readerId: number; explanation: string }[];
	released: number[];
	conflicts: number[];
	waiting: number;
	alerts: { studyId: number; level: RiskLevel }[];
	policyVersion: number;
}

export interface Router {
	/** Assign everything assignable, re-home work from readers who left, raise SLA alerts. */
	tick(now?: number): Promise<TickResult>;
	/** Route one study (the `route` job). Returns the decision, or null when it is not routable. */
	routeStudy(studyId: number, now?: number): Promise<Decision | null>;
}

export interface RouterDeps {
	sql: Sql;
	jobs: JobQueue | null;
	log: Logger;
}

const EMPTY = (policyVersion: number): TickResult => ({ ran: false, assigned: [], released: [], conflicts: [], waiting: 0, alerts: [], policyVersion });

function available(reader: ReaderRow | undefined, now: number): boolean {
	return reader !== undefined && reader.status === ReaderStatus.reading && currentShift(reader, now) !== null;
}

/** Build a router over a database; `startRouting` wires it to the queue and a timer. */
export function createRouter(deps: RouterDeps, options: RouterOptions = {}): Router {
	const clock = options.now ?? Date.now;
	const graceMs = (options.untriagedAfterSeconds ?? 30) * 1000;
	const fired = new Set<string>();
	const { sql, jobs, log } = deps;

	/** Run `fn` holding the router lock; `wait=false` gives up at once when another process holds it. */
	async function withLock<T>(wait: boolean, fn: () => Promise<T>): Promise<T | null> {
		const conn = await reserveConnection(sql);
		try {
			if (wait) await conn`SELECT pg_advisory_lock(${ROUTER_LOCK})`;
			else {
				const [{ ok }] = await conn`SELECT pg_try_advisory_lock(${ROUTER_LOCK}) AS ok`;
				if (!ok) return null;
			}
			try {
				return await fn();
			} finally {
				await conn`SELECT pg_advisory_unlock(${ROUTER_LOCK})`;
			}
		} finally {
			conn.release();
		}
	}

	/** Whether the router may place this row now (pool work past the triage grace, or its own work on an absent reader). */
	function movable(row: QueueRow, readers: Map<string, ReaderRow>, now: number): 'pool' | 'rehome' | null {
		const item = row.item;
		if (item.held || item.openedAt != null) return null;
		if (row.status === StudyStatus.triaged) return 'pool';
		if (row.status === StudyStatus.complete) {
			// A stat study must not wait for AI; others get a short grace for triage to flag criticals.
			if (item.priority === Priority.stat) return 'pool';
			const since = row.completeAt ?? item.arrivedAt;
			return now - since >= graceMs ? 'pool' : null;
		}
		if (row.status === StudyStatus.assigned && item.assignedTo && row.assignedBy === ROUTER_ACTOR) {
			// Humans stay in charge: only the router's own placements are moved.
			return available(readers.get(item.assignedTo), now) ? null : 'rehome';
		}
		return null;
	}

	async function place(
		row: QueueRow,
		d: Decision,
		policyVersion: number,
		at: string
	): Promise<'applied' | 'conflict' | 'refused'> {
		const out = await sql.begin((tx) =>
			assignStudyTx(tx, jobs, {
				studyId: row.id,
				readerId: Number(d.readerId),
				actor: ROUTER_ACTOR,
				explanation: d.explanation,
				policyVersion,
				expectedVersion: row.version,
				at,
				payload: { score: d.score?.total ?? null, eligible: d.eligibleCount, alternatives: d.alternatives }
			})
		);
		if (out.status === 'applied') return 'applied';
		if (out.status === 'conflict' || out.status === 'not_found') return 'conflict';
		log.warn('router assignment refused', { studyId: row.id, reason: out.reason });
		return 'refused';
	}

	async function persistDeadlines(rows: QueueRow[]): Promise<void> {
		const missing = rows.filter((r) => r.deadlineComputed);
		if (missing.length === 0) return;
		// A derived column: no version bump, so it never turns a charge's click into a conflict.
		await sql`UPDATE studies AS s SET sla_deadline = v.deadline::timestamptz
			FROM json_to_recordset(${JSON.stringify(missing.map((r) => ({ id: r.id, deadline: new Date(r.item.deadline).toISOString() })))}::text::json)
				AS v(id bigint, deadline text)
			WHERE s.id = v.id AND s.sla_deadline IS NULL`;
	}

	async function raiseAlerts(risks: Map<string, SlaRisk>, rows: QueueRow[], now: number): Promise<TickResult['alerts']> {
		const byId = new Map(rows.map((r) => [r.item.studyId, r]));
		const events: NewEvent[] = [];
		const alerts: TickResult['alerts'] = [];
		for (const risk of risks.values()) {
			if (riskRank(risk.riskLevel) < riskRank(RiskLevel.watch)) continue;
			const key = `risk:${risk.studyId}:${risk.riskLevel}`;
			if (fired.has(key)) continue;
			const row = byId.get(risk.studyId);
			if (!row) continue;
			const item = row.item;
			events.push({
				time: new Date(now).toISOString(),
				studyId: row.id,
				kind: WorklistEventKind.slaRisk,
				actor: ROUTER_ACTOR,
				siteId: item.site || null,
				subspecialty: item.subspecialty,
				modality: item.modality || null,
				priority: item.priority,
				patientClass: item.patientClass,
				payload: {
					level: risk.riskLevel,
					probability: risk.probability,
					deadline: new Date(risk.deadline).toISOString(),
					expectedFinish: Number.isFinite(risk.expectedFinishMs) ? new Date(risk.expectedFinishMs).toISOString() : null,
					minutesToDeadline: Math.round((risk.deadline - now) / 6000) / 10,
					reason: risk.reason,
					assignedTo: item.assignedTo ?? null
				},
				idempotencyKey: key
			});
		}
		if (events.length === 0) return alerts;
		const { inserted } = await sql.begin((tx) => insertEvents(tx, events));
		for (const e of events) fired.add(e.idempotencyKey!);
		for (const e of inserted) alerts.push({ studyId: e.studyId!, level: e.payload.level as RiskLevel });
		if (fired.size > 100_000) fired.clear();
		return alerts;
	}

	async function tickLocked(now: number): Promise<TickResult> {
		const stored = await currentPolicy(sql);
		const policy = stored.policy;
		const { readers, rows, state } = await loadRoutingState(sql, now, policy);
		await persistDeadlines(rows);
		const readerById = new Map(readers.map((r) => [r.id, r]));
		const snap = RoutingSnapshot.from(state);
		const at = new Date(now).toISOString();
		const result: TickResult = { ...EMPTY(stored.version), ran: true };
		const current = new Map<string, QueueItem>(rows.map((r) => [r.item.studyId, r.item]));

		const work = rows
			.map((row) => ({ row, kind: movable(row, readerById, now), score: itemPriority(row.item, now, policy).total }))
			.filter((w): w is { row: QueueRow; kind: 'pool' | 'rehome'; score: number } => w.kind !== null)
			// Most urgent first: a critical or nearly-due study gets the free reader.
			.sort((a, b) => b.score - a.score || a.row.item.arrivedAt - b.row.item.arrivedAt || a.row.id - b.row.id);

		for (const { row, kind } of work) {
			const from = kind === 'rehome' ? row.item.assignedTo! : null;
			if (from) snap.unassign(row.item, from);
			const item: QueueItem = { ...row.item, assignedTo: null };
			const d = decide(snap, item, now, policy);
			if (d.readerId !== null) {
				const r = await place(row, d, stored.version, at);
				if (r === 'applied') {
					snap.assign(item, d.readerId);
					current.set(item.studyId, { ...item, assignedTo: d.readerId });
					result.assigned.push({ studyId: row.id, readerId: Number(d.readerId), explanation: d.explanation });
				} else {
					if (from) snap.assign(row.item, from);
					if (r === 'conflict') result.conflicts.push(row.id);
				}
				continue;
			}
			if (from) {
				const name = readerById.get(from)?.name ?? `reader ${from}`;
				const reason = `${name} is ${readerById.get(from)?.status === ReaderStatus.reading ? 'off shift' : readerById.get(from)?.status}; back to pool: ${d.explanation}`;
				const out = await sql.begin((tx) =>
					releaseStudyTx(tx, jobs, { studyId: row.id, actor: ROUTER_ACTOR, reason, expectedVersion: row.version, at })
				);
				if (out.status === 'applied') {
					current.set(item.studyId, item);
					result.released.push(row.id);
				} else {
					snap.assign(row.item, from);
					result.conflicts.push(row.id);
				}
			}
			result.waiting++;
		}

		const risks = estimateSlaRisk({ readers, items: [...current.values()] }, now, policy);
		result.alerts = await raiseAlerts(risks, rows, now);
		if (result.assigned.length || result.released.length || result.alerts.length) {
			log.debug('routing tick', {
				assigned: result.assigned.length,
				released: result.released.length,
				conflicts: result.conflicts.length,
				waiting: result.waiting,
				alerts: result.alerts.length,
				policyVersion: stored.version
			});
		}
		return result;
	}

	async function routeLocked(studyId: number, now: number): Promise<Decision | null> {
		const stored = await currentPolicy(sql);
		const { readers, rows, state } = await loadRoutingState(sql, now, stored.policy);
		const row = rows.find((r) => r.id === studyId);
		if (!row) return null;
		const readerById = new Map(readers.map((r) => [r.id, r]));
		const kind = movable(row, readerById, now);
		// A study the job names is routable even inside the triage grace: the job is the signal.
		if (kind === null && !(row.status === StudyStatus.complete && !row.item.held && row.item.assignedTo == null)) return null;
		const snap = RoutingSnapshot.from(state);
		if (kind === 'rehome') snap.unassign(row.item, row.item.assignedTo!);
		const d = decide(snap, { ...row.item, assignedTo: null }, now, stored.policy);
		if (d.readerId !== null) await place(row, d, stored.version, new Date(now).toISOString());
		return d;
	}

	return {
		async tick(now = clock()) {
			return (await withLock(false, () => tickLocked(now))) ?? EMPTY(-1);
		},
		async routeStudy(studyId, now = clock()) {
			return withLock(true, () => routeLocked(studyId, now));
		}
	};
}

/** Event kinds that make a tick worth running now rather than at the next interval. */
const KICK_KINDS = new Set<string>([
	StudyStatus.complete,
	StudyStatus.triaged,
	'unassigned',
	'priority_changed',
	WorklistEventKind.readerStatus,
	WorklistEventKind.holdReleased
]);

/**
 * Start the routing role: the `route` job worker, the periodic tick and the
 * event-driven kick. Idempotent `stop()`.
 */
export async function startRouting(
	ctx: { db: { sql: Sql }; jobs: JobQueue | null; log: Logger },
	options: RouterOptions = {}
): Promise<{ name: 'route'; stop(): Promise<void>; router: Router }> {
	const log = ctx.log.child('route');
	const sql = ctx.db.sql;
	const router = createRouter({ sql, jobs: ctx.jobs, log }, options);
	let stopped = false;
	let running: Promise<unknown> | null = null;
	let again = false;

	const runTick = () => {
		if (stopped) return;
		if (running) {
			again = true;
			return;
		}
		running = router
			.tick()
			.catch((err) => log.error('routing tick failed', { err }))
			.finally(() => {
				running = null;
				if (again && !stopped) {
					again = false;
					runTick();
				}
			});
	};

	let workerId: string | null = null;
	if (ctx.jobs) {
		workerId = await ctx.jobs.boss.work<JobData['route']>(JobName.route, { pollingIntervalSeconds: 1, batchSize: 4 }, async (batch) => {
			for (const job of batch) {
				const d = await router.routeStudy(job.data.studyId);
				if (d) log.debug('routed', { studyId: job.data.studyId, readerId: d.readerId });
			}
		});
	}

	// Event-driven kick: look at the kinds committed since the last look, debounced.
	let [{ last }] = await sql`SELECT coalesce(max(id), 0)::int8 AS last FROM study_events`;
	let kickTimer: NodeJS.Timeout | null = null;
	const onNotify = () => {
		if (stopped || kickTimer) return;
		kickTimer = setTimeout(async () => {
			kickTimer = null;
			try {
				const rows = await sql`SELECT id, kind FROM study_events WHERE id > ${last} ORDER BY id LIMIT 1000`;
				if (rows.length) last = rows[rows.length - 1].id;
				if (rows.some((r) => KICK_KINDS.has(r.kind))) runTick();
			} catch (err) {
				log.warn('routing kick failed', { err });
			}
		}, 250);
	};
	const listener = await sql.listen(EVENTS_CHANNEL, onNotify);
	const interval = setInterval(runTick, options.tickMs ?? 15_000);
	interval.unref?.();
	runTick();
	log.info('routing started', { tickMs: options.tickMs ?? 15_000 });

	return {
		name: 'route',
		router,
		async stop() {
			if (stopped) return;
			stopped = true;
			clearInterval(interval);
			if (kickTimer) clearTimeout(kickTimer);
			await listener.unlisten().catch(() => {});
			if (workerId && ctx.jobs) await ctx.jobs.boss.offWork({ id: workerId }).catch(() => {});
			await running;
		}
	};
}
