/**
 * Many MLLP senders at once against the real database handler, the way group
 * commit sees them: eight connections, each with one message outstanding, with
 * resends of other connections' messages and messages the database rejects
 * mixed in. Whatever shares a transaction, every AA must be on file and applied
 * exactly once, and every NACKed message must have left nothing behind. The
 * same again in enhanced mode (CA once stored, applied after): every CA'd
 * message is applied once, and the refused ones are on file as refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../workers/hl7/log';
import { SAMPLE, withControlId, withMshField } from '../../../../workers/hl7/samples';
import { startHl7Server, type Hl7Server } from '../../../../workers/hl7/server';
import { MllpTestClient, field } from '../../../../workers/hl7/testing';
import { createHl7DbHandler } from './hl7-handler';
import { ingestTestEnv, type IngestTestEnv } from './test-kit';

let env: IngestTestEnv;
let server: Hl7Server;
let handler: ReturnType<typeof createHl7DbHandler>;

beforeAll(async () => {
	env = await ingestTestEnv('hl7_concurrency');
	// Creatinine results are refused by the database: those messages fail inside a (shared) transaction.
	await env.tdb.db.sql`ALTER TABLE clinical_context ADD CONSTRAINT no_creatinine CHECK (code <> '2160-0')`;
	handler = createHl7DbHandler({ sql: env.tdb.db.sql, jobs: env.jobs, normalizer: env.normalizer, log: env.log });
	server = await startHl7Server({ port: 0, host: '127.0.0.1', handler }, silentLogger);
});

afterAll(async () => {
	await server?.close();
	await env?.close();
});

const CONNECTIONS = 8;
const CYCLES = 12;

type Mode = 'original' | 'enhanced';

/**
 * The messages of connection c, cycle n: an order, its change, a lab result
 * (every third one refused), a report. Enhanced: MSH-15 AL, MSH-16 NE (the
 * sender waits for the CA only). Identifiers carry the mode's letter.
 */
function cycle(mode: Mode, c: number, n: number): { id: string; text: string }[] {
	const p = mode === 'original' ? 'C' : 'D';
	const mrn = `MRN-${p}${c}-${n}`;
	const acc = `ACC-${p}${c}-${n}`;
	const uid = `2.25.77${mode === 'original' ? 1 : 2}${c}${String(n).padStart(3, '0')}`;
	const ack = (m: string) => (mode === 'enhanced' ? withMshField(withMshField(m, 15, 'AL'), 16, 'NE') : m);
	const sample = (m: string, id: string) =>
		ack(withControlId(m, id).replaceAll('MRN1234', mrn).replaceAll('ACC5001', acc).replace('1.2.840.113619.2.55.3.1234', uid));
	const lab = ack(withControlId(SAMPLE.oruLab, `${p}${c}-${n}-lab`).replaceAll('MRN1234', mrn));
	return [
		{ id: `${p}${c}-${n}-new`, text: sample(SAMPLE.ormNew, `${p}${c}-${n}-new`) },
		{ id: `${p}${c}-${n}-chg`, text: sample(SAMPLE.ormChange, `${p}${c}-${n}-chg`) },
		// The sample carries a creatinine (2160-0); every third cycle keeps it and is refused, the others drop it.
		{ id: `${p}${c}-${n}-lab`, text: n % 3 === 0 ? lab : lab.replaceAll('2160-0', `LAB${n}`) },
		{ id: `${p}${c}-${n}-rpt`, text: sample(SAMPLE.oruReport, `${p}${c}-${n}-rpt`) }
	];
}

/** Eight senders, each cycle's messages in order plus a resend of the previous connection's order; the ack codes per control id. */
async function sendAll(mode: Mode): Promise<Map<string, string[]>> {
	const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => MllpTestClient.connect(server.port)));
	const acks = new Map<string, string[]>();
	const record = (id: string, ack: string) => acks.set(id, [...(acks.get(id) ?? []), field(ack, 'MSA', 1)]);
	await Promise.all(
		clients.map(async (client, c) => {
			for (let n = 0; n < CYCLES; n++) {
				for (const m of cycle(mode, c, n)) record(m.id, await client.request(m.text));
				// A resend of the previous connection's order of this cycle (it may still be in flight there).
				const other = cycle(mode, (c + CONNECTIONS - 1) % CONNECTIONS, n)[0];
				record(other.id, await client.request(other.text));
			}
		})
	);
	for (const client of clients) client.close();
	return acks;
}

