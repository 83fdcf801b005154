/**
 * Many MLLP senders at once against the real database handler, the way group
 * commit sees them: eight connections, each with one message outstanding, with
 * resends of other connections' messages and messages the database rejects
 * mixed in. Whatever shares a transaction, every AA must be on file and applied
 * exactly once, and every NACKed message must have left nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../workers/hl7/log';
import { SAMPLE, withControlId } from '../../../../workers/hl7/samples';
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

/** The messages of connection c, cycle n: an order, its change, a lab result (every third one refused), a report. */
function cycle(c: number, n: number): { id: string; text: string }[] {
	const mrn = `MRN-C${c}-${n}`;
	const acc = `ACC-C${c}-${n}`;
	const uid = `2.25.77${c}${String(n).padStart(3, '0')}`;
	const sample = (m: string, id: string) =>
		withControlId(m, id).replaceAll('MRN1234', mrn).replaceAll('ACC5001', acc).replace('1.2.840.113619.2.55.3.1234', uid);
	const lab = withControlId(SAMPLE.oruLab, `C${c}-${n}-lab`).replaceAll('MRN1234', mrn);
	return [
		{ id: `C${c}-${n}-new`, text: sample(SAMPLE.ormNew, `C${c}-${n}-new`) },
		{ id: `C${c}-${n}-chg`, text: sample(SAMPLE.ormChange, `C${c}-${n}-chg`) },
		// The sample carries a creatinine (2160-0); every third cycle keeps it and is refused, the others drop it.
		{ id: `C${c}-${n}-lab`, text: n % 3 === 0 ? lab : lab.replaceAll('2160-0', `LAB${n}`) },
		{ id: `C${c}-${n}-rpt`, text: sample(SAMPLE.oruReport, `C${c}-${n}-rpt`) }
	];
}

describe('HL7 ingest under concurrent senders (group commit)', () => {
	it('every AA is on file and applied once, every NACK leaves nothing, resends across connections are applied once', async () => {
		const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => MllpTestClient.connect(server.port)));
		const acks = new Map<string, string[]>();
		const record = (id: string, ack: string) => acks.set(id, [...(acks.get(id) ?? []), field(ack, 'MSA', 1)]);
		const transactionsBefore = handler.stats.transactions;
		await Promise.all(
			clients.map(async (client, c) => {
				for (let n = 0; n < CYCLES; n++) {
					for (const m of cycle(c, n)) record(m.id, await client.request(m.text));
					// A resend of the previous connection's order of this cycle (it may still be in flight there).
					const other = cycle((c + CONNECTIONS - 1) % CONNECTIONS, n)[0];
					record(other.id, await client.request(other.text));
				}
			})
		);
		for (const client of clients) client.close();
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
		expect(nacked.sort()).toEqual(
			Array.from({ length: CONNECTIONS }, (_, c) => Array.from({ length: CYCLES }, (_, n) => n).filter((n) => n % 3 === 0).map((n) => `C${c}-${n}-lab`))
				.flat()
				.sort()
		);
		const [{ refused }] = await sql`SELECT count(*)::int AS refused FROM clinical_context WHERE code = '2160-0'`;
		expect(refused).toBe(0);

		// Each order placed once (the resends were not applied again) and changed once.
		const perStudy = await sql<{ accession_number: string; placed: number; updated: number }[]>`
			SELECT s.accession_number,
				count(*) FILTER (WHERE e.kind = 'order_placed')::int AS placed,
				count(*) FILTER (WHERE e.kind = 'order_updated')::int AS updated
			FROM studies s JOIN study_events e ON e.study_id = s.id
			WHERE s.accession_number LIKE 'ACC-C%' GROUP BY s.accession_number`;
		expect(perStudy).toHaveLength(CONNECTIONS * CYCLES);
		for (const s of perStudy) expect({ acc: s.accession_number, placed: s.placed, updated: s.updated }).toEqual({ acc: s.accession_number, placed: 1, updated: 1 });
	});
});
