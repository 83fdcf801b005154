/**
 * HL7 MLLP ingest benchmark.
 *
 * Measures, in one run: the full path (parse → map → handler → ACK) with the
 * real database handler (ACK after commit; `--edge`: a simulated commit of
 * `--commit-ms` instead, the MLLP edge alone), and a bare MLLP echo-ACK server
 * (framing + MSH-10 lookup only, no storage) as the baseline.
 *
 * Senders behave like real MLLP senders, in a process of their own: one
 * outstanding message per connection (send, wait for the ACK, send the next). Rates: 1 connection and 8 connections;
 * ACK latency p99 over the 8-connection run.
 *
 * With the database handler, two more phases measure enhanced mode (MSH-15 AL,
 * MSH-16 NE: the sender waits for the commit accept, CA, sent once the raw
 * message is durable; the commands are applied after it). Each reports the CA
 * rate and the applied rate, which counts until the last accepted message is
 * applied (the backlog is bounded: see HL7_MAX_PENDING).
 *
 * And the durability floor (floor_*_msg_per_s): the same edge and senders with
 * a handler that only stores the raw message before the ACK (one insert per
 * group of messages that arrived together, as the real handler groups them).
 * That is the ceiling for this edge and store on the machine: the full path
 * also applies the commands.
 *
 * Usage: radflow bench hl7 [--seconds=5] [--edge [--commit-ms=1]]
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { encodeMllp, MllpDecoder } from '../hl7/framing';
import type { Hl7Handler, Hl7Inbound } from '../hl7/handlers';
import { silentLogger } from '../hl7/log';
import { startHl7Server } from '../hl7/server';
import type { SenderResult } from './hl7-sender';
import { GroupCommit } from '../../src/lib/server/db/group-commit';

export interface Hl7BenchOptions {
	/** The handler under test; the lead passes the real DB handler here. */
	handler?: Hl7Handler;
	seconds?: number;
	commitMs?: number;
	/** Also measure enhanced mode: resolves once every accepted message is applied. */
	drain?: () => Promise<void>;
	/**
	 * Also measure the durability floor: this handler only stores the raw
	 * message and the edge acknowledges after it (the ceiling for this edge and
	 * store: the real handler also applies the commands).
	 */
	floor?: Hl7Handler;
}

function simulatedCommit(ms: number): Hl7Handler {
	return ms > 0 ? () => new Promise((r) => setTimeout(r, ms)) : () => new Promise((r) => setImmediate(r));
}

/** Bare echo-ACK server: frames in, `MSA|AA|<MSH-10>` out. No parsing beyond MSH-10. */
function startEchoServer(): Promise<{ port: number; close: () => Promise<void> }> {
	const sockets = new Set<net.Socket>();
	const server = net.createServer({ noDelay: true }, (socket) => {
		sockets.add(socket);
		socket.setNoDelay(true);
		const d = new MllpDecoder();
		socket.on('data', (chunk: Buffer) => {
			for (const ev of d.push(chunk)) {
				if (ev.type !== 'frame') continue;
				const msh = ev.payload.subarray(0, Math.max(0, ev.payload.indexOf(0x0d))).toString('latin1').split('|');
				socket.write(encodeMllp(Buffer.from(`MSH|^~\\&|ECHO||||||ACK|1|P|2.5\rMSA|AA|${msh[9] ?? ''}\r`, 'latin1')));
			}
		});
		socket.on('error', () => {});
		socket.on('close', () => sockets.delete(socket));
	});
	return new Promise((resolve) =>
		server.listen(0, '127.0.0.1', () => {
			const a = server.address() as net.AddressInfo;
			resolve({
				port: a.port,
				close: () =>
					new Promise<void>((r) => {
						for (const s of sockets) s.destroy();
						server.close(() => r());
					})
			});
		})
	);
}

let phaseSeq = 0;

