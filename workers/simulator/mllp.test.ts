import { describe, it, expect, afterEach } from 'vitest';
import net from 'node:net';
import { frame, MllpClient, MllpError, MllpReader, parseAck } from './mllp';

type Reply = 'AA' | 'AE' | 'AR' | 'silent';

/** A tiny MLLP acknowledger: answers each message with the next scripted code (then AA). */
async function ackServer(script: Reply[]): Promise<{ port: number; received: string[]; close(): Promise<void> }> {
	const received: string[] = [];
	const sockets = new Set<net.Socket>();
	const server = net.createServer((s) => {
		s.setNoDelay(true);
		sockets.add(s);
		s.on('close', () => sockets.delete(s));
		const reader = new MllpReader();
		s.on('data', (chunk) => {
			for (const msg of reader.push(chunk)) {
				received.push(msg);
				const code = script.shift() ?? 'AA';
				if (code === 'silent') continue;
				const id = msg.split('\r')[0].split('|')[9];
				s.write(frame(`MSH|^~\\&|RADFLOW|RADFLOW|SIM|SIM|20250101000000||ACK^O01^ACK|A${received.length}|P|2.5\rMSA|${code}|${id}|test`));
			}
		});
	});
	await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
	const port = (server.address() as net.AddressInfo).port;
	return {
		port,
		received,
		close: () =>
			new Promise<void>((r) => {
				for (const s of sockets) s.destroy();
				server.close(() => r());
			})
	};
}

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
