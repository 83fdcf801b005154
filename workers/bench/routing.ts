/**
 * Routing bench: decision latency, full rebalance and a 30-day what-if replay
 * against a FIFO baseline, on a seeded synthetic reading network.
 *
 * Usage: run([]) or run(['--seed', '42', '--days', '30', '--readers', '300', '--queued', '10000']).
 * Progress goes to stderr; the returned object is the result line.
 */
import { loadavg } from 'node:os';
import { PatientClass, Priority, Subspecialty, type Modality } from '../../src/lib/domain/study/model';
import { computeDeadline, DEFAULT_POLICY, type RoutingPolicy } from '../../src/lib/domain/routing/policy';
import { decide } from '../../src/lib/domain/routing/decide';
import { RoutingSnapshot } from '../../src/lib/domain/routing/eligibility';
import { rebalance } from '../../src/lib/domain/routing/rebalance';
import { estimateSlaRisk } from '../../src/lib/domain/routing/sla';
import { replay, ReplayMode, type ReplayStudy } from '../../src/lib/domain/routing/replay';
import { Prng } from '../../src/lib/domain/routing/prng';
import { ANY_SITE, CriticalFlag, ReaderStatus, type QueueItem, type Radiologist, type Shift } from '../../src/lib/domain/routing/types';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Monday 00:00 UTC: synthetic clocks start here. */
const EPOCH = Date.UTC(2025, 2, 3);

const SITES = ['MAIN', 'NORTH', 'SOUTH', 'EAST', 'WEST', 'ONC'] as const;
const HOSPITALS = ['MAIN', 'NORTH', 'SOUTH'] as const;
const CENTERS = ['EAST', 'WEST', 'ONC', 'MAIN'] as const;

interface Exam {
	code: string;
	modality: Modality;
	sub: Subspecialty;
	rvu: number;
	minutes: number;
	criticalCandidate: boolean;
}
const EXAMS: Record<string, Exam> = {
	ctHead: { code: 'CTHEAD', modality: 'CT', sub: 'neuro', rvu: 0.85, minutes: 6, criticalCandidate: true },
	ctAbd: { code: 'CTAP', modality: 'CT', sub: 'body', rvu: 1.75, minutes: 14, criticalCandidate: true },
	ctChest: { code: 'CTCH', modality: 'CT', sub: 'chest', rvu: 1.4, minutes: 12, criticalCandidate: false },
	ctaChest: { code: 'CTPE', modality: 'CT', sub: 'chest', rvu: 1.8, minutes: 14, criticalCandidate: true },
	crChest: { code: 'CXR', modality: 'CR', sub: 'chest', rvu: 0.22, minutes: 2.5, criticalCandidate: true },
	dxExt: { code: 'XREXT', modality: 'DX', sub: 'msk', rvu: 0.2, minutes: 2.5, criticalCandidate: false },
	dxGen: { code: 'XRABD', modality: 'DX', sub: 'general', rvu: 0.2, minutes: 3, criticalCandidate: false },
	mrBrain: { code: 'MRBR', modality: 'MR', sub: 'neuro', rvu: 1.6, minutes: 18, criticalCandidate: false },
	mrSpine: { code: 'MRLS', modality: 'MR', sub: 'neuro', rvu: 1.5, minutes: 16, criticalCandidate: false },
	mrKnee: { code: 'MRKN', modality: 'MR', sub: 'msk', rvu: 1.3, minutes: 14, criticalCandidate: false },
	usAbd: { code: 'USAB', modality: 'US', sub: 'body', rvu: 0.8, minutes: 7, criticalCandidate: false },
	usPeds: { code: 'USPD', modality: 'US', sub: 'pediatric', rvu: 0.7, minutes: 8, criticalCandidate: false },
	xrPeds: { code: 'XRPD', modality: 'DX', sub: 'pediatric', rvu: 0.22, minutes: 3, criticalCandidate: false },
	mgScreen: { code: 'MGSC', modality: 'MG', sub: 'breast', rvu: 0.7, minutes: 5, criticalCandidate: false },
	mgDiag: { code: 'MGDX', modality: 'MG', sub: 'breast', rvu: 0.9, minutes: 8, criticalCandidate: false },
	nmBone: { code: 'NMBN', modality: 'NM', sub: 'nuclear', rvu: 0.9, minutes: 10, criticalCandidate: false },
	pet: { code: 'PETCT', modality: 'PT', sub: 'nuclear', rvu: 2.2, minutes: 22, criticalCandidate: false }
};

