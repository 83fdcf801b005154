/**
 * `radflow bench dicom`: DIMSE C-STORE into Radflow's SCP with the real
 * database sink (fsynced blobs, instance rows and events committed before each
 * Success, group commit across associations, jobs),
 * against dcmtk `storescp` as the baseline, in the same run, with `storescu`
 * (TCP_NODELAY=1) as the sender for both.
 *
 * Reports: single_per_s (one association), parallel4_per_s (4 storescu
 * processes), storescp_per_s (baseline, one association), their ratios,
 * the instances per group-commit transaction in each Radflow run
 * (*_mean_batch), loop_p99_ms (event-loop delay p99 during the Radflow runs)
 * and peak_rss_mb while a ~300 MB multi-frame object arrives.
 *
 * The durability floor (durable_floor_*), measured in the same run with no
 * DICOM at all: objects of the same size through the same blob store (temp
 * file, rename, file and directory fsync), each followed by a one-row commit,
 * as the SCP does before every Success. It is the most this blob store and
 * database reach on the machine with that guarantee: one chain at a time
 * (what one association allows, storescu waiting for each response) and four.
 * durable_floor_ratio_single is that ceiling divided by storescp's rate.
 *
 * Options: --instances N (default 2000 per run), --big-mb N (default 300, 0 skips).
 * The JSON also carries the 1-minute load average before and after: on a
 * shared machine fsync latency, not the SCP, sets the pace.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger } from '../../src/lib/server/log';
import { startJobQueue } from '../../src/lib/server/jobs/queue';
import { ExamNormalizer } from '../../src/lib/server/ingest/studies';
import { DbInstanceSink } from '../../src/lib/server/ingest/dicom-sink';
import { DicomServer } from '../dicom/server';
import { blobStoreOptionsFromEnv, FileBlobStore } from '../dicom/storage';
import { parseAllowedPeers } from '../dicom/policy';
import { encodeFileMeta } from '../dicom/part10';
import { fixtureUid, makeInstance } from '../dicom/fixtures';
import { openBenchDatabase } from './db';
import type { Sql } from '../../src/lib/server/db/client';

const say = (m: string) => process.stderr.write(`[bench:dicom] ${m}\n`);
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

function runTool(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
	return new Promise((resolve) => {
		const p = spawn(cmd, args, { env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		p.stdout.on('data', (d) => (out += d));
		p.stderr.on('data', (d) => (out += d));
		p.on('close', (code) => resolve({ code: code ?? 1, out: out.slice(-2000) }));
	});
}

/** Writes `count` distinct small CT instances, `perStudy` per study, into `dir/<chunk>` folders. */
function generate(dir: string, tag: string, count: number, chunks: number, perStudy = 100): string[] {
	const folders = Array.from({ length: chunks }, (_, i) => path.join(dir, `${tag}-${i}`));
	for (const f of folders) fs.mkdirSync(f, { recursive: true });
	const perChunk = Math.ceil(count / chunks);
	for (let i = 0; i < count; i++) {
		const study = Math.floor(i / perStudy);
		const bytes = makeInstance({
			studyUid: fixtureUid(`${tag}-study-${study}`),
			seriesUid: fixtureUid(`${tag}-series-${study}-${Math.floor((i % perStudy) / 50)}`),
			sopUid: fixtureUid(`${tag}-sop-${i}`),
			modality: 'CT',
			description: 'CT HEAD WO',
			patientId: `BENCH-${study}`,
			accession: `${tag.toUpperCase()}-${study}`,
			rows: 32,
			cols: 32
		});
		fs.writeFileSync(path.join(folders[Math.floor(i / perChunk)], `${i}.dcm`), bytes);
	}
	return folders;
}

