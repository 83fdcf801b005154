/**
 * `radflow simulate`: a hospital network sending realistic traffic over the
 * real protocols (HL7 v2 over MLLP, DICOM C-STORE), deterministic for a seed,
 * optionally after writing days of history in bulk.
 *
 * For each simulated hour: Poisson arrivals per series (the forecast's own
 * generating model), each study ADT → ORM → images a few simulated minutes
 * later → ORU when a (simulated) radiologist has read it.
 */
import type { AppContext } from '../../src/lib/server/context';
import { backfill } from './backfill';
import { buildStudyInstances } from './dicom';
import { buildAdt, buildOrm } from './hl7';
import { MllpClient, type MllpStats } from './mllp';
import { buildNetwork, SimulatorConfigError, type SimNetwork } from './network';
import { HOUR, studiesForHour, type StudyPlan } from './plan';
import { SimClock, SimulatedReaders, type ReaderStats } from './readers';
import { seedRoster } from './roster';
import { isStoreSuccess, storeInstances } from './scu';

const DAY = 24 * HOUR;
const MIN = 60_000;

export const USAGE = `radflow simulate [options]

  --speed N            simulated seconds per real second (default 60: one simulated hour per real minute)
  --seed N             random seed; the same seed gives the same traffic (default 1)
  --backfill 90d       write this much history (d = days, h = hours) in bulk before live traffic
  --backfill-only      stop after the backfill
  --hl7 host:port      MLLP listener (default 127.0.0.1:$HL7_PORT)
  --dicom host:port:AE C-STORE SCP (default 127.0.0.1:$DICOM_PORT:$DICOM_AE_TITLE)
  --sites a,b          only these sites (default all: north, south, east)
  --rate-multiplier X  scale every arrival rate (default 1)
  --self-assign        simulated readers also read unassigned complete studies (for a Radflow without its router; default off)
  --no-self-assign     read only studies the router assigned (default)
  --timestamps real|sim  times written into messages: wall clock at sending (default) or simulated time
  --concurrency N      studies sent in parallel (default 8)
`;

export interface SimulatorArgs {
	speed: number;
	seed: string;
	backfillMs: number;
	backfillOnly: boolean;
	hl7: { host: string; port: number };
	dicom: { host: string; port: number; ae: string };
	sites: string[];
	rateMultiplier: number;
	selfAssign: boolean;
	timestamps: 'real' | 'sim';
	concurrency: number;
	help: boolean;
}

