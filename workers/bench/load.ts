/**
 * `radflow bench load`: the whole product under hospital traffic. Spawns
 * `radflow start` as an operator would, drives studies through the real
 * protocols (HL7 ADT + ORM over MLLP, the images over DICOM C-STORE, the ORU
 * once the study is visible), and measures what a department would notice:
 *
 * - studies_per_h: studies whose order and every image were acknowledged,
 *   per hour of driving (the offered rate is `--studies-per-hour`, Poisson);
 * - visible_p95_ms: from the C-STORE response for a study's last image to the
 *   study's `complete` event reaching a logged-in socket.io client, which is
 *   what moves it onto the overview (the stability timeout is part of it);
 * - unprocessed: messages / instances sent but not acknowledged, plus
 *   acknowledged ones missing from `hl7_messages` / `instances` at the end;
 * - cpu_pct and peak_rss_mb of the radflow process (/proc, every second).
 *
 * Baseline in the same run: the same traffic, closed loop as fast as the
 * protocols go, to a bare echo-ACK MLLP server and dcmtk's storescp.
 *
 * Options: --minutes N (5), --studies-per-hour N (2000), --concurrency N studies
 * in flight (16), --seed S (1), --baseline-seconds N (minutes×6, 10…60),
 * --stability SPEC (DICOM_STABILITY_SECONDS for radflow, default short).
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part07.html#sect_9.1.1 PS3.7 9.1.1 (C-STORE)
 * @see HL7 v2.5 Appendix C (MLLP), Ch. 2.9 (acknowledgments)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { freePort } from '../../src/lib/server/db/embedded';
import { createLogger } from '../../src/lib/server/log';
import { createRng, seedFrom } from '../../src/lib/domain/simulation/random';
import { StudyEventKind } from '../../src/lib/domain/study/lifecycle';
import type { LiveEvent } from '../../src/lib/server/realtime/protocol';
import { buildStudyInstances, type SimInstance } from '../simulator/dicom';
import { buildAdt, buildOrm, buildOru, controlId } from '../simulator/hl7';
import { frame, MllpClient, MllpReader } from '../simulator/mllp';
import { buildNetwork, type SimNetwork } from '../simulator/network';
import { HOUR, readerFor, studiesForHour, type StudyPlan } from '../simulator/plan';
import { isStoreSuccess, storeInstances } from '../simulator/scu';
import { openBenchDatabase } from './db';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ADMIN_PASSWORD = 'bench-load-admin-password';
/** Short completeness timeouts so visibility measures the pipeline, not a quiet period chosen for real modalities. */
const DEFAULT_STABILITY = 'CT=5,MR=5,US=5,XA=5,RF=5,NM=5,PT=5,MG=3,CR=3,DX=3,default=5';
const AE = 'RADFLOW';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number | null {
	if (values.length === 0) return null;
	const s = [...values].sort((a, b) => a - b);
	return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const round = (n: number | null, d = 0) => (n === null ? null : +n.toFixed(d));

/** An endless, deterministic stream of simulated studies (hour after hour of the network's own mix). */
function* planStream(net: SimNetwork, seed: string): Generator<StudyPlan> {
	let hour = Date.parse('2026-01-05T00:00:00Z');
	for (;;) {
		yield* studiesForHour(net, seed, hour);
		hour += HOUR;
	}
}

/** Shift a plan so its images were acquired just now (order and registration before), as a live modality would. */
function retimed(plan: StudyPlan, completeAt: number): StudyPlan {
	const d = completeAt - plan.completeAt;
	return { ...plan, registeredAt: plan.registeredAt + d, orderedAt: plan.orderedAt + d, firstImageAt: plan.firstImageAt + d, completeAt: plan.completeAt + d, reportedAt: plan.reportedAt + d };
}

/** One study's traffic: ADT, ORM, instances (ORU built when it is due). */
interface StudyTraffic {
	plan: StudyPlan;
	adt: string;
	orm: string;
	instances: SimInstance[];
}

function trafficFor(plan: StudyPlan): StudyTraffic {
	const p = retimed(plan, Date.now());
	return { plan: p, adt: buildAdt(p), orm: buildOrm(p), instances: buildStudyInstances(p) };
}

/** Counting semaphore for studies in flight. */
class Gate {
	private waiters: (() => void)[] = [];
	private used = 0;
	constructor(private readonly size: number) {}
	get inUse() {
		return this.used;
	}
	async acquire(): Promise<void> {
		if (this.used < this.size) {
			this.used++;
			return;
		}
		await new Promise<void>((r) => this.waiters.push(r));
	}
	release(): void {
		const next = this.waiters.shift();
		if (next) next();
		else this.used--;
	}
}

// ---------------------------------------------------------------------------
// Process sampling (/proc)

interface ProcSample {
	t: number;
	ticks: number;
	rssKb: number;
	hostBusy: number;
	hostTotal: number;
}

function clockTicks(): number {
	const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
	const n = Number(r.stdout?.trim());
	return Number.isFinite(n) && n > 0 ? n : 100;
}

function readSample(pid: number): ProcSample | null {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		// Fields after "(comm)": state is field 3, utime 14 and stime 15 (1-based).
		const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		const ticks = Number(f[11]) + Number(f[12]);
		const rss = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
		const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
		const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
		const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
		return { t: performance.now(), ticks, rssKb: rss ? Number(rss[1]) : 0, hostBusy: total - idle, hostTotal: total };
	} catch {
		return null;
	}
}