/** Exam mix and priority mix per patient class. */
const STREAMS: Record<PatientClass, { mix: [keyof typeof EXAMS, number][]; priority: [Priority, number][] }> = {
	E: {
		mix: [['ctHead', 20], ['ctAbd', 15], ['ctaChest', 6], ['crChest', 25], ['dxExt', 20], ['usAbd', 8], ['xrPeds', 4], ['usPeds', 2]],
		priority: [['stat', 55], ['asap', 25], ['routine', 20]]
	},
	I: {
		mix: [['crChest', 40], ['ctAbd', 12], ['ctHead', 12], ['ctChest', 8], ['mrBrain', 6], ['usAbd', 10], ['dxGen', 8], ['nmBone', 4]],
		priority: [['stat', 15], ['asap', 25], ['routine', 60]]
	},
	O: {
		mix: [
			['mgScreen', 15], ['mgDiag', 4], ['mrKnee', 8], ['mrSpine', 8], ['mrBrain', 8], ['ctChest', 8], ['ctAbd', 10],
			['usAbd', 10], ['dxExt', 12], ['dxGen', 6], ['pet', 4], ['nmBone', 3], ['xrPeds', 2], ['usPeds', 2]
		],
		priority: [['stat', 1], ['asap', 9], ['routine', 90]]
	}
};

/** Relative arrival intensity by hour of day: ED peaks in the evening, inpatient in the morning, outpatient in office hours. */
function intensity(pc: PatientClass, hour: number, weekday: boolean): number {
	switch (pc) {
		case 'E':
			return [0.5, 0.4, 0.35, 0.3, 0.3, 0.35, 0.5, 0.7, 0.9, 1.1, 1.25, 1.35, 1.4, 1.45, 1.5, 1.5, 1.5, 1.45, 1.4, 1.3, 1.2, 1.0, 0.8, 0.6][hour];
		case 'I':
			return [0.3, 0.3, 0.3, 0.4, 0.6, 1.2, 2.0, 2.2, 2.0, 1.6, 1.3, 1.2, 1.1, 1.1, 1.0, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.4, 0.3][hour];
		case 'O': {
			const day = [0, 0, 0, 0, 0, 0, 0.1, 0.8, 1.8, 2.2, 2.3, 2.2, 1.6, 2.0, 2.2, 2.1, 1.8, 1.2, 0.7, 0.4, 0.2, 0.05, 0, 0][hour];
			return weekday ? day : day * 0.25;
		}
		default:
			return pc satisfies never;
	}
}

/** Average arrivals per hour at intensity 1, per class; sized for ~3,300 studies a day. */
const BASE_RATE: Record<PatientClass, number> = { E: 42, I: 36, O: 80 };

/** Seeded arrivals over `days` days from `start`: a non-homogeneous Poisson process by thinning. */
function generateStudies(rng: Prng, start: number, days: number, policy: RoutingPolicy): ReplayStudy[] {
	const out: ReplayStudy[] = [];
	const recentPatients: string[] = [];
	let patientSeq = 0;
	for (const pc of [PatientClass.emergency, PatientClass.inpatient, PatientClass.outpatient]) {
		const stream = STREAMS[pc];
		const peak = BASE_RATE[pc] * 2.4;
		let t = start;
		const end = start + days * DAY;
		for (;;) {
			t += rng.exponential(HOUR / peak);
			if (t >= end) break;
			const d = new Date(t);
			const weekday = d.getUTCDay() >= 1 && d.getUTCDay() <= 5;
			if (rng.next() * 2.4 > intensity(pc, d.getUTCHours(), weekday)) continue;
			const exam = EXAMS[rng.weighted(stream.mix.map((m) => m[0]), stream.mix.map((m) => m[1]))];
			const priority = rng.weighted(stream.priority.map((p) => p[0]), stream.priority.map((p) => p[1]));
			const site = pc === 'O' ? rng.pick(CENTERS) : rng.pick(HOSPITALS);
			// Some patients come back for a related study within hours (continuity).
			let patientId: string;
			if (recentPatients.length > 50 && rng.next() < 0.12) patientId = rng.pick(recentPatients);
			else {
				patientId = `PT${++patientSeq}`;
				recentPatients.push(patientId);
				if (recentPatients.length > 400) recentPatients.shift();
			}
			const critical =
				exam.criticalCandidate && pc !== 'O' && rng.next() < 0.03 ? CriticalFlag.pending : CriticalFlag.none;
			const arrivedAt = Math.round(t);
			const s: ReplayStudy = {
				studyId: `ST${out.length + 1}`,
				accession: `A${out.length + 1}`,
				site,
				modality: exam.modality,
				subspecialty: exam.sub,
				rvu: exam.rvu,
				expectedReadMinutes: exam.minutes,
				priority,
				patientClass: pc,
				critical,
				arrivedAt,
				patientId,
				deadline: computeDeadline({ arrivedAt, priority, patientClass: pc, modality: exam.modality }, policy)
			};
			out.push(s);
		}
	}
	out.sort((a, b) => a.arrivedAt - b.arrivedAt);
	return out;
}

