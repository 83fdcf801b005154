import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Hl7ApplicationError, Hl7ErrorCode } from '../../src/lib/domain/hl7/errors';
import type { Hl7NackStat } from './events';
import { encodeMllp, MllpDecoder } from './framing';
import type { Hl7Handler, Hl7Inbound } from './handlers';
import { silentLogger } from './log';
import { KeyedSerialQueue } from './queue';
import { SAMPLE, withControlId, withMshField } from './samples';
import { startHl7Server, type Hl7Server, type Hl7ServerOptions } from './server';
import { field, MllpTestClient } from './testing';

let servers: Hl7Server[] = [];
let clients: MllpTestClient[] = [];
afterEach(async () => {
	for (const c of clients) c.close();
	await Promise.all(servers.map((s) => s.close()));
	servers = [];
	clients = [];
});

async function start(handler: Hl7Handler, options: Partial<Hl7ServerOptions> = {}) {
	const server = await startHl7Server({ port: 0, host: '127.0.0.1', handler, ...options }, silentLogger);
	servers.push(server);
	return server;
}
async function connect(server: Hl7Server) {
	const c = await MllpTestClient.connect(server.port);
	clients.push(c);
	return c;
}
const msa = (ack: string) => [field(ack, 'MSA', 1), field(ack, 'MSA', 2)];

const ascii = (t: string) => Buffer.from(t, 'latin1');

/** An ADT^A08 as bytes, with raw bytes in MSH-3 and MSH-10 and the given MSH-18. */
function rawAdt(app: Buffer, controlId: Buffer, charset: string): Buffer {
	return Buffer.concat([ascii('MSH|^~\\&|'), app, ascii('|FAC|RADFLOW|RF|20240101||ADT^A08|'), controlId, ascii(`|P|2.5||||||${charset}\rEVN|A08\rPID|1||ID1^^^AUTH^MR\rPV1|1|O\r`)]);
}

/** Sends one framed message on a fresh connection; resolves with the first ACK's raw bytes. */
function rawExchange(server: Hl7Server, message: Buffer): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const d = new MllpDecoder();
		const s = net.connect({ port: server.port, host: '127.0.0.1' }, () => s.write(encodeMllp(message)));
		s.on('data', (chunk) => {
			for (const e of d.push(chunk)) {
				if (e.type !== 'frame') continue;
				s.destroy();
				return resolve(e.payload);
			}
		});
		s.on('close', () => reject(new Error('closed without an ACK')));
	});
}

