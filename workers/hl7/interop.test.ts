import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hl7Inbound } from './handlers';
import { silentLogger } from './log';
import { SAMPLE } from './samples';
import { startHl7Server, type Hl7Server } from './server';

const run = promisify(execFile);
const MLLP_SEND = '/usr/bin/mllp_send';

// Interop with a real third-party MLLP sender: Debian's python3-hl7 `mllp_send`.
describe.skipIf(!existsSync(MLLP_SEND))('interop: mllp_send (python-hl7)', () => {
	let server: Hl7Server;
	const seen: Hl7Inbound[] = [];
	let dir: string;
	beforeAll(async () => {
		server = await startHl7Server({ port: 0, host: '127.0.0.1', handler: async (i) => void seen.push(i) }, silentLogger);
		dir = mkdtempSync(path.join(tmpdir(), 'hl7-interop-'));
	});
	afterAll(async () => {
		await server.close();
		rmSync(dir, { recursive: true, force: true });
	});

	it('sends several messages over one connection and receives AA for each', async () => {
		const messages = [SAMPLE.ormNew, SAMPLE.adtA01, SAMPLE.oruReport, SAMPLE.omiNew];
		const file = path.join(dir, 'batch.hl7');
		// --loose: one message per block, segments on separate lines, as an analyst would paste them.
		writeFileSync(file, messages.map((m) => m.replace(/\r/g, '\n')).join('\n'));
		const { stdout } = await run(MLLP_SEND, ['--loose', '-f', file, '-p', String(server.port), '127.0.0.1'], { timeout: 20_000 });
		const acks = stdout.split('\x0b').filter((s) => s.includes('MSA|'));
		expect(acks).toHaveLength(messages.length);
		const msa = acks.map((a) => a.split('\r').find((l) => l.startsWith('MSA|'))!.split('|').slice(1, 3));
		expect(msa).toEqual([
			['AA', 'ORM0001'],
			['AA', 'ADT0001'],
			['AA', 'ORU0001'],
			['AA', 'OMI7001']
		]);
		expect(seen.map((i) => i.commands[0]?.type)).toEqual(['order.place', 'patient.visit', 'report.result', 'order.place']);
		expect(seen[3].commands[0].patient.id).toBe('P998877');
	});
});