/** The labs every third cycle carries with the refused creatinine. */
function refusedLabs(mode: Mode): string[] {
	const p = mode === 'original' ? 'C' : 'D';
	return Array.from({ length: CONNECTIONS }, (_, c) => Array.from({ length: CYCLES }, (_, n) => n).filter((n) => n % 3 === 0).map((n) => `${p}${c}-${n}-lab`))
		.flat()
		.sort();
}

/** Each order placed once (the resends were not applied again) and changed once. */
async function expectEachOrderPlacedAndChangedOnce(mode: Mode): Promise<void> {
	const perStudy = await env.tdb.db.sql<{ accession_number: string; placed: number; updated: number }[]>`
		SELECT s.accession_number,
			count(*) FILTER (WHERE e.kind = 'order_placed')::int AS placed,
			count(*) FILTER (WHERE e.kind = 'order_updated')::int AS updated
		FROM studies s JOIN study_events e ON e.study_id = s.id
		WHERE s.accession_number LIKE ${`ACC-${mode === 'original' ? 'C' : 'D'}%`} GROUP BY s.accession_number`;
	expect(perStudy).toHaveLength(CONNECTIONS * CYCLES);
	for (const s of perStudy) expect({ acc: s.accession_number, placed: s.placed, updated: s.updated }).toEqual({ acc: s.accession_number, placed: 1, updated: 1 });
}

describe('HL7 ingest under concurrent senders (group commit)', () => {
	it('every AA is on file and applied once, every NACK leaves nothing, resends across connections are applied once', async () => {
		const transactionsBefore = handler.stats.transactions;
		const acks = await sendAll('original');
		const sql = env.tdb.db.sql;

		const sent = CONNECTIONS * CYCLES * 5;
		expect([...acks.values()].flat()).toHaveLength(sent);
		// Group commit did share transactions (fewer than one per message).
		expect(handler.stats.transactions - transactionsBefore).toBeLessThan(sent);

		const stored = new Map((await sql<{ control_id: string; ack_code: string }[]>`SELECT control_id, ack_code FROM hl7_messages`).map((r) => [r.control_id, r.ack_code]));
		for (const [id, codes] of acks) {
			if (codes.includes('AA')) expect(stored.get(id), id).toBe('AA');
			else expect(stored.get(id), id).not.toBe('AA');
		}
		// Exactly the refused labs were NACKed, each with nothing of it stored.
		const nacked = [...acks].filter(([, codes]) => !codes.includes('AA')).map(([id]) => id);
		expect(nacked.sort()).toEqual(refusedLabs('original'));
		const [{ refused }] = await sql`SELECT count(*)::int AS refused FROM clinical_context WHERE code = '2160-0'`;
		expect(refused).toBe(0);
		await expectEachOrderPlacedAndChangedOnce('original');
	});

	it('enhanced mode: every message gets its CA, each is applied once after it, the refused ones are on file as AR and left nothing', async () => {
		const acks = await sendAll('enhanced');
		const sql = env.tdb.db.sql;
		expect([...acks.values()].flat()).toHaveLength(CONNECTIONS * CYCLES * 5);
		// The database refuses the creatinine labs only when they are applied, after their CA.
		expect([...acks.values()].flat().every((code) => code === 'CA')).toBe(true);
		await handler.idle();

		const rows = await sql<{ control_id: string; ack_code: string; pending: boolean; error: string | null }[]>`
			SELECT control_id, ack_code, pending, error FROM hl7_messages WHERE control_id LIKE 'D%'`;
		expect(rows).toHaveLength(acks.size);
		expect(rows.filter((r) => r.pending)).toEqual([]);
		const refused = rows.filter((r) => r.ack_code !== 'CA');
		expect(refused.map((r) => r.control_id).sort()).toEqual(refusedLabs('enhanced'));
		for (const r of refused) expect(r, r.control_id).toMatchObject({ ack_code: 'AR', error: expect.stringMatching(/^207 .*no_creatinine/) });
		const [{ n }] = await sql`SELECT count(*)::int AS n FROM clinical_context WHERE code = '2160-0'`;
		expect(n).toBe(0);
		await expectEachOrderPlacedAndChangedOnce('enhanced');
	});
});