describe('HL7 server, original mode', () => {
	it('sends AA only after the handler resolved, addressed to the sender', async () => {
		let release!: () => void;
		const seen: Hl7Inbound[] = [];
		const server = await start(async (inbound) => {
			seen.push(inbound);
			await new Promise<void>((r) => (release = r));
		});
		const c = await connect(server);
		c.send(SAMPLE.ormNew);
		const pending = c.receive(1);
		let answered = false;
		void pending.then(() => (answered = true));
		await new Promise((r) => setTimeout(r, 50));
		expect(seen).toHaveLength(1);
		expect(answered).toBe(false);
		release();
		const [ack] = await pending;
		expect(msa(ack)).toEqual(['AA', 'ORM0001']);
		expect(field(ack, 'MSH', 9)).toBe('ACK^O01');
		expect(field(ack, 'MSH', 3)).toBe('RADFLOW');
		expect(field(ack, 'MSH', 5)).toBe('EPIC');
		expect(field(ack, 'MSH', 6)).toBe('MERCY^1.2.840.1^ISO');
		expect(field(ack, 'MSH', 12)).toBe('2.3.1');
		expect(seen[0].idempotencyKey).toBe('EPIC|MERCY^1.2.840.1^ISO|ORM0001');
		expect(seen[0].patientKey).toBe('MERCY^MRN1234');
		expect(seen[0].commands[0].type).toBe('order.place');
	});

	it('answers AE with ERR naming the field when the handler throws a typed error', async () => {
		const server = await start(async () => {
			throw new Hl7ApplicationError(Hl7ErrorCode.unknownKeyIdentifier, 'no such order', {
				location: { segment: 'OBR', sequence: 1, field: 18 }
			});
		});
		const c = await connect(server);
		const ack = await c.request(withMshField(SAMPLE.ormCancel, 12, '2.5'));
		expect(msa(ack)).toEqual(['AE', 'ORM0002']);
		expect(field(ack, 'ERR', 2)).toBe('OBR^1^18');
		expect(field(ack, 'ERR', 3)).toBe('204^Unknown key identifier^HL70357');
		expect(field(ack, 'ERR', 4)).toBe('E');
		expect(field(ack, 'ERR', 8)).toBe('no such order');
	});

	it('a handler that throws instead of rejecting still gets an AR, and the connection serves the next message', async () => {
		let calls = 0;
		const server = await start(((): Promise<void> => {
			if (++calls === 1) throw new Error('handler bug');
			return Promise.resolve();
		}) as Hl7Handler);
		const c = await connect(server);
		expect(msa(await c.request(SAMPLE.adtA08))).toEqual(['AR', 'ADT0008']);
		expect(msa(await c.request(withControlId(SAMPLE.adtA08, 'next')))).toEqual(['AA', 'next']);
	});

	it('uses ERR-1 (ELD) for versions before 2.5', async () => {
		const server = await start(async () => {});
		const c = await connect(server);
		const ack = await c.request(SAMPLE.ormNew.replace('ACC5001', '').replaceAll('FL2002', ''));
		expect(msa(ack)[0]).toBe('AE');
		expect(field(ack, 'ERR', 1)).toBe('OBR^1^18^101&Required field missing&HL70357');
	});

	it('answers AR 207 when the handler fails for an internal reason, and keeps serving', async () => {
		let fail = true;
		const server = await start(async () => {
			if (fail) throw new Error('database unavailable');
		});
		const c = await connect(server);
		const ack = await c.request(withMshField(SAMPLE.adtA08, 12, '2.5.1'));
		expect(msa(ack)[0]).toBe('AR');
		expect(field(ack, 'ERR', 3)).toBe('207^Application internal error^HL70357');
		expect(ack).not.toContain('database unavailable');
		fail = false;
		expect(msa(await c.request(withControlId(SAMPLE.adtA08, 'retry1')))).toEqual(['AA', 'retry1']);
	});

	it('rejects unsupported types with AR 200 / 201 when configured to reject', async () => {
		const calls: string[] = [];
		const server = await start(async (i) => void calls.push(i.idempotencyKey), { unknownTypes: 'reject' });
		const c = await connect(server);
		const siu = await c.request(SAMPLE.adtA08.replace('ADT^A08^ADT_A01', 'SIU^S12'));
		expect(msa(siu)[0]).toBe('AR');
		expect(field(siu, 'ERR', 3)).toMatch(/^200\^/);
		expect(field(siu, 'ERR', 2)).toBe('MSH^1^9^^1');
		const a31 = await c.request(SAMPLE.adtA08.replace('ADT^A08^ADT_A01', 'ADT^A31'));
		expect(field(a31, 'ERR', 3)).toMatch(/^201\^/);
		expect(calls).toEqual([]);
	});

	it('passes unsupported types to the handler and acks them when configured to accept', async () => {
		const seen: Hl7Inbound[] = [];
		const server = await start(async (i) => void seen.push(i), { unknownTypes: 'ack' });
		const c = await connect(server);
		const ack = await c.request(SAMPLE.adtA08.replace('ADT^A08^ADT_A01', 'SIU^S12'));
		expect(msa(ack)[0]).toBe('AA');
		expect(seen).toHaveLength(1);
		expect(seen[0].supported).toBe(false);
		expect(seen[0].commands).toEqual([]);
	});

	it('rejects an unsupported version with AR 203 at MSH-12', async () => {
		const server = await start(async () => {});
		const c = await connect(server);
		const ack = await c.request(withMshField(SAMPLE.adtA08, 12, '3.0'));
		expect(msa(ack)[0]).toBe('AR');
		expect(field(ack, 'ERR', 1)).toBe('');
		expect(ack).toContain('MSH^1^12');
		expect(ack).toContain('203');
	});

	it('processes pipelined messages one at a time and acks in message order', async () => {
		let active = 0;
		let maxActive = 0;
		const order: string[] = [];
		const server = await start(async (i) => {
			active++;
			maxActive = Math.max(maxActive, active);
			// Earlier messages take longer: a concurrent server would ack out of order.
			await new Promise((r) => setTimeout(r, 20 - order.length * 4));
			order.push(i.header.controlId);
			active--;
		});
		const c = await connect(server);
		const ids = ['m1', 'm2', 'm3', 'm4', 'm5'];
		c.write(Buffer.concat(ids.map((id) => Buffer.from(`\x0b${withControlId(SAMPLE.adtA08, id)}\x1c\r`))));
		const acks = await c.receive(ids.length);
		expect(acks.map((a) => field(a, 'MSA', 2))).toEqual(ids);
		expect(order).toEqual(ids);
		expect(maxActive).toBe(1);
	});

	it('acks the messages around junk and counts the junk', async () => {
		const server = await start(async () => {});
		const junk: number[] = [];
		server.stats.on('junk', (j) => junk.push(j.bytes));
		const c = await connect(server);
		c.write(Buffer.concat([Buffer.from('noise'), Buffer.from(`\x0b${withControlId(SAMPLE.adtA08, 'j1')}\x1c\r`), Buffer.from('\n\n'), Buffer.from(`\x0b${withControlId(SAMPLE.adtA08, 'j2')}\x1c\r`)]));
		const acks = await c.receive(2);
		expect(acks.map(msa)).toEqual([
			['AA', 'j1'],
			['AA', 'j2']
		]);
		expect(junk.reduce((a, b) => a + b, 0)).toBe(7);
	});

	it('answers an oversized message with AR and keeps the connection usable', async () => {
		const nacks: Hl7NackStat[] = [];
		const server = await start(async () => {}, { maxFrameBytes: 2048 });
		server.stats.on('nack', (n) => nacks.push(n));
		const c = await connect(server);
		const big = SAMPLE.oruLab.replace('Specimen slightly hemolyzed', 'x'.repeat(5000));
		const ack = await c.request(big);
		expect(msa(ack)).toEqual(['AR', 'LAB0001']);
		expect(field(ack, 'ERR', 8)).toContain('2048');
		expect(nacks[0]).toMatchObject({ ack: 'AR', controlId: 'LAB0001' });
		expect(msa(await c.request(SAMPLE.adtA08))[0]).toBe('AA');
	});

	it('closes cleanly when an oversized frame has no readable header', async () => {
		const server = await start(async () => {}, { maxFrameBytes: 1024 });
		const c = await connect(server);
		c.send(Buffer.alloc(4096, 0x41));
		await c.waitClosed();
		const other = await connect(server);
		expect(msa(await other.request(SAMPLE.adtA08))[0]).toBe('AA');
	});

	it('answers AE for a message without MSH-10 and AR never reaches the handler', async () => {
		const calls: string[] = [];
		const server = await start(async (i) => void calls.push(i.idempotencyKey));
		const c = await connect(server);
		const ack = await c.request(withControlId(SAMPLE.adtA08, ''));
		expect(msa(ack)[0]).toBe('AE');
		expect(ack).toContain('MSH^1^10');
		expect(calls).toEqual([]);
	});

	it('does not acknowledge an inbound ACK', async () => {
		const server = await start(async () => {});
		const c = await connect(server);
		c.send('MSH|^~\\&|EPIC|MERCY|RADFLOW|MERCY|20240312||ACK^A01^ACK|X1|P|2.5\rMSA|AA|R1\r');
		const ack = await c.request(SAMPLE.adtA08);
		expect(msa(ack)).toEqual(['AA', 'ADT0008']);
	});

	it('mirrors MSH-18 and the sender delimiters in the ACK', async () => {
		const server = await start(async () => {});
		const c = await connect(server);
		const custom = 'MSH#*!$@#APP#FAC#RF#RF#20240101##ADT*A08#X9#P#2.5######8859/1\rEVN#A08\rPID#1##ID1*Q*Q*AUTH*MR\rPV1#1#O\r';
		const ack = await c.request(custom);
		expect(ack.startsWith('MSH#*!$@#RF#RF#APP#FAC#')).toBe(true);
		expect(ack).toContain('\rMSA#AA#X9#');
		expect(ack.split('\r')[0].endsWith('#8859/1')).toBe(true);
	});

	it('echoes MSH-3 and MSH-10 byte for byte in the charset the message came in (8859/5, GB 18030, undeclared Latin-1)', async () => {
		const server = await start(async () => {});
		const exchange = (app: Buffer, controlId: Buffer, charset: string) => rawExchange(server, rawAdt(app, controlId, charset));
		const cases: [Buffer, Buffer, string][] = [
			// 8859/5: 0xAA is 'Њ', which written as latin1 was a line feed in the ACK's MSH-5.
			[Buffer.from([0xaa, 0xb0, 0xbf, 0xbf]), Buffer.from([0xb6, 0x31]), '8859/5'],
			// GB 18030: 0xF0 0x9F is '馃', which came back as a single 0x83.
			[ascii('LIS'), Buffer.from([0xf0, 0x9f, 0x32]), 'GB 18030-2000'],
			// No MSH-18 and not UTF-8: read as Latin-1, and 0xC4 must not come back as UTF-8 (0xC3 0x84).
			[Buffer.from([0xc4, 0x41]), Buffer.from([0xc4, 0x33]), '']
		];
		for (const [app, controlId, charset] of cases) {
			const ack = await exchange(app, controlId, charset);
			expect(ack.includes(Buffer.concat([ascii('\rMSA|AA|'), controlId, ascii('|')])), `${charset || 'undeclared'}: MSA-2`).toBe(true);
			expect(ack.includes(Buffer.concat([ascii('|RADFLOW|RF|'), app, ascii('|FAC|')])), `${charset || 'undeclared'}: MSH-5`).toBe(true);
			// Two segments, each ended by CR, and no other line breaks.
			expect(ack.filter((b) => b === 0x0d || b === 0x0a)).toEqual(Buffer.from([0x0d, 0x0d]));
		}
	});

	it('refuses a control id with bytes its declared charset does not define (it could not be echoed), and stores nothing', async () => {
		const calls: string[] = [];
		const server = await start(async (i) => void calls.push(i.idempotencyKey));
		// BIG-5 0xD2 must be followed by a trail byte; '0' is none, so MSH-10 would decode to U+FFFD and come back as '?'.
		const ack = (await rawExchange(server, rawAdt(ascii('LIS'), Buffer.from([0xd2, 0x30]), 'BIG-5'))).toString('latin1');
		expect(field(ack, 'MSA', 1)).toBe('AE');
		expect(ack).toContain('MSH^1^10');
		expect(calls).toEqual([]);
	});

	it('emits typed stats for connections and messages', async () => {
		const server = await start(async () => {});
		const events: string[] = [];
		server.stats.on('connection', (e) => events.push(`connection:${e.state}`));
		server.stats.on('message', (e) => events.push(`message:${e.ack}:${e.commands}`));
		const c = await connect(server);
		await c.request(SAMPLE.adtA01);
		c.close();
		await new Promise((r) => setTimeout(r, 50));
		expect(events).toEqual(['connection:open', 'message:AA:1', 'connection:closed']);
	});

	it('still sends the ACKs after the sender half-closes', async () => {
		const server = await start(async () => {
			await new Promise((r) => setTimeout(r, 20));
		});
		const c = await connect(server);
		c.send(withControlId(SAMPLE.adtA08, 'h1'));
		c.send(withControlId(SAMPLE.adtA08, 'h2'));
		c.socket.end();
		const acks = await c.receive(2);
		expect(acks.map((a) => field(a, 'MSA', 2))).toEqual(['h1', 'h2']);
	});

	it('close() waits for the message in flight and acks it', async () => {
		const server = await start(async () => {
			await new Promise((r) => setTimeout(r, 100));
		});
		const c = await connect(server);
		c.send(SAMPLE.adtA08);
		await new Promise((r) => setTimeout(r, 20));
		const acks = c.receive(1);
		await server.close();
		expect(msa((await acks)[0])[0]).toBe('AA');
	});
});