class ProcSampler {
	readonly samples: ProcSample[] = [];
	private timer: NodeJS.Timeout | null = null;
	constructor(private readonly pid: number) {}
	start(): void {
		const take = () => {
			const s = readSample(this.pid);
			if (s) this.samples.push(s);
		};
		take();
		this.timer = setInterval(take, 1000);
	}
	stop(): void {
		if (this.timer) clearInterval(this.timer);
		const s = readSample(this.pid);
		if (s) this.samples.push(s);
	}
	/** Mean CPU% of the process (100 = one core) and of the host (100 = all cores) between two times. */
	cpuBetween(from: number, to: number, hz: number): { cpuPct: number | null; hostPct: number | null; peakPct: number | null } {
		const win = this.samples.filter((s) => s.t >= from - 1 && s.t <= to + 1100);
		if (win.length < 2) return { cpuPct: null, hostPct: null, peakPct: null };
		const a = win[0];
		const b = win[win.length - 1];
		const secs = (b.t - a.t) / 1000;
		let peak = 0;
		for (let i = 1; i < win.length; i++) {
			const dt = (win[i].t - win[i - 1].t) / 1000;
			if (dt > 0) peak = Math.max(peak, ((win[i].ticks - win[i - 1].ticks) / hz / dt) * 100);
		}
		return {
			cpuPct: secs > 0 ? ((b.ticks - a.ticks) / hz / secs) * 100 : null,
			hostPct: b.hostTotal > a.hostTotal ? ((b.hostBusy - a.hostBusy) / (b.hostTotal - a.hostTotal)) * 100 : null,
			peakPct: peak
		};
	}
	peakRssMb(): number {
		return Math.max(0, ...this.samples.map((s) => s.rssKb)) / 1024;
	}
	lastRssMb(): number {
		return (this.samples[this.samples.length - 1]?.rssKb ?? 0) / 1024;
	}
}

// ---------------------------------------------------------------------------
// Baseline peers

/** Bare MLLP server: answers every frame `MSA|AA|<MSH-10>`, stores nothing. */
function startEchoAckServer(): Promise<{ port: number; close(): Promise<void> }> {
	const sockets = new Set<net.Socket>();
	const server = net.createServer({ noDelay: true }, (socket) => {
		socket.setNoDelay(true);
		sockets.add(socket);
		const reader = new MllpReader();
		socket.on('data', (chunk: Buffer) => {
			for (const msg of reader.push(chunk)) {
				const msh = msg.slice(0, msg.indexOf('\r') < 0 ? msg.length : msg.indexOf('\r')).split('|');
				socket.write(frame(`MSH|^~\\&|ECHO|ECHO|${msh[2] ?? ''}|${msh[3] ?? ''}|||ACK|A${msh[9] ?? ''}|P|2.5\rMSA|AA|${msh[9] ?? ''}`));
			}
		});
		socket.on('error', () => {});
		socket.on('close', () => sockets.delete(socket));
	});
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () =>
			resolve({
				port: (server.address() as net.AddressInfo).port,
				close: () =>
					new Promise<void>((r) => {
						for (const s of sockets) s.destroy();
						server.close(() => r());
					})
			})
		);
	});
}