/** Explicit VR LE element. */
function el(group: number, element: number, vr: string, value: Buffer): Buffer {
	const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
	const h = Buffer.alloc(long ? 12 : 8);
	h.writeUInt16LE(group, 0);
	h.writeUInt16LE(element, 2);
	h.write(vr, 4, 'latin1');
	if (long) h.writeUInt32LE(value.length, 8);
	else h.writeUInt16LE(value.length, 6);
	return Buffer.concat([h, value]);
}
const txt = (s: string, pad = ' ') => Buffer.from(s.length % 2 ? s + pad : s, 'latin1');
const us = (n: number) => {
	const b = Buffer.alloc(2);
	b.writeUInt16LE(n);
	return b;
};

/**
 * A multi-frame 16-bit secondary capture of about `mb` MB, written in 8 MB
 * chunks (never held in memory), cached in the temp folder across runs.
 */
function bigObject(mb: number): string {
	const file = path.join(os.tmpdir(), `radflow-bench-multiframe-${mb}mb.dcm`);
	if (fs.existsSync(file)) return file;
	say(`writing a ${mb} MB multi-frame object to ${file} (cached for later runs)…`);
	const rows = 1024;
	const cols = 1024;
	const frames = Math.max(1, Math.round((mb * 1024 * 1024) / (rows * cols * 2)));
	const sopClass = '1.2.840.10008.5.1.4.1.1.7.3'; // Multi-frame Grayscale Word Secondary Capture
	const sop = fixtureUid(`bench-big-${mb}`);
	const header = Buffer.concat([
		encodeFileMeta({ sopClassUid: sopClass, sopInstanceUid: sop, transferSyntaxUid: '1.2.840.10008.1.2.1' }),
		el(0x0008, 0x0016, 'UI', txt(sopClass, '\0')),
		el(0x0008, 0x0018, 'UI', txt(sop, '\0')),
		el(0x0008, 0x0020, 'DA', txt('20260105')),
		el(0x0008, 0x0050, 'SH', txt('BENCH-BIG')),
		el(0x0008, 0x0060, 'CS', txt('OT')),
		el(0x0008, 0x1030, 'LO', txt('BENCH MULTIFRAME')),
		el(0x0010, 0x0010, 'PN', txt('Bench^Big')),
		el(0x0010, 0x0020, 'LO', txt('BENCH-BIG')),
		el(0x0020, 0x000d, 'UI', txt(fixtureUid(`bench-big-study-${mb}`), '\0')),
		el(0x0020, 0x000e, 'UI', txt(fixtureUid(`bench-big-series-${mb}`), '\0')),
		el(0x0028, 0x0002, 'US', us(1)),
		el(0x0028, 0x0004, 'CS', txt('MONOCHROME2')),
		el(0x0028, 0x0008, 'IS', txt(String(frames))),
		el(0x0028, 0x0010, 'US', us(rows)),
		el(0x0028, 0x0011, 'US', us(cols)),
		el(0x0028, 0x0100, 'US', us(16)),
		el(0x0028, 0x0101, 'US', us(12)),
		el(0x0028, 0x0102, 'US', us(11)),
		el(0x0028, 0x0103, 'US', us(0))
	]);
	const pixelBytes = rows * cols * 2 * frames;
	const pixelHead = Buffer.alloc(12);
	pixelHead.writeUInt16LE(0x7fe0, 0);
	pixelHead.writeUInt16LE(0x0010, 2);
	pixelHead.write('OW', 4, 'latin1');
	pixelHead.writeUInt32LE(pixelBytes, 8);
	const tmp = `${file}.part`;
	const fd = fs.openSync(tmp, 'w');
	fs.writeSync(fd, Buffer.concat([header, pixelHead]));
	const chunk = Buffer.alloc(8 * 1024 * 1024);
	for (let i = 0; i < chunk.length; i += 2) chunk.writeUInt16LE((i >> 1) & 0x0fff, i);
	for (let left = pixelBytes; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length));
	fs.closeSync(fd);
	fs.renameSync(tmp, file);
	return file;
}

/**
 * Objects per second that can be made durable as the SCP makes them before a
 * Success (blob fsynced, then a row committed), by `chains` workers that each
 * wait for one before starting the next, with nothing else to do.
 */
