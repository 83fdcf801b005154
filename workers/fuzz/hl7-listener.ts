/**
 * Fuzz target `hl7-listener`: the real MLLP listener (startHl7Server) over a real
 * loopback socket. The input is the byte stream one peer sends: mutated messages
 * inside mutated framing (split, nested, unterminated frames, junk, oversized).
 *
 * Invariants: every AA names (in MSA-2) a message the handler stored, and after
 * every case the listener still answers a valid message with AA on a fresh
 * connection.
 */
import net from 'node:net';
import type { Prng } from '../../src/lib/domain/routing/prng';
import { MLLP, MllpDecoder } from '../hl7/framing';
import { mutateFraming, mutateMessage } from '../hl7/fuzz';
import type { Hl7Inbound } from '../hl7/handlers';
import { silentLogger } from '../hl7/log';
import { parseHl7Message } from '../hl7/message';
import { SAMPLE } from '../hl7/samples';
import { startHl7Server } from '../hl7/server';
import { field, MllpTestClient } from '../hl7/testing';
import { hl7Seeds } from './hl7-parser';
import { exceptionFinding, FindingKind, invariantFinding, TargetName, type Finding, type FuzzTarget } from './target';

const MAX_FRAME = 64 * 1024;

/** The payloads inside a stream, as the listener's own decoder sees them. */
function payloads(stream: Buffer): Buffer[] {
	const d = new MllpDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
	return [...d.push(stream), ...d.end()].flatMap((e) => (e.type === 'frame' ? [e.payload] : []));
}

/** One to three (mutated) messages in (mutated) framing. */
export function mutateStream(stream: Buffer, rand: Prng, corpus: readonly Buffer[]): Buffer {
	const found = payloads(stream);
	const messages = found.length ? found : hl7Seeds();
	const picked = Array.from({ length: rand.int(1, 3) }, () => rand.pick(messages));
	const mutated = picked.map((m) => (rand.next() < 0.8 ? mutateMessage(m, rand) : m));
	if (rand.next() < 0.03) mutated.push(Buffer.alloc(MAX_FRAME + rand.int(1, 1000), 'A'));
	return rand.next() < 0.7 ? mutateFraming(mutated, rand) : Buffer.concat(mutated.map(framed));
}

function framed(m: Buffer): Buffer {
	return Buffer.concat([Buffer.from([MLLP.startBlock]), m, Buffer.from([MLLP.endBlock, MLLP.carriageReturn])]);
}

/** Sends a stream, half-closes, and collects the ACK frames until the listener closes. */
function converse(port: number, stream: Buffer, closeAfterMs: number): Promise<Buffer[]> {
	return new Promise((resolve) => {
		const acks: Buffer[] = [];
		const d = new MllpDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
		const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
			s.write(stream);
			s.end();
		});
		const timer = setTimeout(() => s.destroy(), closeAfterMs);
		s.on('data', (chunk) => {
			for (const e of d.push(chunk)) if (e.type === 'frame') acks.push(e.payload);
		});
		s.on('error', () => {});
		s.on('close', () => {
			clearTimeout(timer);
			resolve(acks);
		});
	});
}

export async function createHl7ListenerTarget(): Promise<FuzzTarget> {
	/** MSH-10 (as sent) of every message the handler stored. */
	const stored = new Set<string>();
	const server = await startHl7Server(
		{
			port: 0,
			host: '127.0.0.1',
			maxFrameBytes: MAX_FRAME,
			unknownTypes: 'reject',
			idleTimeoutMs: 5_000,
			handler: async (inbound: Hl7Inbound) => {
				stored.add(inbound.header.rawControlId);
			}
		},
		silentLogger
	);
	let probe = 0;
	return {
		name: TargetName.hl7Listener,
		caseTimeoutMs: 8_000,
		seeds: () => [framed(Buffer.from(SAMPLE.adtA01)), Buffer.concat(hl7Seeds().map(framed))],
		mutate: mutateStream,
		async execute(input) {
			let acks: Buffer[];
			try {
				acks = await converse(server.port, input, 6_000);
			} catch (e) {
				return exceptionFinding(e, 'hl7-listener client');
			}
			for (const ack of acks) {
				let parsed;
				try {
					parsed = parseHl7Message(ack);
				} catch (e) {
					return invariantFinding('ack-unparseable', `the listener sent an ACK that does not parse: ${(e as Error).message}`);
				}
				const msa = parsed.first('MSA');
				if (msa?.get(1) === 'AA' && !stored.has(msa.raw(2))) return invariantFinding('aa-not-stored', 'AA for a message the handler never stored');
			}
			return null;
		},
		async healthy(): Promise<Finding | null> {
			const unavailable = (why: string): Finding => ({ kind: FindingKind.unavailable, signature: `unavailable: hl7-listener ${why}`, message: `after this case the listener ${why}` });
			let c: MllpTestClient;
			try {
				c = await MllpTestClient.connect(server.port);
			} catch {
				return unavailable('refused a connection');
			}
			try {
				const ack = await c.request(SAMPLE.adtA01.replace('|ADT0001|', `|PROBE${++probe}|`));
				return field(ack ?? '', 'MSA', 1) === 'AA' ? null : unavailable('did not answer a valid message with AA');
			} finally {
				c.close();
			}
		},
		close: () => server.close()
	};
}