function waitForPort(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	return new Promise((resolve, reject) => {
		const attempt = () => {
			if (!alive()) return reject(new Error(`process listening on ${port} exited`));
			const s = net.connect({ host: '127.0.0.1', port });
			s.once('connect', () => {
				s.destroy();
				resolve();
			});
			s.once('error', () => {
				s.destroy();
				if (Date.now() > deadline) reject(new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`));
				else setTimeout(attempt, 200);
			});
		};
		attempt();
	});
}

async function stopChild(proc: ChildProcess, graceMs = 15_000): Promise<void> {
	if (proc.exitCode !== null || proc.signalCode !== null) return;
	const exited = new Promise((r) => proc.once('exit', r));
	proc.kill('SIGTERM');
	await Promise.race([exited, sleep(graceMs)]);
	if (proc.exitCode === null && proc.signalCode === null) {
		proc.kill('SIGKILL');
		await Promise.race([exited, sleep(2000)]);
	}
}

interface BaselineResult {
	studies_per_h: number | null;
	hl7_msgs_per_s: number | null;
	instances_per_s: number | null;
	seconds: number;
	studies: number;
	failures: number;
	skipped?: string;
}

/** The same traffic, closed loop at the same concurrency, to an echo-ACK MLLP server and storescp. */
async function runBaseline(traffic: StudyTraffic[], seconds: number, concurrency: number): Promise<BaselineResult> {
	const which = spawnSync('storescp', ['--version'], { encoding: 'utf8' });
	if (which.error) {
		return { studies_per_h: null, hl7_msgs_per_s: null, instances_per_s: null, seconds: 0, studies: 0, failures: 0, skipped: 'dcmtk storescp not installed' };
	}
	const echo = await startEchoAckServer();
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-bench-storescp-'));
	const scpPort = await freePort();
	const scp = spawn('storescp', ['--fork', '-aet', AE, '-od', dir, String(scpPort)], { env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
	let scpErr = '';
	scp.stderr!.on('data', (d) => (scpErr = (scpErr + d).slice(-2000)));
	const mllp = new MllpClient({ host: '127.0.0.1', port: echo.port, connections: Math.max(2, Math.ceil(concurrency / 2)) });
	try {
		await waitForPort(scpPort, 10_000, () => scp.exitCode === null);
		let next = 0;
		let studies = 0;
		let instances = 0;
		let failures = 0;
		const t0 = performance.now();
		const deadline = t0 + seconds * 1000;
		const worker = async () => {
			while (performance.now() < deadline) {
				const s = traffic[next++ % traffic.length];
				try {
					await mllp.send(s.adt);
					await mllp.send(s.orm);
					const res = await storeInstances({ host: '127.0.0.1', port: scpPort, calledAe: AE }, s.plan.callingAe, s.instances);
					const ok = res.filter((r) => isStoreSuccess(r.status)).length;
					instances += ok;
					failures += res.length - ok;
					await mllp.send(buildOru(s.plan, readerFor(net0(), s.plan, s.plan.completeAt).radiologist, s.plan.completeAt));
					studies++;
				} catch {
					failures++;
				}
			}
		};
		await Promise.all(Array.from({ length: concurrency }, worker));
		const secs = (performance.now() - t0) / 1000;
		if (studies === 0) throw new Error(`baseline sent nothing (storescp: ${scpErr.slice(-300)})`);
		return {
			studies_per_h: Math.round((studies / secs) * 3600),
			hl7_msgs_per_s: Math.round(mllp.stats.acked / secs),
			instances_per_s: Math.round(instances / secs),
			seconds: +secs.toFixed(1),
			studies,
			failures
		};
	} finally {
		await mllp.close();
		await echo.close();
		await stopChild(scp, 3000);
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

let NET: SimNetwork | null = null;
const net0 = () => (NET ??= buildNetwork());

// ---------------------------------------------------------------------------
// Radflow under load

interface StudyRecord {
	plan: StudyPlan;
	/** performance.now() of the last C-STORE response (association done). */
	imagesAt: number | null;
	visibleAt: number | null;
	hl7Acked: number;
	instancesSent: number;
	instancesStored: number;
	/** SOP Instance UIDs answered with a success status. */
	ackedUids: string[];
	oru: 'none' | 'sent' | 'acked' | 'failed';
}

async function login(baseUrl: string): Promise<string> {
	const res = await fetch(`${baseUrl}/login`, {
		method: 'POST',
		redirect: 'manual',
		headers: { origin: baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
		body: new URLSearchParams({ username: 'admin', password: ADMIN_PASSWORD }).toString()
	});
	const cookie = res.headers.getSetCookie().find((c) => c.startsWith('radflow_session='));
	if (!cookie) throw new Error(`login as admin failed: HTTP ${res.status}`);
	return cookie.split(';')[0];
}

async function waitForHttp(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (!alive()) throw new Error('radflow exited while starting');
		try {
			const r = await fetch(url, { redirect: 'manual' });
			if (r.status === 200) return;
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) throw new Error(`${url} not answering 200 after ${timeoutMs} ms`);
		await sleep(500);
	}
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
	const { values } = parseArgs({
		args,
		options: {
			minutes: { type: 'string', default: '5' },
			'studies-per-hour': { type: 'string', default: '2000' },
			concurrency: { type: 'string', default: '16' },
			seed: { type: 'string', default: '1' },
			'baseline-seconds': { type: 'string' },
			stability: { type: 'string', default: DEFAULT_STABILITY }
		}
	});
	const minutes = Number(values.minutes);
	const rate = Number(values['studies-per-hour']);
	const concurrency = Math.max(1, Math.floor(Number(values.concurrency)));
	const seed = String(values.seed);
	const baselineSeconds = values['baseline-seconds'] ? Number(values['baseline-seconds']) : Math.min(60, Math.max(10, minutes * 6));
	const stability = String(values.stability);
	if (!(minutes > 0) || !(rate > 0)) throw new Error('--minutes and --studies-per-hour must be positive numbers');
	const maxStabilityS = Math.max(...stability.split(/[,\s]+/).map((p) => Number(p.split('=').pop())).filter(Number.isFinite), 0) || 30;
	const hz = clockTicks();
	const net = net0();
	const plans = planStream(net, seed);

	// 1. Baseline first, on an otherwise idle machine: protocol capacity with nothing behind it.
	const baselineTraffic = Array.from({ length: 200 }, () => trafficFor(plans.next().value as StudyPlan));
	process.stderr.write(`load: baseline ${baselineSeconds}s, closed loop ×${concurrency}: HL7 → echo-ACK server, DICOM → storescp (TCP_NODELAY=1)…\n`);
	const baseline = await runBaseline(baselineTraffic, baselineSeconds, concurrency);
	process.stderr.write(`load: baseline ${JSON.stringify(baseline)}\n`);

	// 2. Radflow on a fresh bench database.
	const log = createLogger('bench', 'warn');
	const bench = await openBenchDatabase(log, { max: 2 });
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-bench-load-'));
	const [port, dicomPort, hl7Port] = [await freePort(), await freePort(), await freePort()];
	const baseUrl = `http://127.0.0.1:${port}`;
	const haveBuild = fs.existsSync(path.join(ROOT, 'build', 'handler.js'));
	const env: Record<string, string> = {
		...(process.env as Record<string, string>),
		DATABASE_URL: bench.url,
		RADFLOW_DATA_DIR: dataDir,
		PORT: String(port),
		HOST: '127.0.0.1',
		DICOM_PORT: String(dicomPort),
		HL7_PORT: String(hl7Port),
		DICOM_AE_TITLE: AE,
		DICOM_ALLOWED_AES: '*',
		DICOM_STABILITY_SECONDS: stability,
		LOG_LEVEL: 'warn',
		RADFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD,
		// The bench measures the server, not the dashboard's bundle: reuse a build when there is one.
		...(haveBuild ? { RADFLOW_SKIP_BUILD: '1' } : {})
	};
	let out = '';
	let warnings = 0;
	const proc = spawn(process.execPath, [path.join(ROOT, 'bin/radflow.js'), 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
	const onOut = (d: Buffer) => {
		const s = d.toString();
		warnings += (s.match(/"level":"(warn|error)"/g) ?? []).length;
		out = (out + s).slice(-20_000);
	};
	proc.stdout!.on('data', onOut);
	proc.stderr!.on('data', onOut);
	const alive = () => proc.exitCode === null && proc.signalCode === null;
	const sampler = new ProcSampler(proc.pid!);
	let socket: Socket | null = null;
	const mllp = new MllpClient({ host: '127.0.0.1', port: hl7Port, connections: Math.max(2, Math.ceil(concurrency / 2)) });
	const oruInflight = new Set<Promise<void>>();
	let progress: NodeJS.Timeout | null = null;
	try {
		process.stderr.write(`load: starting radflow (web, dicom, hl7, triage, route; DICOM_STABILITY_SECONDS=${stability})…\n`);
		const t0Start = performance.now();
		try {
			await waitForHttp(`${baseUrl}/login`, 400_000, alive);
			await waitForPort(hl7Port, 30_000, alive);
			await waitForPort(dicomPort, 30_000, alive);
		} catch (err) {
			throw new Error(`${(err as Error).message}\n--- radflow output ---\n${out.slice(-3000)}`);
		}
		const startupS = (performance.now() - t0Start) / 1000;
		sampler.start();

		// The live feed as the overview gets it: a logged-in socket.io client.
		const cookie = await login(baseUrl);
		const records = new Map<string, StudyRecord>();
		const completeAt = new Map<number, number>();
		const unresolved: number[] = [];
		socket = io(baseUrl, { transports: ['websocket'], extraHeaders: { cookie }, reconnection: true });
		socket.on('events', (events: LiveEvent[]) => {
			const now = performance.now();
			for (const e of events) {
				if (e.kind === StudyEventKind.complete && e.studyId !== null && !completeAt.has(e.studyId)) {
					completeAt.set(e.studyId, now);
					unresolved.push(e.studyId);
				}
			}
		});
		await new Promise<void>((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error('socket.io did not connect in 15 s')), 15_000);
			socket!.once('connect', () => {
				clearTimeout(timer);
				resolve();
			});
			socket!.once('connect_error', (err) => {
				clearTimeout(timer);
				reject(new Error(`socket.io refused: ${err.message}`));
			});
		});

		// Which study id is which accession: read from the database off the measured path.
		const sendOru = (rec: StudyRecord) => {
			rec.oru = 'sent';
			const now = Date.now();
			const p = mllp
				.send(buildOru(rec.plan, readerFor(net, rec.plan, now).radiologist, now))
				.then(() => void (rec.oru = 'acked'))
				.catch(() => void (rec.oru = 'failed'));
			const tracked = p.finally(() => oruInflight.delete(tracked));
			oruInflight.add(tracked);
		};
		const resolveVisible = async () => {
			if (unresolved.length === 0) return;
			const ids = unresolved.splice(0);
			const rows = await bench.db.sql<{ id: number; accession: string }[]>`SELECT id, accession_number AS accession FROM studies WHERE id = ANY(${ids}::bigint[])`;
			for (const r of rows) {
				const rec = records.get(r.accession);
				if (!rec || rec.visibleAt !== null) continue;
				rec.visibleAt = completeAt.get(Number(r.id)) ?? performance.now();
				// The report comes once the study is on the worklist, like a reader's would.
				if (rec.oru === 'none') sendOru(rec);
			}
		};
		const resolver = setInterval(() => void resolveVisible().catch(() => {}), 1000);

		// 3. Drive: Poisson arrivals at the offered rate, at most `concurrency` studies sending at once.
		const gate = new Gate(concurrency);
		const sending = new Set<Promise<void>>();
		const rng = createRng(seedFrom(`load|${seed}`));
		const meanGapMs = 3_600_000 / rate;
		let offered = 0;
		let late = 0;
		const sendStudy = async (rec: StudyRecord, t: StudyTraffic) => {
			try {
				await mllp.send(t.adt);
				rec.hl7Acked++;
				await mllp.send(t.orm);
				rec.hl7Acked++;
			} catch {
				// counted by the client's stats; images still go, as a modality would send them
			}
			for (let attempt = 1; attempt <= 3; attempt++) {
				try {
					const res = await storeInstances({ host: '127.0.0.1', port: dicomPort, calledAe: AE }, t.plan.callingAe, t.instances);
					rec.instancesSent = res.length;
					rec.ackedUids = res.filter((r) => isStoreSuccess(r.status)).map((r) => r.sopInstanceUid);
					rec.instancesStored = rec.ackedUids.length;
					rec.imagesAt = performance.now();
					return;
				} catch {
					if (attempt < 3) await sleep(500 * attempt);
				}
			}
		};
		const tDrive = performance.now();
		const driveEnd = tDrive + minutes * 60_000;
		let lastProgress = tDrive;
		const report = () => {
			const now = performance.now();
			const recs = [...records.values()];
			const vis = recs.filter((r) => r.visibleAt !== null && r.imagesAt !== null).map((r) => r.visibleAt! - r.imagesAt!);
			const cpu = sampler.cpuBetween(lastProgress, now, hz);
			lastProgress = now;
			process.stderr.write(
				`load: ${Math.round((now - tDrive) / 1000)}s offered ${offered} studies, images acked ${recs.filter((r) => r.imagesAt !== null).length}, visible ${vis.length}, ` +
					`p95 visible ${round(percentile(vis, 95))} ms, in flight ${gate.inUse}, hl7 acked ${mllp.stats.acked}/${mllp.stats.messages}, ` +
					`radflow cpu ${round(cpu.cpuPct)}% rss ${round(sampler.lastRssMb())} MB, host cpu ${round(cpu.hostPct)}%\n`
			);
		};
		progress = setInterval(report, 10_000);
		let due = tDrive;
		for (;;) {
			due += -Math.log(1 - rng.next()) * meanGapMs;
			if (due >= driveEnd) break;
			const wait = due - performance.now();
			if (wait > 0) await sleep(wait);
			else late++;
			await gate.acquire();
			if (performance.now() >= driveEnd) {
				gate.release();
				break;
			}
			const t = trafficFor(plans.next().value as StudyPlan);
			const rec: StudyRecord = { plan: t.plan, imagesAt: null, visibleAt: null, hl7Acked: 0, instancesSent: 0, instancesStored: 0, ackedUids: [], oru: 'none' };
			records.set(t.plan.accession, rec);
			offered++;
			const p = sendStudy(rec, t).finally(() => {
				gate.release();
				sending.delete(p);
			});
			sending.add(p);
		}
		const remaining = driveEnd - performance.now();
		if (remaining > 0) await sleep(remaining);
		const driveSeconds = (performance.now() - tDrive) / 1000;
		const ingestedInWindow = [...records.values()].filter((r) => r.imagesAt !== null && r.imagesAt <= tDrive + driveSeconds * 1000 && r.instancesStored === r.instancesSent && r.hl7Acked === 2).length;
		const cpuDrive = sampler.cpuBetween(tDrive, performance.now(), hz);

		// 4. Drain: finish sends, wait for the last studies to become visible, then their reports.
		process.stderr.write(`load: drive done (${offered} studies offered); draining…\n`);
		await Promise.allSettled([...sending]);
		const drainDeadline = performance.now() + (maxStabilityS + 60) * 1000;
		while (performance.now() < drainDeadline) {
			await resolveVisible().catch(() => {});
			if ([...records.values()].every((r) => r.imagesAt === null || r.visibleAt !== null)) break;
			await sleep(500);
		}
		clearInterval(resolver);
		await resolveVisible().catch(() => {});
		await Promise.allSettled([...oruInflight]);
		clearInterval(progress);
		progress = null;
		report();
		sampler.stop();

		// 5. Acknowledged means stored: compare what was acked with what the database holds.
		const recs = [...records.values()];
		const ackedUids = recs.flatMap((r) => r.ackedUids);
		const ackedCtl = recs.flatMap((r) => [
			...(r.hl7Acked >= 1 ? [controlId(r.plan, 'ADT')] : []),
			...(r.hl7Acked >= 2 ? [controlId(r.plan, 'ORM')] : []),
			...(r.oru === 'acked' ? [controlId(r.plan, 'ORU')] : [])
		]);
		const [{ n: foundInstances }] = await bench.db.sql`SELECT count(*)::int AS n FROM instances WHERE sop_instance_uid = ANY(${ackedUids}::text[])`;
		const [{ n: foundHl7 }] = await bench.db.sql`SELECT count(*)::int AS n FROM hl7_messages WHERE control_id = ANY(${ackedCtl}::text[]) AND ack_code IN ('AA', 'CA')`;
		const [{ n: totalInstances }] = await bench.db.sql`SELECT count(*)::int AS n FROM instances`;
		const [{ n: totalHl7 }] = await bench.db.sql`SELECT count(*)::int AS n FROM hl7_messages`;
		const [{ n: failures }] = await bench.db.sql`SELECT count(*)::int AS n FROM ingest_failures`;
		const statusRows = await bench.db.sql<{ status: string; n: number }[]>`SELECT status, count(*)::int AS n FROM studies GROUP BY status ORDER BY status`;

		const sentInstances = recs.reduce((s, r) => s + (r.instancesSent || 0), 0);
		const storedInstances = recs.reduce((s, r) => s + r.instancesStored, 0);
		const neverSent = recs.filter((r) => r.imagesAt === null).reduce((s, r) => s + r.plan.seriesPlan.reduce((a, sp) => a + sp.instances, 0), 0);
		const hl7NotAcked = mllp.stats.messages - mllp.stats.acked;
		const dicomNotAcked = sentInstances - storedInstances + neverSent;
		const missingInstances = ackedUids.length - foundInstances;
		const missingHl7 = ackedCtl.length - foundHl7;
		const vis = recs.filter((r) => r.visibleAt !== null && r.imagesAt !== null).map((r) => r.visibleAt! - r.imagesAt!);

		return {
			studies_per_h: Math.round((ingestedInWindow / driveSeconds) * 3600),
			offered_studies_per_h: rate,
			// Poisson draws: over a short run the realized arrival rate differs from the offered mean.
			arrived_studies_per_h: Math.round((offered / driveSeconds) * 3600),
			visible_p50_ms: round(percentile(vis, 50)),
			visible_p95_ms: round(percentile(vis, 95)),
			visible_max_ms: round(percentile(vis, 100)),
			unprocessed: hl7NotAcked + dicomNotAcked + missingInstances + missingHl7,
			unprocessed_detail: { hl7_not_acked: hl7NotAcked, dicom_not_acked: dicomNotAcked, acked_instances_missing: missingInstances, acked_hl7_missing: missingHl7, not_visible: recs.filter((r) => r.imagesAt !== null && r.visibleAt === null).length },
			peak_rss_mb: round(sampler.peakRssMb()),
			cpu_pct: round(cpuDrive.cpuPct),
			cpu_peak_1s_pct: round(cpuDrive.peakPct),
			host_cpu_pct: round(cpuDrive.hostPct),
			cores: os.cpus().length,
			studies: offered,
			instances: storedInstances,
			hl7_messages: mllp.stats.acked,
			db_instances: totalInstances,
			db_hl7_messages: totalHl7,
			ingest_failures: failures,
			study_status: Object.fromEntries(statusRows.map((r) => [r.status, r.n])),
			hl7_nacked: mllp.stats.nacked,
			hl7_retries: mllp.stats.retries,
			arrivals_late: late,
			minutes,
			drive_seconds: +driveSeconds.toFixed(1),
			concurrency,
			stability_seconds: stability,
			startup_seconds: +startupS.toFixed(1),
			radflow_warnings: warnings,
			baseline_studies_per_h: baseline.studies_per_h,
			baseline_hl7_msgs_per_s: baseline.hl7_msgs_per_s,
			baseline_instances_per_s: baseline.instances_per_s,
			baseline_seconds: baseline.seconds,
			baseline_failures: baseline.failures,
			...(baseline.skipped ? { baseline_skipped: baseline.skipped } : {})
		};
	} finally {
		if (progress) clearInterval(progress);
		sampler.stop();
		socket?.close();
		await mllp.close();
		await stopChild(proc);
		await bench.close();
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
}