const WINDOWS = [
	{ name: 'day', startHour: 7, hours: 9 },
	{ name: 'evening', startHour: 15, hours: 9 },
	{ name: 'night', startHour: 23, hours: 9 }
] as const;

/**
 * A roster staffed from the workload itself: per subspecialty and window, enough
 * reader-shifts for the average demand at `utilization`, five days on, two off,
 * and at least two readers wherever there is work so no day goes uncovered.
 * Intra-day peaks still exceed capacity, which is where routing policy matters.
 */
function generateRoster(
	rng: Prng,
	studies: readonly ReplayStudy[],
	start: number,
	days: number,
	utilization: number,
	scale = 1
): Radiologist[] {
	const demand = new Map<string, number>(); // sub|window → expected minutes per day
	for (const s of studies) {
		const h = new Date(s.arrivedAt).getUTCHours();
		const w = h >= 7 && h < 15 ? 'day' : h >= 15 && h < 23 ? 'evening' : 'night';
		const key = `${s.subspecialty}|${w}`;
		demand.set(key, (demand.get(key) ?? 0) + s.expectedReadMinutes / days);
	}
	const readers: Radiologist[] = [];
	const subs = Object.values(Subspecialty);
	for (const sub of subs) {
		for (const w of WINDOWS) {
			const perDay = (demand.get(`${sub}|${w.name}`) ?? 0) / (8 * 60 * utilization);
			// No reader where there is (almost) no work, e.g. mammography at night.
			if (perDay < 0.05 && sub !== 'general') continue;
			// At least two per window, with staggered days off, so every day is covered.
			const count = Math.max(2, Math.round(perDay * (7 / 5) * scale));
			for (let k = 0; k < count; k++) {
				const id = `${sub}-${w.name}-${k + 1}`;
				const subspecialties: Subspecialty[] = [sub];
				if (sub === 'general' && k % 3 === 0) subspecialties.push('pediatric');
				if ((sub === 'body' || sub === 'chest') && k % 2 === 0) subspecialties.push('general');
				const siteCredentials = rng.next() < 0.7 ? [ANY_SITE] : SITES.filter(() => rng.next() < 0.6).concat(['MAIN']);
				const shifts: Shift[] = [];
				const offset = (k * 3 + readers.length) % 7;
				for (let d = -1; d <= days; d++) {
					if ((d + offset) % 7 >= 5) continue; // two days off a week, staggered
					const jitter = rng.int(-1, 1) * 30 * MIN;
					const s0 = start + d * DAY + w.startHour * HOUR + jitter;
					shifts.push({ start: s0, end: s0 + w.hours * HOUR });
				}
				readers.push({
					id,
					name: `Reader ${id}`,
					subspecialties,
					siteCredentials: [...new Set(siteCredentials)],
					shifts,
					status: ReaderStatus.reading,
					paceFactor: Math.round((0.75 + rng.next() * 0.55) * 100) / 100
				});
			}
		}
	}
	return readers;
}

/**
 * A queue row as the database would hand it over: every field present, in one
 * order, so the engine sees one object shape (as it does in production).
 */
function toQueueItem(s: ReplayStudy, id: string, arrivedAt: number): QueueItem {
	return {
		studyId: id,
		accession: id,
		site: s.site,
		modality: s.modality,
		subspecialty: s.subspecialty,
		rvu: s.rvu,
		expectedReadMinutes: s.expectedReadMinutes,
		priority: s.priority,
		patientClass: s.patientClass,
		critical: s.critical,
		arrivedAt,
		deadline: s.deadline! - s.arrivedAt + arrivedAt,
		patientId: s.patientId,
		assignedTo: null,
		openedAt: null,
		held: false,
		heldUntil: null
	};
}

function argValue(args: string[], name: string, fallback: number): number {
	const i = args.indexOf(name);
	return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : fallback;
}

function log(msg: string): void {
	process.stderr.write(`[bench:routing] ${msg}\n`);
}