async function durabilityFloor(store: FileBlobStore, sql: Sql, bytes: Uint8Array, count: number, chains: number, tag: string): Promise<number> {
	let next = 0;
	const t0 = performance.now();
	await Promise.all(
		Array.from({ length: chains }, async () => {
			for (let i = next++; i < count; i = next++) {
				const blob = await store.stage();
				await blob.writev([bytes]);
				const key = { studyUid: fixtureUid(`${tag}-study-${Math.floor(i / 100)}`), seriesUid: fixtureUid(`${tag}-series-${Math.floor(i / 100)}`), sopUid: fixtureUid(`${tag}-sop-${i}`) };
				await (await blob.place(key)).durable();
				await sql`INSERT INTO bench_durability_floor (sop_uid) VALUES (${key.sopUid})`;
			}
		})
	);
	return count / ((performance.now() - t0) / 1000);
}

async function waitForEcho(port: number, aec: string): Promise<void> {
	for (let i = 0; i < 100; i++) {
		if ((await runTool('echoscu', ['-aet', 'BENCH', '-aec', aec, '127.0.0.1', String(port)])).code === 0) return;
		await new Promise((r) => setTimeout(r, 100));
	}
	throw new Error(`no DICOM answer on port ${port}`);
}

async function timedSend(port: number, aec: string, folders: string[], count: number): Promise<number> {
	const t0 = performance.now();
	const runs = await Promise.all(folders.map((f) => runTool('storescu', ['-aet', 'BENCH', '-aec', aec, '127.0.0.1', String(port), '+sd', f])));
	const seconds = (performance.now() - t0) / 1000;
	for (const r of runs) if (r.code !== 0) throw new Error(`storescu failed: ${r.out}`);
	return count / seconds;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
	const { values } = parseArgs({ args, options: { instances: { type: 'string', default: '2000' }, 'big-mb': { type: 'string', default: '300' } } });
	const count = Number(values.instances);
	const bigMb = Number(values['big-mb']);
	const log = createLogger('bench', 'warn');
	const work = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-bench-dicom-'));
	const bench = await openBenchDatabase(log, { max: 12 });
	const jobs = await startJobQueue(bench.url, log, { supervise: false });
	let server: DicomServer | null = null;
	let storescp: ReturnType<typeof spawn> | null = null;
	const loadBefore = os.loadavg()[0];
	try {
		say(`generating 2 × ${count} distinct instances…`);
		const single = generate(path.join(work, 'in'), 'one', count, 1);
		const four = generate(path.join(work, 'in'), 'four', count, 4);
		// The inputs and the new database reach the disk before any timing: neither side pays for their writeback.
		await runTool('sync', []);

		// Baseline: dcmtk storescp, one association, same files.
		const scpPort = 20_000 + Math.floor(Math.random() * 20_000);
		fs.mkdirSync(path.join(work, 'storescp'));
		storescp = spawn('storescp', ['-aet', 'STORESCP', '-od', path.join(work, 'storescp'), String(scpPort)], {
			env: { ...process.env, TCP_NODELAY: '1' },
			stdio: 'ignore'
		});
		await waitForEcho(scpPort, 'STORESCP');
		say('storescp baseline, 1 association…');
		const storescpPerS = await timedSend(scpPort, 'STORESCP', single, count);
		storescp.kill('SIGTERM');
		storescp = null;

		say('durability floor: blob fsync + one-row commit per object, no DICOM…');
		const floorStore = new FileBlobStore(path.join(work, 'floor'), blobStoreOptionsFromEnv(process.env));
		const instanceBytes = fs.readFileSync(path.join(single[0], '0.dcm'));
		const floorCount = Math.min(count, 1000);
		await bench.db.sql`CREATE TABLE bench_durability_floor (id bigserial PRIMARY KEY, sop_uid text NOT NULL)`;
		const floorSingle = await durabilityFloor(floorStore, bench.db.sql, instanceBytes, floorCount, 1, 'floor1');
		const floorFour = await durabilityFloor(floorStore, bench.db.sql, instanceBytes, floorCount, 4, 'floor4');

		const sink = new DbInstanceSink({ sql: bench.db.sql, jobs, normalizer: new ExamNormalizer(bench.db.sql), log });
		server = new DicomServer(
			{
				port: 0,
				host: '127.0.0.1',
				aeTitle: 'RADFLOW',
				allowedPeers: parseAllowedPeers('BENCH'),
				maxPduLength: 262_144,
				maxObjectBytes: 2 * 1024 ** 3,
				idleTimeoutMs: 120_000
			},
			{ blobStore: new FileBlobStore(path.join(work, 'blobs'), blobStoreOptionsFromEnv(process.env)), sink, log: () => {} }
		);
		const { port } = await server.start();
		await waitForEcho(port, 'RADFLOW');
		const loop = monitorEventLoopDelay({ resolution: 10 });
		loop.enable();
		// Instances per group-commit transaction: 1 with one association, more when batches form.
		const perBatch = async (send: () => Promise<number>) => {
			const before = { ...sink.counters };
			const perS = await send();
			const filed = sink.counters.stored + sink.counters.duplicates - before.stored - before.duplicates;
			return { perS, batch: filed / Math.max(1, sink.counters.batches - before.batches) };
		};
		say('radflow, 1 association…');
		const one = await perBatch(() => timedSend(port, 'RADFLOW', single, count));
		say('radflow, 4 storescu processes…');
		const par = await perBatch(() => timedSend(port, 'RADFLOW', four, count));
		loop.disable();
		const [{ n }] = await bench.db.sql`SELECT count(*)::int AS n FROM instances`;
		if (n !== 2 * count) throw new Error(`bench integrity: ${2 * count} instances acknowledged but ${n} rows stored`);

		let peakRssMb: number | null = null;
		let bigSeconds: number | null = null;
		if (bigMb > 0) {
			const file = bigObject(bigMb);
			global.gc?.();
			const before = process.memoryUsage().rss;
			let peak = before;
			const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
			say(`radflow, one ${bigMb} MB multi-frame object…`);
			const t0 = performance.now();
			const r = await runTool('storescu', ['-aet', 'BENCH', '-aec', 'RADFLOW', '127.0.0.1', String(port), file]);
			bigSeconds = (performance.now() - t0) / 1000;
			clearInterval(sampler);
			if (r.code !== 0) throw new Error(`storescu (big object) failed: ${r.out}`);
			peakRssMb = round(peak / 1024 / 1024);
			say(`rss before ${round(before / 1024 / 1024)} MB, peak ${peakRssMb} MB`);
		}
		return {
			single_per_s: round(one.perS),
			parallel4_per_s: round(par.perS),
			storescp_per_s: round(storescpPerS),
			ratio_single: round(one.perS / storescpPerS, 3),
			ratio_parallel4: round(par.perS / storescpPerS, 3),
			durable_floor_single_per_s: round(floorSingle),
			durable_floor_parallel4_per_s: round(floorFour),
			durable_floor_ratio_single: round(floorSingle / storescpPerS, 3),
			single_mean_batch: round(one.batch, 2),
			parallel4_mean_batch: round(par.batch, 2),
			loop_p99_ms: round(loop.percentile(99) / 1e6, 2),
			peak_rss_mb: peakRssMb,
			big_object_mb: bigMb || null,
			big_object_seconds: bigSeconds === null ? null : round(bigSeconds, 2),
			instances_per_run: count,
			load_avg_1m: [round(loadBefore, 2), round(os.loadavg()[0], 2)],
			instance_bytes: fs.statSync(path.join(single[0], '0.dcm')).size
		};
	} finally {
		storescp?.kill('SIGTERM');
		await server?.stop();
		await jobs.stop().catch(() => {});
		await bench.close();
		fs.rmSync(work, { recursive: true, force: true });
	}
}