describe('HL7 server, enhanced mode', () => {
	const enhanced = (accept: string, app: string) => withMshField(withMshField(SAMPLE.adtA08, 15, accept), 16, app);

	it('sends CA after commit, then the application AA with MSH-15/16 NE', async () => {
		const server = await start(async () => {});
		const c = await connect(server);
		c.send(enhanced('AL', 'AL'));
		const [ca, aa] = await c.receive(2);
		expect(msa(ca)).toEqual(['CA', 'ADT0008']);
		expect(msa(aa)).toEqual(['AA', 'ADT0008']);
		expect([field(aa, 'MSH', 15), field(aa, 'MSH', 16)]).toEqual(['NE', 'NE']);
	});

	it('sends CA when the handler signals commit, before its slow application work ends', async () => {
		let finish!: () => void;
		const server = await start(async (_i, ctx) => {
			ctx.accepted();
			await new Promise<void>((r) => (finish = r));
		});
		const c = await connect(server);
		c.send(enhanced('AL', 'AL'));
		const [ca] = await c.receive(1);
		expect(msa(ca)[0]).toBe('CA');
		finish();
		const [aa] = await c.receive(1);
		expect(msa(aa)[0]).toBe('AA');
	});

	it('after a CA the next message goes on while the first is still applied; each application ack follows its own message', async () => {
		let finishFirst!: () => void;
		const seen: boolean[] = [];
		const server = await start(async (inbound, ctx) => {
			seen.push(ctx.commitAccept);
			ctx.accepted();
			if (inbound.header.controlId === 'ADT0008') await new Promise<void>((r) => (finishFirst = r));
		});
		const c = await connect(server);
		c.send(enhanced('AL', 'AL'));
		c.send(withControlId(enhanced('AL', 'AL'), 'second'));
		const acks = await c.receive(3);
		expect(acks.map(msa)).toEqual([
			['CA', 'ADT0008'],
			['CA', 'second'],
			['AA', 'second']
		]);
		finishFirst();
		const [aa] = await c.receive(1);
		expect(msa(aa)).toEqual(['AA', 'ADT0008']);
		expect(seen).toEqual([true, true]);
	});

	it('original mode and MSH-15 NE do not ask the handler for a commit accept', async () => {
		const seen: boolean[] = [];
		const server = await start(async (_i, ctx) => {
			seen.push(ctx.commitAccept);
		});
		const c = await connect(server);
		await c.request(SAMPLE.adtA08);
		await c.request(withControlId(enhanced('NE', 'AL'), 'ne'));
		expect(seen).toEqual([false, false]);
	});

	it('honours MSH-15 AL / MSH-16 NE: commit ack only', async () => {
		const server = await start(async () => {});
		const c = await connect(server);
		c.send(enhanced('AL', 'NE'));
		c.send(withControlId(enhanced('AL', 'NE'), 'second'));
		const acks = await c.receive(2);
		expect(acks.map(msa)).toEqual([
			['CA', 'ADT0008'],
			['CA', 'second']
		]);
	});

	it('answers CE with ERR when the message fails before commit, CR for unsupported types', async () => {
		const server = await start(async () => {
			throw new Hl7ApplicationError(Hl7ErrorCode.applicationRecordLocked, 'record locked');
		});
		const c = await connect(server);
		const ce = await c.request(enhanced('AL', 'AL'));
		expect(msa(ce)[0]).toBe('CE');
		expect(field(ce, 'ERR', 3)).toMatch(/^206\^/);
		const cr = await c.request(enhanced('ER', 'AL').replace('ADT^A08^ADT_A01', 'SIU^S12'));
		expect(msa(cr)[0]).toBe('CR');
	});

	it('sends CA then AE when the application fails after commit', async () => {
		const server = await start(async (_i, ctx) => {
			ctx.accepted();
			throw new Hl7ApplicationError(Hl7ErrorCode.tableValueNotFound, 'unknown exam', { location: { segment: 'OBR', sequence: 1, field: 4 } });
		});
		const c = await connect(server);
		c.send(enhanced('AL', 'ER'));
		const [ca, ae] = await c.receive(2);
		expect(msa(ca)[0]).toBe('CA');
		expect(msa(ae)[0]).toBe('AE');
		expect(field(ae, 'ERR', 2)).toBe('OBR^1^4');
	});
});

