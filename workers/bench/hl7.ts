/**
 * HL7 MLLP ingest benchmark.
 *
 * Measures, in one run: the full path (parse → map → handler → ACK) with the
 * real database handler (ACK after commit; `--edge`: a simulated commit of
 * `--commit-ms` instead, the MLLP edge alone), and a bare MLLP echo-ACK server
 * (framing + MSH-10 lookup only, no storage) as the baseline.
 *
 * Senders behave like real MLLP senders: one outstanding message per connection
 * (send, wait for the ACK, send the next). Rates: 1 connection and 8 connections;
 * ACK latency p99 over the 8-connection run.
 *
 * Usage: radflow bench hl7 [--seconds=5] [--edge [--commit-ms=1]]
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { encodeMllp, MllpDecoder } from '../hl7/framing';
import type { Hl7Handler } from '../hl7/handlers';
import { silentLogger } from '../hl7/log';
import { SAMPLE, withControlId } from '../hl7/samples';
import { startHl7Server } from '../hl7/server';
import { MllpTestClient } from '../hl7/testing';

export interface Hl7BenchOptions {
	/** The handler under test; the lead passes the real DB handler here. */
	handler?: Hl7Handler;
	seconds?: number;
	commitMs?: number;
}

const MIX = [SAMPLE.ormNew, SAMPLE.omiNew, SAMPLE.adtA08, SAMPLE.oruReport, SAMPLE.oruLab];

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

/**
 * Message n on connection ci of a phase: control ids unique per phase, and each
 * cycle of the mix (order, order, ADT, report, labs) about its own patient and
 * accession, so a real store sees distinct work rather than one hot row.
 */
function messageFor(phase: string, ci: number, n: number): string {
	const c = Math.floor(n / MIX.length);
	const cycle = `${phase}${ci}x${c}`;
	const studyUid = `2.25.${parseInt(phase, 36)}.${ci}.${c}`;
	return withControlId(MIX[n % MIX.length], `B${phase}${ci}-${n}`)
		.replaceAll('MRN1234', `M${cycle}`)
		.replaceAll('P998877', `M${cycle}`)
		.replaceAll('ACC5001', `A${cycle}`)
		.replaceAll('ACC-OMI-1', `A${cycle}`)
		.replaceAll('1.2.840.113619.2.55.3.1234', studyUid)
		.replaceAll('1.2.826.0.1.3680043.8.498.1', studyUid);
}

let phaseSeq = 0;

/** Drive `conns` connections for `seconds`, one outstanding message each. */
async function drive(port: number, conns: number, seconds: number): Promise<{ rate: number; latencies: number[] }> {
	const phase = (++phaseSeq).toString(36);
	const clients = await Promise.all(Array.from({ length: conns }, () => MllpTestClient.connect(port)));
	const latencies: number[] = [];
	let count = 0;
	const until = performance.now() + seconds * 1000;
	const start = performance.now();
	await Promise.all(
		clients.map(async (c, ci) => {
			let n = 0;
			while (performance.now() < until) {
				const msg = messageFor(phase, ci, n);
				const t0 = performance.now();
				const ack = await c.request(msg);
				latencies.push(performance.now() - t0);
				if (!ack.includes('MSA|AA|') && !ack.includes('MSA|CA|')) throw new Error(`unexpected ack: ${ack.slice(0, 200)}`);
				n++;
				count++;
			}
		})
	);
	const elapsed = (performance.now() - start) / 1000;
	for (const c of clients) c.close();
	return { rate: count / elapsed, latencies };
}

function p99(values: number[]): number {
	const s = [...values].sort((a, b) => a - b);
	return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? 0;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

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
	await server.close();

	return {
		bench: 'hl7',
		one_conn_msg_per_s: round(one.rate),
		eight_conn_msg_per_s: round(eight.rate),
		echo_msg_per_s: round(echoRun.rate),
		echo_eight_conn_msg_per_s: round(echo8.rate),
		ratio_one_conn_to_echo: round(one.rate / echoRun.rate, 3),
		ratio_eight_conn_to_echo: round(eight.rate / echo8.rate, 3),
		ack_p99_ms: round(p99(eight.latencies), 2),
		one_conn_ack_p99_ms: round(p99(one.latencies), 2),
		echo_ack_p99_ms: round(p99(echoRun.latencies), 2),
		handler: options.handler ? 'injected' : `simulated_commit_${commitMs}ms`,
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
		const result = await runHl7Bench({ seconds, handler });
		const [{ n }] = await bench.db.sql`SELECT count(*)::int AS n FROM hl7_messages WHERE ack_code = 'AA'`;
		const acked = handler.stats.applied + handler.stats.duplicates;
		// Every AA the senders got is a committed row: checked, not assumed.
		if (n !== acked) throw new Error(`bench integrity: ${acked} messages acknowledged but ${n} stored`);
		return { ...result, handler: 'database', messages_stored: n };
	} finally {
		await jobs.stop().catch(() => {});
		await bench.close();
	}
}
