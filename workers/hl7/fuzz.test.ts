import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MllpDecoder, encodeMllp } from './framing';
import { mutate, Mutation, MUTATIONS, Prng, randomBytes } from './fuzz';
import { silentLogger } from './log';
import { parseHl7Message } from './message';
import { SAMPLE } from './samples';
import { startHl7Server, type Hl7Server } from './server';
import { field, MllpTestClient } from './testing';

const samples = Object.values(SAMPLE);
/** Mutations that leave MSH-15/16 alone, so each frame gets exactly one answer (or a close). */
const ONE_ACK_MUTATIONS = [Mutation.truncated, Mutation.binaryGarbage, Mutation.wrongDelimiters, Mutation.fieldOverflow, Mutation.byteFlips, Mutation.noMsh];
let server: Hl7Server;
let handled = 0;

beforeAll(async () => {
	server = await startHl7Server(
		{ port: 0, host: '127.0.0.1', maxFrameBytes: 64 * 1024, unknownTypes: 'reject', handler: async () => void handled++ },
		silentLogger
	);
});
afterAll(() => server.close());

/** Sends one frame and resolves with the ACK text, or null if the server closed the connection. */
async function exchange(c: MllpTestClient, bytes: Buffer): Promise<string | null> {
	c.send(bytes);
	const frames = await Promise.race([c.receive(1), c.waitClosed().then(() => [] as string[])]);
	return frames[0] ?? null;
}

describe('generative: hostile input', () => {
	it('the parser never throws anything but typed errors on mutated messages', () => {
		const rand = new Prng(7);
		for (let i = 0; i < 300; i++) {
			const kind = MUTATIONS[i % MUTATIONS.length];
			const bytes = mutate(samples[i % samples.length], kind, rand);
			try {
				parseHl7Message(bytes);
			} catch (e) {
				expect((e as { code?: string }).code, `${kind} #${i}`).toMatch(/^\d{3}$/);
			}
		}
	});

	it('repeating mutations stay bounded on a huge message (5,000 copies of a 200 KB field once killed the fuzzing thread)', () => {
		const huge = `MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5\rNTE|1||${'X'.repeat(200_000)}\r`;
		const rand = new Prng(11);
		for (let i = 0; i < 1000; i++) {
			const out = mutate(huge, i % 2 ? Mutation.repetitions : Mutation.segments, rand);
			expect(out.length, `#${i}`).toBeLessThan(huge.length + 8 * 1024 * 1024);
		}
	});

	it('the decoder never loses a valid frame whatever junk surrounds it', () => {
		const rand = new Prng(11);
		for (let i = 0; i < 200; i++) {
			const d = new MllpDecoder();
			const junk = randomBytes(rand, rand.int(0, 299)).filter((b) => b !== 0x0b);
			const stream = Buffer.concat([Buffer.from(junk), encodeMllp(Buffer.from(`msg${i}`))]);
			const got: string[] = [];
			let at = 0;
			while (at < stream.length) {
				const n = rand.int(1, 50);
				for (const ev of d.push(stream.subarray(at, at + n))) if (ev.type === 'frame') got.push(ev.payload.toString());
				at += n;
			}
			expect(got).toEqual([`msg${i}`]);
		}
	});

	it('every hostile frame gets a NACK or a clean close, and other connections keep being served', async () => {
		const rand = new Prng(42);
		const bystander = await MllpTestClient.connect(server.port);
		let nacks = 0;
		let closes = 0;
		let acks = 0;
		let attacker = await MllpTestClient.connect(server.port);
		for (let i = 0; i < 120; i++) {
			const kind = ONE_ACK_MUTATIONS[i % ONE_ACK_MUTATIONS.length];
			const bytes = i % 40 === 39 ? randomBytes(rand, 100_000) : mutate(samples[i % samples.length], kind, rand);
			const reply = await exchange(attacker, bytes);
			if (reply === null) {
				closes++;
				attacker = await MllpTestClient.connect(server.port);
			} else {
				// The ACK uses the message's own delimiters, which the mutations may have changed.
				const code = parseHl7Message(reply).first('MSA')?.get(1);
				expect(['AA', 'AE', 'AR']).toContain(code);
				if (code === 'AA') acks++;
				else nacks++;
			}
			if (i % 10 === 0) {
				const ok = await bystander.request(samples[i % samples.length].replace(/\|(\w+)\|P\|/, `|by${i}|P|`));
				expect(field(ok, 'MSA', 1)).toBe('AA');
			}
		}
		expect(nacks + acks + closes).toBe(120);
		expect(nacks).toBeGreaterThan(0);
		attacker.close();
		bystander.close();
	});

	it('a peer writing raw garbage is disconnected while others keep working', async () => {
		const rand = new Prng(3);
		const garbage = await MllpTestClient.connect(server.port);
		for (let i = 0; i < 25; i++) garbage.send(Buffer.from(randomBytes(rand, 200).filter((b) => b !== 0x4d)));
		await garbage.waitClosed();
		const c = await MllpTestClient.connect(server.port);
		expect(field(await c.request(SAMPLE.adtA01), 'MSA', 1)).toBe('AA');
		c.close();
	});
});