/** Parse `radflow simulate` arguments. @throws SimulatorConfigError with a one-line fix. */
export function parseSimulatorArgs(args: readonly string[], defaults: { hl7Port: number; dicomPort: number; dicomAe: string }): SimulatorArgs {
	const out: SimulatorArgs = {
		speed: 60,
		seed: '1',
		backfillMs: 0,
		backfillOnly: false,
		hl7: { host: '127.0.0.1', port: defaults.hl7Port },
		dicom: { host: '127.0.0.1', port: defaults.dicomPort, ae: defaults.dicomAe },
		sites: [],
		rateMultiplier: 1,
		selfAssign: false,
		timestamps: 'real',
		concurrency: 8,
		help: false
	};
	const num = (name: string, v: string | undefined, min: number): number => {
		const n = Number(v);
		if (v === undefined || !Number.isFinite(n) || n < min) throw new SimulatorConfigError(`${name} needs a number ≥ ${min} (got ${v ?? 'nothing'})`);
		return n;
	};
	const hostPort = (name: string, v: string | undefined): [string, number, string | undefined] => {
		const m = /^([^:]+):(\d{1,5})(?::(.{1,16}))?$/.exec(v ?? '');
		if (!m) throw new SimulatorConfigError(`${name} needs host:port${name === '--dicom' ? '[:AE]' : ''} (got ${v ?? 'nothing'})`);
		return [m[1], Number(m[2]), m[3]];
	};
	for (let i = 0; i < args.length; i++) {
		const [flag, inline] = args[i].includes('=') ? [args[i].slice(0, args[i].indexOf('=')), args[i].slice(args[i].indexOf('=') + 1)] : [args[i], undefined];
		const value = () => inline ?? args[++i];
		switch (flag) {
			case '--speed':
				out.speed = num('--speed', value(), 0.001);
				break;
			case '--seed':
				out.seed = String(value() ?? '');
				if (!out.seed) throw new SimulatorConfigError('--seed needs a value');
				break;
			case '--backfill': {
				const v = value();
				const m = /^(\d+(?:\.\d+)?)([dh])$/.exec(v ?? '');
				if (!m) throw new SimulatorConfigError(`--backfill needs a duration like 90d or 12h (got ${v ?? 'nothing'})`);
				out.backfillMs = Number(m[1]) * (m[2] === 'd' ? DAY : HOUR);
				break;
			}
			case '--backfill-only':
				out.backfillOnly = true;
				break;
			case '--hl7': {
				const [host, port] = hostPort('--hl7', value());
				out.hl7 = { host, port };
				break;
			}
			case '--dicom': {
				const [host, port, ae] = hostPort('--dicom', value());
				out.dicom = { host, port, ae: ae ?? out.dicom.ae };
				break;
			}
			case '--sites':
				out.sites = (value() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
				break;
			case '--rate-multiplier':
				out.rateMultiplier = num('--rate-multiplier', value(), Number.MIN_VALUE);
				break;
			case '--self-assign':
				out.selfAssign = inline === undefined ? true : inline !== 'false' && inline !== '0';
				break;
			case '--no-self-assign':
				out.selfAssign = false;
				break;
			case '--timestamps': {
				const v = value();
				if (v !== 'real' && v !== 'sim') throw new SimulatorConfigError(`--timestamps is real or sim (got ${v})`);
				out.timestamps = v;
				break;
			}
			case '--concurrency':
				out.concurrency = Math.floor(num('--concurrency', value(), 1));
				break;
			case '--help':
			case '-h':
				out.help = true;
				break;
			default:
				throw new SimulatorConfigError(`unknown option ${args[i]}: see \`radflow simulate --help\``);
		}
	}
	return out;
}

export interface DicomSendStats {
	studies: number;
	associations: number;
	instancesSent: number;
	instancesStored: number;
	instancesFailed: number;
	associationsFailed: number;
}

export interface SimulatorStats {
	simTime: string;
	studiesPlanned: number;
	hl7: MllpStats;
	dicom: DicomSendStats;
	readers: ReaderStats;
	backfill: { studies: number; events: number; skipped: number; seconds: number } | null;
	/** Simulated minutes the sender is behind schedule. */
	lagMinutes: number;
}

export interface SimulatorHandle {
	name: 'simulate';
	stop(): Promise<void>;
	stats(): SimulatorStats;
}

type Action = { at: number; kind: 'order' | 'images'; plan: StudyPlan };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Start the simulator role: seed the roster, backfill if asked, then send live
 * traffic until `stop()`. Resolves once live traffic has started (after the backfill).
 */
export async function startSimulator(ctx: AppContext, args: string[]): Promise<SimulatorHandle> {
	const log = ctx.log.child('simulate');
	const opts = parseSimulatorArgs(args, { hl7Port: ctx.config.hl7.port, dicomPort: ctx.config.dicom.port, dicomAe: ctx.config.dicom.aeTitle });
	if (opts.help) {
		process.stderr.write(USAGE);
		return { name: 'simulate', stop: async () => {}, stats: () => emptyStats() };
	}
	const net: SimNetwork = buildNetwork({ sites: opts.sites, rateMultiplier: opts.rateMultiplier });
	const sql = ctx.db.sql;
	const startMs = Date.now();
	const rosterFrom = opts.backfillMs > 0 ? startMs - opts.backfillMs : startMs - DAY;
	const { ids, shiftsAdded } = await seedRoster(sql, net, rosterFrom, startMs + 7 * DAY);
	log.info('roster seeded', { sites: net.sites.length, radiologists: ids.size, shiftsAdded });

	let backfillStats: SimulatorStats['backfill'] = null;
	const runBackfill = async () => {
		const r = await backfill(sql, net, {
			seed: opts.seed,
			fromMs: startMs - opts.backfillMs,
			toMs: startMs,
			ids,
			onProgress: (p) => {
				const rate = p.elapsedMs > 0 ? Math.round((p.studies * 1000) / p.elapsedMs) : 0;
				process.stderr.write(`backfill ${Math.round(p.hoursDone / 24)}/${Math.round(p.hoursTotal / 24)} days: ${p.studies} studies, ${p.events} events, ${p.skipped} already present, ${rate} studies/s\n`);
			}
		});
		backfillStats = { studies: r.studies, events: r.events, skipped: r.skipped, seconds: Math.round(r.elapsedMs / 100) / 10 };
		log.info('backfill done', backfillStats);
	};
	// History is written beside live traffic (it only covers the past), so the
	// dashboard shows live data at once; --backfill-only waits for it instead.
	let stopped = false;
	let backfillDone: Promise<void> = Promise.resolve();
	if (opts.backfillMs > 0) {
		if (opts.backfillOnly) await runBackfill();
		else
			backfillDone = runBackfill().catch((err) =>
				stopped
					? log.info('backfill interrupted by stop; the next start continues where it left off (it skips what exists)')
					: log.error('backfill failed', { err })
			);
	}

	const mllp = new MllpClient({ host: opts.hl7.host, port: opts.hl7.port, connections: Math.max(2, Math.ceil(opts.concurrency / 2)) });
	const dicomStats: DicomSendStats = { studies: 0, associations: 0, instancesSent: 0, instancesStored: 0, instancesFailed: 0, associationsFailed: 0 };
	const clock = new SimClock(startMs, opts.speed);
	const stamp = (simMs: number) => (opts.timestamps === 'sim' ? simMs : Date.now());
	const truth = new Map<string, StudyPlan>();
	const readers = new SimulatedReaders({ sql, net, ids, clock, send: (m) => mllp.send(m), truth, selfAssign: opts.selfAssign, stamp, log });
	let studiesPlanned = 0;
	let lagMinutes = 0;

	const handle: SimulatorHandle = {
		name: 'simulate',
		stop: async () => {},
		stats: () => ({
			simTime: new Date(clock.now()).toISOString(),
			studiesPlanned,
			hl7: { ...mllp.stats },
			dicom: { ...dicomStats },
			readers: { ...readers.stats },
			backfill: backfillStats,
			lagMinutes
		})
	};
	if (opts.backfillOnly) {
		await backfillDone;
		await mllp.close();
		return handle;
	}

	// Live traffic: plan each simulated hour as the clock reaches it, send what is due.
	const queue: Action[] = [];
	const inflight = new Set<Promise<void>>();
	const orderSent = new Map<string, Promise<void>>();
	let nextHour = Math.floor(startMs / HOUR) * HOUR;

	const withTimes = (plan: StudyPlan): StudyPlan => {
		if (opts.timestamps === 'sim') return plan;
		// Real-time stamps: shift the plan so its times are wall-clock at sending.
		const shift = Date.now() - clock.now();
		return { ...plan, registeredAt: plan.registeredAt + shift, orderedAt: plan.orderedAt + shift, firstImageAt: plan.firstImageAt + shift, completeAt: plan.completeAt + shift };
	};

	const sendOrder = async (plan: StudyPlan) => {
		const p = withTimes(plan);
		await mllp.send(buildAdt(p));
		await mllp.send(buildOrm(p));
	};

	const sendImages = async (plan: StudyPlan) => {
		await orderSent.get(plan.accession)?.catch(() => {});
		orderSent.delete(plan.accession);
		const instances = buildStudyInstances(withTimes(plan));
		dicomStats.studies++;
		for (let attempt = 1; attempt <= 3; attempt++) {
			try {
				dicomStats.associations++;
				const results = await storeInstances({ host: opts.dicom.host, port: opts.dicom.port, calledAe: opts.dicom.ae }, plan.callingAe, instances);
				dicomStats.instancesSent += results.length;
				const ok = results.filter((r) => isStoreSuccess(r.status)).length;
				dicomStats.instancesStored += ok;
				dicomStats.instancesFailed += results.length - ok;
				return;
			} catch (err) {
				dicomStats.associationsFailed++;
				if (attempt === 3 || stopped) {
					dicomStats.instancesFailed += instances.length;
					log.warn('dicom send failed', { accession: plan.accession, ae: plan.callingAe, err });
					return;
				}
				await sleep(500 * attempt);
			}
		}
	};

	const dispatch = (a: Action) => {
		let p: Promise<void>;
		if (a.kind === 'order') {
			p = sendOrder(a.plan).catch((err) => log.warn('order send failed', { accession: a.plan.accession, err }));
			orderSent.set(a.plan.accession, p);
		} else {
			p = sendImages(a.plan);
		}
		const tracked = p.finally(() => inflight.delete(tracked));
		inflight.add(tracked);
	};

	const tick = () => {
		if (stopped) return;
		const now = clock.now();
		// Plan an hour a little before it starts: registrations precede orders by up to 20 minutes.
		while (nextHour <= now + 30 * MIN) {
			for (const plan of studiesForHour(net, opts.seed, nextHour)) {
				if (plan.orderedAt < startMs) continue; // already written by the backfill (or before this run)
				studiesPlanned++;
				truth.set(plan.accession, plan);
				queue.push({ at: plan.registeredAt, kind: 'order', plan }, { at: plan.firstImageAt, kind: 'images', plan });
			}
			queue.sort((a, b) => a.at - b.at);
			nextHour += HOUR;
		}
		while (queue.length > 0 && queue[0].at <= now && inflight.size < opts.concurrency) dispatch(queue.shift()!);
		lagMinutes = queue.length > 0 && queue[0].at < now ? Math.round((now - queue[0].at) / MIN) : 0;
		if (truth.size > 50_000) {
			// Keep memory bounded on long runs: forget the oldest ground truth (maps keep insertion order).
			for (const k of [...truth.keys()].slice(0, 10_000)) truth.delete(k);
		}
	};
	const timer = setInterval(tick, 100);
	const statsTimer = setInterval(() => log.info('simulator stats', handle.stats() as unknown as Record<string, unknown>), 30_000);
	statsTimer.unref();
	readers.start();
	tick();
	log.info('live traffic started', { speed: opts.speed, seed: opts.seed, hl7: opts.hl7, dicom: opts.dicom, selfAssign: opts.selfAssign, timestamps: opts.timestamps });

	let stopping: Promise<void> | null = null;
	handle.stop = () =>
		(stopping ??= (async () => {
			stopped = true;
			clearInterval(timer);
			clearInterval(statsTimer);
			await readers.stop();
			await Promise.allSettled([...inflight]);
			await mllp.close();
			log.info('simulator stopped', handle.stats() as unknown as Record<string, unknown>);
		})());
	return handle;
}

function emptyStats(): SimulatorStats {
	return {
		simTime: new Date(0).toISOString(),
		studiesPlanned: 0,
		hl7: { messages: 0, sent: 0, acked: 0, nacked: 0, timeouts: 0, retries: 0, failed: 0, mismatched: 0 },
		dicom: { studies: 0, associations: 0, instancesSent: 0, instancesStored: 0, instancesFailed: 0, associationsFailed: 0 },
		readers: { assignedReads: 0, selfAssignedReads: 0, reportsSent: 0, reportsFailed: 0, inProgress: 0 },
		backfill: null,
		lagMinutes: 0
	};
}