/**
 * Drive `conns` connections for `seconds` from a sender process of its own
 * (hl7-sender.ts): the senders' CPU is not the listener's event loop, as with
 * a real RIS. Its start-up (about a second) is outside the timed window.
 */
function drive(port: number, conns: number, seconds: number, mode: 'original' | 'enhanced' = 'original'): Promise<SenderResult> {
	const phase = (++phaseSeq).toString(36);
	const file = fileURLToPath(new URL('./hl7-sender.ts', import.meta.url));
	return new Promise((resolve, reject) => {
		const p = spawn(process.execPath, ['--import', 'tsx', file, String(port), String(conns), String(seconds), phase, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		let err = '';
		p.stdout.on('data', (d) => (out += d));
		p.stderr.on('data', (d) => (err += d));
		p.on('error', reject);
		p.on('close', (code) => {
			const line = out.trim().split('\n').pop() ?? '';
			if (code !== 0 || !line.startsWith('{')) return reject(new Error(`hl7 sender process failed (exit ${code}): ${err.slice(-500)}`));
			const r = JSON.parse(line) as SenderResult;
			if (r.error) return reject(new Error(`hl7 sender: ${r.error}`));
			resolve(r);
		});
	});
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const rate = (r: SenderResult) => r.count / r.seconds;

/** The benchmark with an injectable handler. */
export async function runHl7Bench(options: Hl7BenchOptions = {}): Promise<Record<string, unknown>> {
	const seconds = options.seconds ?? 3;
	const commitMs = options.commitMs ?? 1;
	const handler = options.handler ?? simulatedCommit(commitMs);
	const log = (m: string) => process.stderr.write(`[bench:hl7] ${m}\n`);

	const echo = await startEchoServer();
	log(`echo baseline, 1 connection, ${seconds}s`);
	const echoRun = await drive(echo.port, 1, seconds);
	log(`echo baseline, 8 connections, ${seconds}s`);
	const echo8 = await drive(echo.port, 8, seconds);
	await echo.close();

	const server = await startHl7Server({ port: 0, host: '127.0.0.1', handler, unknownTypes: 'ack' }, silentLogger);
	let nacks = 0;
	server.stats.on('nack', () => nacks++);
	log(`radflow edge, 1 connection, ${seconds}s`);
	const one = await drive(server.port, 1, seconds);
	log(`radflow edge, 8 connections, ${seconds}s`);
	const eight = await drive(server.port, 8, seconds);
	const enhanced: Record<string, number> = {};
	if (options.drain) {
		for (const conns of [1, 8]) {
			log(`radflow edge, enhanced mode (CA), ${conns} connection${conns > 1 ? 's' : ''}, ${seconds}s, then until applied`);
			const r = await drive(server.port, conns, seconds, 'enhanced');
			await options.drain();
			// From the end of the window until the last accepted message was applied.
			const lagS = Math.max(0, Date.now() - r.ended_at_ms) / 1000;
			const name = conns === 1 ? 'one' : 'eight';
			enhanced[`enhanced_${name}_conn_ca_per_s`] = round(rate(r));
			enhanced[`enhanced_${name}_conn_applied_per_s`] = round(r.count / (r.seconds + lagS));
			enhanced[`enhanced_${name}_conn_ca_p99_ms`] = round(r.p99_ms, 2);
			enhanced[`enhanced_${name}_conn_apply_backlog_s`] = round(lagS, 2);
		}
	}
	await server.close();
	const floor: Record<string, number> = {};
	if (options.floor) {
		const bare = await startHl7Server({ port: 0, host: '127.0.0.1', handler: options.floor, unknownTypes: 'ack' }, silentLogger);
		for (const conns of [1, 8]) {
			log(`durability floor (raw message stored, nothing applied), ${conns} connection${conns > 1 ? 's' : ''}, ${seconds}s`);
			floor[`floor_${conns === 1 ? 'one' : 'eight'}_conn_msg_per_s`] = round(rate(await drive(bare.port, conns, seconds)));
		}
		await bare.close();
	}

	return {
		bench: 'hl7',
		one_conn_msg_per_s: round(rate(one)),
		eight_conn_msg_per_s: round(rate(eight)),
		echo_msg_per_s: round(rate(echoRun)),
		echo_eight_conn_msg_per_s: round(rate(echo8)),
		ratio_one_conn_to_echo: round(rate(one) / rate(echoRun), 3),
		ratio_eight_conn_to_echo: round(rate(eight) / rate(echo8), 3),
		ack_p99_ms: round(eight.p99_ms, 2),
		one_conn_ack_p99_ms: round(one.p99_ms, 2),
		echo_ack_p99_ms: round(echoRun.p99_ms, 2),
		handler: options.handler ? 'injected' : `simulated_commit_${commitMs}ms`,
		...enhanced,
		...floor,
		seconds_per_phase: seconds,
		nacks
	};
}

/**
 * CLI entry: `--seconds=N` per phase (default 5). By default the real database
 * handler (bench database: DATABASE_URL or embedded): ACK after commit, the
 * figures the issue asks for. `--edge` instead measures the MLLP edge alone
 * with a simulated commit of `--commit-ms` (default 1; 0: the next turn).
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
	const get = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
	const seconds = get('seconds') ? Number(get('seconds')) : 5;
	if (args.includes('--edge')) return runHl7Bench({ seconds, commitMs: get('commit-ms') !== undefined ? Number(get('commit-ms')) : undefined });
	const { createLogger } = await import('../../src/lib/server/log');
	const { startJobQueue } = await import('../../src/lib/server/jobs/queue');
	const { ExamNormalizer } = await import('../../src/lib/server/ingest/studies');
	const { createHl7DbHandler } = await import('../../src/lib/server/ingest/hl7-handler');
	const { openBenchDatabase } = await import('./db');
	const log = createLogger('bench', 'warn');
	const bench = await openBenchDatabase(log, { max: 12 });
	const jobs = await startJobQueue(bench.url, log, { supervise: false });
	try {
		const handler = createHl7DbHandler({ sql: bench.db.sql, jobs, normalizer: new ExamNormalizer(bench.db.sql), log });
		await bench.db.sql`CREATE TABLE bench_hl7_floor (id bigserial PRIMARY KEY, key text NOT NULL, raw text NOT NULL)`;
		// Grouped across connections as the real handler groups them: one insert and commit per group.
		const rawOnly = new GroupCommit<Hl7Inbound, void>({
			maxGroup: 256,
			writeGroup: async (batch) => {
				await bench.db.sql`INSERT INTO bench_hl7_floor (key, raw) SELECT * FROM unnest(${batch.map((m) => m.idempotencyKey)}::text[], ${batch.map((m) => m.message.raw)}::text[])`;
				return batch.map(() => undefined);
			}
		});
		const floor = (inbound: Hl7Inbound) => rawOnly.submit(inbound);
		const result = await runHl7Bench({ seconds, handler, drain: () => handler.idle(), floor });
		const [{ n, pending }] = await bench.db.sql`SELECT count(*)::int AS n, (count(*) FILTER (WHERE pending))::int AS pending
			FROM hl7_messages WHERE ack_code IN ('AA', 'CA')`;
		const acked = handler.stats.applied + handler.stats.duplicates;
		// Every AA or CA the senders got is a committed row, and every CA'd message was applied: checked, not assumed.
		if (n !== acked || pending !== 0) throw new Error(`bench integrity: ${acked} messages acknowledged, ${n} stored, ${pending} still pending`);
		// Messages per transaction: above 1 when group commit shared transactions between connections.
		return { ...result, handler: 'database', messages_stored: n, messages_per_transaction: round(acked / Math.max(1, handler.stats.transactions), 2) };
	} finally {
		await jobs.stop().catch(() => {});
		await bench.close();
	}
}
