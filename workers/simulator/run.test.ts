import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../tests/helpers/db';
import { loadConfig } from '../../src/lib/server/config';
import { createLogger } from '../../src/lib/server/log';
import type { AppContext } from '../../src/lib/server/context';
import { buildNetwork } from './network';
import { backfill } from './backfill';
import { seedRoster } from './roster';
import { SimClock, SimulatedReaders } from './readers';
import { MllpClient } from './mllp';
import { ackServer } from './testing';
import { freePort } from '../../src/lib/server/db/embedded';
import { parseSimulatorArgs, startSimulator } from './run';
import { SimulatorConfigError } from './network';

const HOUR = 3_600_000;


const field = (msg: string, seg: string, n: number) => msg.split('\r').find((l) => l.startsWith(seg + '|'))?.split('|')[seg === 'MSH' ? n - 1 : n] ?? '';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('simrun');
});
afterAll(async () => {
	await t?.drop();
});

describe('simulator arguments', () => {
	const d = { hl7Port: 2575, dicomPort: 11112, dicomAe: 'RADFLOW' };
	it('has the documented defaults and parses every option', () => {
		expect(parseSimulatorArgs([], d)).toMatchObject({ speed: 60, backfillMs: 0, selfAssign: false, hl7: { host: '127.0.0.1', port: 2575 }, dicom: { port: 11112, ae: 'RADFLOW' } });
		const a = parseSimulatorArgs(['--speed', '120', '--seed', '9', '--backfill', '90d', '--hl7', 'ris:3000', '--dicom', 'pacs:104:STORE', '--sites', 'north,east', '--rate-multiplier=0.5', '--no-self-assign'], d);
		expect(a).toMatchObject({ speed: 120, seed: '9', backfillMs: 90 * 24 * HOUR, hl7: { host: 'ris', port: 3000 }, dicom: { host: 'pacs', port: 104, ae: 'STORE' }, sites: ['north', 'east'], rateMultiplier: 0.5, selfAssign: false });
	});
	it('explains bad options', () => {
		expect(() => parseSimulatorArgs(['--backfill', 'lots'], d)).toThrow(SimulatorConfigError);
		expect(() => parseSimulatorArgs(['--hl7', 'nohost'], d)).toThrow(/host:port/);
		expect(() => parseSimulatorArgs(['--bogus'], d)).toThrow(/unknown option/);
	});
});

describe('simulated readers', () => {
	it('read unassigned complete studies (self-assign) and send final reports with an eligible reader', async () => {
		const netw = buildNetwork({ sites: ['north'] });
		const to = Date.UTC(2025, 2, 4, 16);
		const { ids } = await seedRoster(t.db.sql, netw, to - 12 * HOUR, to + 24 * HOUR);
		await backfill(t.db.sql, netw, { seed: 3, fromMs: to - 3 * HOUR, toMs: to, ids });
		const open = await t.db.sql`SELECT accession_number, subspecialty FROM studies WHERE status IN ('complete', 'triaged') AND assigned_to IS NULL`;
		expect(open.length).toBeGreaterThan(0);
		const srv = await ackServer();
		const mllp = new MllpClient({ host: '127.0.0.1', port: srv.port });
		let real = 0;
		const clock = new SimClock(to, 1, () => real);
		const readers = new SimulatedReaders({ sql: t.db.sql, net: netw, ids, clock, send: (m) => mllp.send(m), truth: new Map(), selfAssign: true, stamp: (ms) => ms, log: createLogger('test', 'error') });
		await readers.tick();
		expect(srv.received).toHaveLength(0);
		real = 2 * 24 * HOUR;
		await readers.tick();
		await readers.stop();
		await mllp.close();
		await srv.close();
		const reported = new Map(srv.received.map((m) => [field(m, 'OBR', 18), m]));
		for (const s of open) {
			const oru = reported.get(s.accession_number);
			expect(oru, s.accession_number).toBeDefined();
			expect(field(oru!, 'OBR', 25)).toBe('F');
			const npi = field(oru!, 'OBR', 32).split('&')[0];
			const reader = netw.radiologists.find((r) => r.npi === npi)!;
			expect(reader.subspecialties.includes(s.subspecialty) || reader.subspecialties.includes('general')).toBe(true);
		}
		expect(readers.stats.reportsSent).toBe(srv.received.length);
	});
});

describe('live traffic', () => {
	let scp: ChildProcess;
	let dicomPort: number;
	let out: string;
	beforeAll(async () => {
		dicomPort = await freePort();
		out = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-sim-live-'));
		scp = spawn('storescp', ['-od', out, '-aet', 'RADFLOW', String(dicomPort)], { env: { ...process.env, TCP_NODELAY: '1' }, stdio: 'ignore' });
		await new Promise((r) => setTimeout(r, 500));
	});
	afterAll(() => {
		scp.kill();
		fs.rmSync(out, { recursive: true, force: true });
	});

	it('sends ADT then ORM, then images, for studies as the simulated clock passes them, and stops cleanly', async () => {
		const srv = await ackServer();
		const ctx: AppContext = {
			config: loadConfig({ HL7_PORT: String(srv.port), DICOM_PORT: String(dicomPort), DICOM_AE_TITLE: 'RADFLOW' }),
			db: t.db,
			jobs: null,
			log: createLogger('test', 'error'),
			status: {}
		};
		// Fast enough for several simulated hours in a few seconds, whatever the time of day.
		const sim = await startSimulator(ctx, ['--speed', '7200', '--sites', 'north', '--seed', '5', '--no-self-assign']);
		const deadline = Date.now() + 20_000;
		while (Date.now() < deadline && (sim.stats().dicom.instancesStored < 5 || sim.stats().hl7.acked < 6)) await new Promise((r) => setTimeout(r, 200));
		await sim.stop();
		const stats = sim.stats();
		const countAfterStop = srv.received.length;
		await new Promise((r) => setTimeout(r, 300));
		expect(srv.received.length).toBe(countAfterStop);
		await srv.close();

		expect(stats.hl7.acked).toBe(srv.received.length);
		expect(stats.hl7.failed).toBe(0);
		expect(stats.dicom.instancesStored).toBeGreaterThanOrEqual(5);
		expect(stats.dicom.instancesFailed).toBe(0);
		// Per study: the ADT precedes the ORM.
		const position = new Map<string, number>();
		srv.received.forEach((m, i) => position.set(field(m, 'MSH', 10), i));
		for (const m of srv.received) {
			const id = field(m, 'MSH', 10);
			if (id.endsWith('ORM')) expect(position.get(id.replace(/ORM$/, 'ADT'))).toBeLessThan(position.get(id)!);
		}
		// Files stored by storescp belong to studies that were ordered.
		const ordered = new Set(srv.received.filter((m) => field(m, 'MSH', 9).startsWith('ORM')).map((m) => field(m, 'OBR', 18)));
		expect(fs.readdirSync(out).length).toBe(stats.dicom.instancesStored);
		expect(ordered.size).toBeGreaterThan(0);
		// The roster exists for routing, with shifts for the coming week.
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM shifts WHERE starts_at > now() + interval '6 days'`;
		expect(n).toBeGreaterThan(0);
	});
});