describe('KeyedSerialQueue', () => {
	/** A task that finishes after `ms`, logging its name then. */
	const timed = (log: string[], name: string, ms: number) => () =>
		new Promise<string>((r) =>
			setTimeout(() => {
				log.push(name);
				r(name);
			}, ms)
		);

	it('runs tasks for one key in call order and different keys concurrently', async () => {
		const q = new KeyedSerialQueue();
		const log: string[] = [];
		const task = (name: string, ms: number) => timed(log, name, ms);
		const results = await Promise.all([q.run('p1', task('p1-a', 30)), q.run('p1', task('p1-b', 1)), q.run('p2', task('p2-a', 5))]);
		expect(results).toEqual(['p1-a', 'p1-b', 'p2-a']);
		expect(log).toEqual(['p2-a', 'p1-a', 'p1-b']);
		expect(q.size).toBe(0);
	});

	it('keeps going after a task fails', async () => {
		const q = new KeyedSerialQueue();
		await expect(q.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
		expect(await q.run('k', async () => 'next')).toBe('next');
	});

	it('a task with several keys waits for every earlier task sharing any of them, and holds all of them', async () => {
		const q = new KeyedSerialQueue();
		const log: string[] = [];
		const task = (name: string, ms: number) => timed(log, name, ms);
		await Promise.all([
			q.run(['patient-a'], task('a', 30)),
			q.run(['patient-b'], task('b', 10)),
			// Same study as both: after a and b.
			q.run(['patient-c', 'patient-a', 'patient-b'], task('c', 1)),
			// Shares only patient-c with the task before: after c, although its own work is shortest.
			q.run(['patient-c'], task('d', 0)),
			q.run(['patient-e'], task('e', 20))
		]);
		expect(log).toEqual(['b', 'e', 'a', 'c', 'd']);
		expect(q.size).toBe(0);
	});
});