function percentile(xs: number[], p: number): number {
	const s = xs.slice().sort((a, b) => a - b);
	return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** A live network at Wednesday 14:00: `nReaders` readers and `nQueued` unreported studies. */
function buildLiveState(seed: number, nReaders: number, nQueued: number, policy: RoutingPolicy) {
	const rng = new Prng(seed);
	const liveNow = EPOCH + 2 * DAY + 14 * HOUR;
	const history = generateStudies(new Prng(seed + 1), EPOCH, 7, policy);
	let scale = 1;
	let roster = generateRoster(rng, history, EPOCH, 7, 0.9, scale);
	scale = nReaders / roster.length;
	roster = generateRoster(new Prng(seed + 2), history, EPOCH, 7, 0.9, scale).slice(0, nReaders);
	while (roster.length < nReaders) roster.push({ ...roster[roster.length % 50], id: `extra-${roster.length}` });
	const backlogSrc = generateStudies(new Prng(seed + 3), liveNow - 4 * DAY, 4, policy).filter((s) => s.arrivedAt < liveNow);
	const pick = new Prng(seed + 4);
	const items: QueueItem[] = [];
	for (let k = backlogSrc.length - 1; k >= 0 && items.length < nQueued; k--) {
		const s = backlogSrc[k];
		items.push(toQueueItem(s, s.studyId, s.arrivedAt));
	}
	// A third already sits on worklists, a few are open, a few held.
	const slotsSnap = RoutingSnapshot.from({ readers: roster, items: [] });
	const bySub = slotsSnap.slots(policy);
	for (const it of items) {
		const u = pick.next();
		const cands = bySub.get(it.subspecialty) ?? [];
		if (u < 0.33 && cands.length) {
			it.assignedTo = pick.pick(cands).reader.id;
			if (pick.next() < 0.1) it.openedAt = liveNow - pick.int(1, 20) * MIN;
		} else if (u > 0.99) it.held = true;
	}
	return { roster, items, liveNow };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
	const seed = argValue(args, '--seed', 20250303);
	const days = argValue(args, '--days', 30);
	const nReaders = argValue(args, '--readers', 300);
	const nQueued = argValue(args, '--queued', 10_000);
	const policy = DEFAULT_POLICY;

	const { roster, items, liveNow } = buildLiveState(seed, nReaders, nQueued, policy);
	const onShift = roster.filter((r) => r.shifts.some((s) => s.start <= liveNow && liveNow < s.end)).length;
	log(`live state: ${roster.length} readers (${onShift} on shift), ${items.length} queued studies`);

	// Decision latency on a maintained snapshot (the deployed path).
	const state = { readers: roster, items };
	const snap = RoutingSnapshot.from(state);
	const fresh = generateStudies(new Prng(seed + 5), liveNow - 4 * DAY, 4, policy).slice(0, 10_000);
	const lat: number[] = [];
	const kinds: string[] = [];
	let assignedNew = 0;
	for (let k = 0; k < fresh.length; k++) {
		const s = fresh[k];
		const item = toQueueItem(s, `N${k}`, Math.min(s.arrivedAt, liveNow));
		const t0 = performance.now();
		const d = decide(snap, item, liveNow, policy);
		lat.push(performance.now() - t0);
		kinds.push(`${item.subspecialty}:${d.readerId ? 'placed' : 'none'}:${d.eligibleCount}`);
		if (d.readerId) {
			snap.assign(item, d.readerId);
			assignedNew++;
		}
	}
	const warm = lat.slice(500);
	if (process.env.ROUTING_BENCH_DEBUG) {
		const slow = lat.map((ms, k) => [ms, k] as const).sort((a, b) => b[0] - a[0]).slice(0, 40);
		log('slowest: ' + slow.map(([ms, k]) => `${k}:${ms.toFixed(2)}:${kinds[k]}`).join(' '));
	}
	const decisionP50 = percentile(warm, 0.5);
	const decisionP99 = percentile(warm, 0.99);
	log(`decide: ${warm.length} decisions, p50 ${decisionP50.toFixed(3)} ms, p99 ${decisionP99.toFixed(3)} ms (${assignedNew} placed)`);

	// Cold path: a plain state indexed on every call.
	const cold: number[] = [];
	for (let k = 0; k < 60; k++) {
		const s = fresh[k];
		const item = toQueueItem(s, `C${k}`, s.arrivedAt);
		const t0 = performance.now();
		decide(state, item, liveNow, policy);
		cold.push(performance.now() - t0);
	}
	const coldP99 = percentile(cold.slice(10), 0.99);
	log(`decide (unindexed state, rebuilt per call): p99 ${coldP99.toFixed(2)} ms`);

	// Full rebalance.
	// Wall time is what a user waits for; CPU time shows the cost when the box is shared.
	const rb: number[] = [];
	const rbCpu: number[] = [];
	let plan = rebalance(state, liveNow, policy);
	for (let k = 0; k < 5; k++) {
		const c0 = process.cpuUsage();
		const t0 = performance.now();
		plan = rebalance(state, liveNow, policy);
		rb.push(performance.now() - t0);
		const c = process.cpuUsage(c0);
		rbCpu.push((c.user + c.system) / 1000);
	}
	const rebalanceMs = percentile(rb, 0.5);
	const rebalanceCpuMs = percentile(rbCpu, 0.5);
	log(`rebalance: ${rebalanceMs.toFixed(1)} ms median of 5 (max ${Math.max(...rb).toFixed(1)}, cpu ${rebalanceCpuMs.toFixed(1)} ms), ${plan.moves.length} moves, ${plan.assigned} assigned, ${plan.waiting} waiting`);

	estimateSlaRisk(state, liveNow, policy);
	const t1 = performance.now();
	const risk = estimateSlaRisk(state, liveNow, policy);
	const riskMs = performance.now() - t1;
	let atRisk = 0;
	for (const r of risk.values()) if (r.riskLevel === 'at_risk') atRisk++;
	log(`sla risk: ${risk.size} studies in ${riskMs.toFixed(1)} ms, ${atRisk} at risk`);

	// 2. 30-day replay: same arrivals, same roster, our policy versus FIFO.
	const studies = generateStudies(new Prng(seed + 10), EPOCH, days, policy);
	const replayRoster = generateRoster(new Prng(seed + 11), studies, EPOCH, days, 0.9);
	log(`replay: ${studies.length} studies over ${days} days, ${replayRoster.length} readers`);
	const tp = performance.now();
	const ours = replay(studies, replayRoster, policy, { mode: ReplayMode.policy });
	const replayS = (performance.now() - tp) / 1000;
	log(`replay policy: ${replayS.toFixed(2)} s — tat p90 ${ours.tatP90Min} min, breaches ${ours.breaches}, max wait ${ours.maxWaitMin} min`);
	const tf = performance.now();
	const fifo = replay(studies, replayRoster, policy, { mode: ReplayMode.fifo });
	const fifoS = (performance.now() - tf) / 1000;
	log(`replay fifo:   ${fifoS.toFixed(2)} s — tat p90 ${fifo.tatP90Min} min, breaches ${fifo.breaches}, max wait ${fifo.maxWaitMin} min`);

	return {
		bench: 'routing',
		seed,
		readers: roster.length,
		readers_on_shift: onShift,
		queued: items.length,
		decision_p50_ms: Math.round(decisionP50 * 1000) / 1000,
		decision_p99_ms: Math.round(decisionP99 * 1000) / 1000,
		decision_cold_p99_ms: r2(coldP99),
		rebalance_ms: r2(rebalanceMs),
		rebalance_cpu_ms: r2(rebalanceCpuMs),
		rebalance_moves: plan.moves.length,
		sla_risk_ms: r2(riskMs),
		replay_studies: studies.length,
		replay_readers: replayRoster.length,
		replay_days: days,
		replay_s: r2(replayS),
		load_avg_1m: r2(loadavg()[0]),
		baseline_replay_s: r2(fifoS),
		tat_p50_min: ours.tatP50Min,
		tat_p90_min: ours.tatP90Min,
		baseline_tat_p50_min: fifo.tatP50Min,
		baseline_tat_p90_min: fifo.tatP90Min,
		breaches: ours.breaches,
		baseline_breaches: fifo.breaches,
		max_wait_min: ours.maxWaitMin,
		baseline_max_wait_min: fifo.maxWaitMin,
		over_wait_cap: ours.overWaitCap,
		baseline_over_wait_cap: fifo.overWaitCap,
		stat_tat_p90_min: ours.perPriority.stat.tatP90Min,
		baseline_stat_tat_p90_min: fifo.perPriority.stat.tatP90Min,
		stat_breaches: ours.perPriority.stat.breaches,
		baseline_stat_breaches: fifo.perPriority.stat.breaches,
		critical_tat_p90_min: ours.critical.tatP90Min,
		baseline_critical_tat_p90_min: fifo.critical.tatP90Min,
		unfinished: ours.unfinished,
		baseline_unfinished: fifo.unfinished,
		targets: { decision_p99_ms: 5, rebalance_ms: 250, replay_s: 30 }
	};
}
