/**
 * Test peers for the simulator's tests: a scripted MLLP acknowledger.
 */
import net from 'node:net';
import { frame, MllpReader } from './mllp';

export type Reply = 'AA' | 'AE' | 'AR' | 'silent';

/** A tiny MLLP acknowledger: answers each message with the next scripted code (then AA). */
export async function ackServer(script: Reply[] = []): Promise<{ port: number; received: string[]; close(): Promise<void> }> {
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
