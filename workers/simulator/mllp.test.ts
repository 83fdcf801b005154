import { describe, it, expect, afterEach } from 'vitest';
import { frame, MllpClient, MllpError, MllpReader, parseAck } from './mllp';
import { ackServer } from './testing';

const message = (id: string) => `MSH|^~\\&|SIM_RIS|NORTH|RADFLOW|RADFLOW|20250101000000||ORM^O01^ORM_O01|${id}|P|2.5\rPID|1||1^^^N^MR`;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const c of cleanup.splice(0)) await c();
});

describe('MLLP client', () => {
	it('sends one message at a time and counts positive ACKs', async () => {
		const srv = await ackServer([]);
		const client = new MllpClient({ host: '127.0.0.1', port: srv.port, connections: 1 });
		cleanup.push(() => client.close(), srv.close);
		const results = await Promise.all(['M1', 'M2', 'M3'].map((id) => client.send(message(id))));
		expect(results.map((r) => r.code)).toEqual(['AA', 'AA', 'AA']);
		expect(srv.received.map((m) => m.split('|')[9].split('\r')[0])).toEqual(['M1', 'M2', 'M3']);
		expect(client.stats).toMatchObject({ messages: 3, sent: 3, acked: 3, nacked: 0, failed: 0, mismatched: 0 });
	});

	it('retries an AE (and AR) with backoff until accepted', async () => {
		const srv = await ackServer(['AE', 'AR']);
		const client = new MllpClient({ host: '127.0.0.1', port: srv.port, connections: 1, backoffMs: 5 });
		cleanup.push(() => client.close(), srv.close);
		const r = await client.send(message('R1'));
		expect(r).toMatchObject({ code: 'AA', attempts: 3 });
		expect(srv.received).toHaveLength(3);
		expect(client.stats).toMatchObject({ sent: 3, acked: 1, nacked: 2, retries: 2, failed: 0 });
	});

	it('treats a missing ACK as a timeout, reconnects and resends', async () => {
		const srv = await ackServer(['silent']);
		const client = new MllpClient({ host: '127.0.0.1', port: srv.port, connections: 1, backoffMs: 5, ackTimeoutMs: 200 });
		cleanup.push(() => client.close(), srv.close);
		const r = await client.send(message('T1'));
		expect(r.attempts).toBe(2);
		expect(client.stats).toMatchObject({ timeouts: 1, acked: 1, failed: 0 });
	});

	it('gives up after the last attempt and counts the message as failed', async () => {
		const srv = await ackServer(['AE', 'AE', 'AE']);
		const client = new MllpClient({ host: '127.0.0.1', port: srv.port, connections: 1, backoffMs: 1, maxAttempts: 3 });
		cleanup.push(() => client.close(), srv.close);
		await expect(client.send(message('F1'))).rejects.toBeInstanceOf(MllpError);
		expect(client.stats).toMatchObject({ sent: 3, nacked: 3, failed: 1, acked: 0 });
	});

	it('de-frames split, joined and junk-prefixed frames', () => {
		const r = new MllpReader();
		const a = frame('MSH|A');
		const b = frame('MSH|B');
		const all = Buffer.concat([Buffer.from('junk'), a, b]);
		expect([...r.push(all.subarray(0, 7)), ...r.push(all.subarray(7))]).toEqual(['MSH|A', 'MSH|B']);
		expect(parseAck('MSH|^~\\&|X\rMSA|AE|C1|bad')).toEqual({ code: 'AE', controlId: 'C1', text: 'bad' });
	});
});
