/**
 * The HL7 database handler's effects, message by message, on a real
 * PostgreSQL: the study lifecycle, order changes, reports, cancellations, ADT
 * class changes and duplicates. (The MLLP edge and mllp_send interop are
 * tested in ingest.test.ts and workers/hl7.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapInbound, type Hl7Inbound } from '../../../../workers/hl7/handlers';
import { parseHl7Message } from '../../../../workers/hl7/message';
import { SAMPLE, withControlId, withMshField } from '../../../../workers/hl7/samples';
import { createHl7DbHandler, splitIdempotencyKey } from './hl7-handler';
import { ingestTestEnv, type IngestTestEnv } from './test-kit';

let env: IngestTestEnv;
let handle: ReturnType<typeof createHl7DbHandler>;

beforeAll(async () => {
	env = await ingestTestEnv('hl7_handler');
	await env.tdb.db.sql`INSERT INTO sites (id, name) VALUES ('mercy', 'Mercy') ON CONFLICT DO NOTHING`;
	handle = createHl7DbHandler({ sql: env.tdb.db.sql, jobs: env.jobs, normalizer: env.normalizer, log: env.log });
});
afterAll(() => env?.close());

const sql = () => env.tdb.db.sql;

const inbound = (raw: string) => mapInbound(parseHl7Message(raw), { receivedAt: new Date().toISOString(), connectionId: 'test', unknownTypes: 'ack' });

async function send(raw: string): Promise<void> {
	await handle(inbound(raw), { accepted() {}, commitAccept: false });
}

/**
 * Hands `raws` to the handler in one go, as messages arriving together on many
 * connections: the first is written alone at once, the rest queue behind it and
 * share the next (group) transaction. Outcomes in order.
 */
function sendTogether(raws: string[]): Promise<PromiseSettledResult<void>[]> {
	const all = raws.map(inbound);
	return Promise.allSettled(all.map((m) => handle(m, { accepted() {}, commitAccept: false })));
}

/** A Study Instance UID of its own per accession. */
const studyUid = (acc: string) => `2.25.${[...acc].map((c) => c.charCodeAt(0)).join('')}`;

/** A sample rewritten for its own patient and accession. */
function sample(m: string, controlId: string, mrn: string, acc: string): string {
	return withControlId(m, controlId).replaceAll('MRN1234', mrn).replaceAll('ACC5001', acc).replace('1.2.840.113619.2.55.3.1234', studyUid(acc));
}

async function events(acc: string): Promise<{ kind: string; priority: string; payload: Record<string, unknown> }[]> {
	return sql()`SELECT e.kind, e.priority, e.payload FROM study_events e JOIN studies s ON s.id = e.study_id
		WHERE s.accession_number = ${acc} ORDER BY e.id`;
}

async function study(acc: string) {
	const [s] = await sql()`SELECT s.*, o.status AS order_status, o.priority AS order_priority FROM studies s LEFT JOIN orders o ON o.id = s.order_id
		WHERE s.accession_number = ${acc}`;
	return s;
}

describe('HL7 database handler', () => {
	it('a new order creates the patient, order and study with its exam, site and order_placed event', async () => {
		await send(sample(SAMPLE.ormNew, 'H-1', 'MRN-H1', 'ACC-H1'));
		const s = await study('ACC-H1');
		expect(s).toMatchObject({ status: 'ordered', priority: 'stat', patient_class: 'E', modality: 'CT', site_id: 'mercy', order_status: 'placed' });
		expect(s.exam_code).toBeTruthy();
		expect(s.study_instance_uid).toBe(studyUid('ACC-H1'));
		const [p] = await sql()`SELECT mrn, patient_class FROM patients WHERE id = ${s.patient_id}`;
		expect(p).toEqual({ mrn: 'MRN-H1', patient_class: 'E' });
		expect((await events('ACC-H1')).map((e) => e.kind)).toEqual(['order_placed']);
	});

	it('an order change with another priority records order_updated and priority_changed, and the study follows', async () => {
		await send(sample(SAMPLE.ormNew, 'H-2a', 'MRN-H2', 'ACC-H2'));
		await send(sample(SAMPLE.ormChange, 'H-2b', 'MRN-H2', 'ACC-H2'));
		const ev = await events('ACC-H2');
		expect(ev.map((e) => e.kind)).toEqual(['order_placed', 'order_updated', 'priority_changed']);
		expect(ev[2].payload).toMatchObject({ from: 'stat' });
		const s = await study('ACC-H2');
		expect(s.priority).toBe('asap');
		expect(s.order_priority).toBe('asap');
		expect(s.patient_class).toBe('O');
	});

	it('a change on a complete study moves its SLA deadline with the new priority', async () => {
		await send(sample(SAMPLE.ormNew, 'H-3a', 'MRN-H3', 'ACC-H3'));
		const s0 = await study('ACC-H3');
		await sql()`UPDATE studies SET status = 'complete', first_image_at = now() - interval '10 minutes', complete_at = now() - interval '5 minutes',
			sla_deadline = now() - interval '1 day' WHERE id = ${s0.id}`;
		await send(sample(SAMPLE.ormChange, 'H-3b', 'MRN-H3', 'ACC-H3'));
		const s = await study('ACC-H3');
		expect(s.priority).toBe('asap');
		// Recomputed from complete_at with the policy: the placeholder above lies before complete_at.
		expect(s.sla_deadline.getTime()).toBeGreaterThan(s.complete_at.getTime());
	});

	it('reports: preliminary is an event beside the lifecycle, final closes the clock, a correction after final is its own event', async () => {
		await send(sample(SAMPLE.ormNew, 'H-4a', 'MRN-H4', 'ACC-H4'));
		const s0 = await study('ACC-H4');
		await sql()`UPDATE studies SET status = 'opened', first_image_at = now() - interval '30 minutes', complete_at = now() - interval '25 minutes',
			triaged_at = now() - interval '24 minutes', assigned_at = now() - interval '20 minutes', opened_at = now() - interval '10 minutes' WHERE id = ${s0.id}`;
		const report = (id: string, status: string) => sample(SAMPLE.oruReport, id, 'MRN-H4', 'ACC-H4').replace('|||F|||||||8899', `|||${status}|||||||8899`);
		await send(report('H-4b', 'P'));
		expect((await study('ACC-H4')).status).toBe('opened');
		await send(report('H-4c', 'F'));
		const s = await study('ACC-H4');
		expect(s.status).toBe('reported');
		expect(s.reported_by).toBeTruthy();
		await send(report('H-4d', 'C'));
		expect((await events('ACC-H4')).map((e) => e.kind)).toEqual(['order_placed', 'report_preliminary', 'reported', 'report_corrected']);
		expect((await study('ACC-H4')).status).toBe('reported');
	});

	it('a cancel (ORC-1 CA) cancels the order and the study', async () => {
		await send(sample(SAMPLE.ormNew, 'H-5a', 'MRN-H5', 'ACC-H5'));
		await send(sample(SAMPLE.ormCancel, 'H-5b', 'MRN-H5', 'ACC-H5'));
		const s = await study('ACC-H5');
		expect(s.status).toBe('cancelled');
		expect(s.order_status).toBe('cancelled');
		expect((await events('ACC-H5')).map((e) => e.kind)).toEqual(['order_placed', 'cancelled']);
	});

	it('an ADT class change updates every open study of the patient, each with its own event', async () => {
		await send(sample(SAMPLE.ormNew, 'H-6a', 'MRN-H6', 'ACC-H6A'));
		await send(sample(SAMPLE.ormNew, 'H-6b', 'MRN-H6', 'ACC-H6B'));
		await send(withControlId(SAMPLE.adtA08, 'H-6c').replaceAll('MRN1234', 'MRN-H6').replace('PV1|1|E|', 'PV1|1|I|'));
		for (const acc of ['ACC-H6A', 'ACC-H6B']) {
			expect((await study(acc)).patient_class).toBe('I');
			const ev = await events(acc);
			expect(ev.map((e) => e.kind)).toEqual(['order_placed', 'order_updated']);
			expect(ev[1].payload).toMatchObject({ patient_class: 'I', visit_event: 'update' });
		}
		// The same message again is a duplicate: nothing applied twice.
		await send(withControlId(SAMPLE.adtA08, 'H-6c').replaceAll('MRN1234', 'MRN-H6').replace('PV1|1|E|', 'PV1|1|I|'));
		expect(await events('ACC-H6A')).toHaveLength(2);
		expect(handle.stats.duplicates).toBeGreaterThan(0);
	});

	it('a failure inside the transaction (a statement the server rejects) leaves nothing behind and says why', async () => {
		await sql()`ALTER TABLE clinical_context ADD CONSTRAINT no_creatinine CHECK (code <> '2160-0')`;
		try {
			await expect(send(withControlId(SAMPLE.oruLab, 'H-7').replaceAll('MRN1234', 'MRN-H7'))).rejects.toThrow(/no_creatinine/);
		} finally {
			await sql()`ALTER TABLE clinical_context DROP CONSTRAINT no_creatinine`;
		}
		expect(await sql()`SELECT 1 FROM hl7_messages WHERE control_id = 'H-7'`).toHaveLength(0);
		expect(await sql()`SELECT 1 FROM patients WHERE mrn = 'MRN-H7'`).toHaveLength(0);
		// The sender's retry is applied.
		await send(withControlId(SAMPLE.oruLab, 'H-7').replaceAll('MRN1234', 'MRN-H7'));
		const [{ n }] = await sql()`SELECT count(*)::int AS n FROM clinical_context c JOIN patients p ON p.id = c.patient_id WHERE p.mrn = 'MRN-H7'`;
		expect(n).toBe(3);
	});

	describe('group commit (messages arriving together share one transaction)', () => {
		it('many senders at once: fewer transactions than messages, and every message applied exactly once', async () => {
			const before = handle.stats.transactions;
			const accs = Array.from({ length: 12 }, (_, i) => `ACC-G1-${i}`);
			const outcomes = await sendTogether(accs.map((acc, i) => sample(SAMPLE.ormNew, `G-1-${i}`, `MRN-G1-${i}`, acc)));
			expect(outcomes.every((o) => o.status === 'fulfilled')).toBe(true);
			expect(handle.stats.transactions - before).toBeLessThan(accs.length);
			for (const acc of accs) {
				expect((await study(acc)).status).toBe('ordered');
				expect((await events(acc)).map((e) => e.kind)).toEqual(['order_placed']);
			}
		});

		it('a group with a duplicate and a message the server rejects: each gets the outcome it gets alone, nothing else is lost', async () => {
			await send(sample(SAMPLE.ormNew, 'G-2-first', 'MRN-G2', 'ACC-G2'));
			const duplicatesBefore = handle.stats.duplicates;
			const failedBefore = handle.stats.failedGroups;
			await sql()`ALTER TABLE clinical_context ADD CONSTRAINT no_creatinine_g CHECK (code <> '2160-0') NOT VALID`;
			const outcomes = await sendTogether([
				// Written alone (the writer is idle); the rest queue behind it and form one group.
				sample(SAMPLE.ormNew, 'G-2-lead', 'MRN-G2-lead', 'ACC-G2-lead'),
				// A resend of a committed message.
				sample(SAMPLE.ormNew, 'G-2-first', 'MRN-G2', 'ACC-G2'),
				// A statement the server rejects (the constraint above): it aborts the shared transaction.
				withControlId(SAMPLE.oruLab, 'G-2-bad').replaceAll('MRN1234', 'MRN-G2-bad'),
				sample(SAMPLE.ormNew, 'G-2-fresh', 'MRN-G2-fresh', 'ACC-G2-fresh')
			]).finally(() => sql()`ALTER TABLE clinical_context DROP CONSTRAINT no_creatinine_g`);
			expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
			expect((outcomes[2] as PromiseRejectedResult).reason.message).toMatch(/no_creatinine_g/);
			expect(handle.stats.failedGroups).toBe(failedBefore + 1);
			expect(handle.stats.duplicates).toBe(duplicatesBefore + 1);
			expect((await events('ACC-G2')).map((e) => e.kind)).toEqual(['order_placed']);
			expect(await sql()`SELECT 1 FROM hl7_messages WHERE control_id = 'G-2-bad'`).toHaveLength(0);
			expect(await sql()`SELECT 1 FROM patients WHERE mrn = 'MRN-G2-bad'`).toHaveLength(0);
			expect((await study('ACC-G2-fresh')).status).toBe('ordered');
			expect((await events('ACC-G2-fresh')).map((e) => e.kind)).toEqual(['order_placed']);
		});

		it('two messages with no ordering key in common that reach one study are applied one after the other, no change lost', async () => {
			await send(sample(SAMPLE.ormNew, 'G-3a', 'MRN-G3', 'ACC-G3'));
			const s0 = await study('ACC-G3');
			await sql()`UPDATE studies SET status = 'opened', first_image_at = now() - interval '30 minutes', complete_at = now() - interval '25 minutes',
				triaged_at = now() - interval '24 minutes', assigned_at = now() - interval '20 minutes', opened_at = now() - interval '10 minutes' WHERE id = ${s0.id}`;
			const failedBefore = handle.stats.failedGroups;
			await sendTogether([
				sample(SAMPLE.ormNew, 'G-3-lead', 'MRN-G3-lead', 'ACC-G3-lead'),
				// The patient becomes an inpatient (keys: MRN-G3) ...
				withControlId(SAMPLE.adtA08, 'G-3-adt').replaceAll('MRN1234', 'MRN-G3').replace('PV1|1|E|', 'PV1|1|I|'),
				// ... while the final report for the study arrives filed under another MRN (keys: that MRN, ACC-G3).
				sample(SAMPLE.oruReport, 'G-3-report', 'MRN-G3-other', 'ACC-G3')
			]);
			expect(handle.stats.failedGroups).toBe(failedBefore + 1);
			// Either order is a valid history (an ADT after the report leaves a reported study alone), but the row must
			// agree with its events: interleaved on one snapshot, one update would overwrite the other.
			const s = await study('ACC-G3');
			const kinds = (await events('ACC-G3')).map((e) => e.kind);
			expect(s.status).toBe('reported');
			expect(kinds).toContain('reported');
			expect(s.patient_class).toBe(kinds.includes('order_updated') ? 'I' : 'E');
		});
	});

	describe('enhanced mode with a commit accept (two-phase)', () => {
		const enhanced = (raw: string) => withMshField(withMshField(raw, 15, 'AL'), 16, 'NE');
		const row = async (controlId: string) =>
			(await sql()<{ ack_code: string; pending: boolean; error: string | null }[]>`SELECT ack_code, pending, error FROM hl7_messages WHERE control_id = ${controlId}`)[0];

		/** Hands one message over as the edge does; resolves when it is accepted (CA), with its application still to settle. */
		function sendAccepted(m: Hl7Inbound | string): Promise<{ applied: Promise<void> }> {
			return new Promise((resolve, reject) => {
				const applied = handle(typeof m === 'string' ? inbound(m) : m, { accepted: () => resolve({ applied }), commitAccept: true });
				applied.then(() => resolve({ applied }), reject);
			});
		}

		/**
		 * Holds `table` locked against writes until the returned function is called:
		 * what applies a message waits there, the raw insert behind a CA does not.
		 */
		async function holdTable(table: 'patients'): Promise<() => Promise<void>> {
			let release!: () => void;
			let locked!: () => void;
			const isLocked = new Promise<void>((r) => (locked = r));
			const held = sql().begin(async (tx) => {
				await tx.unsafe(`LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE`);
				locked();
				await new Promise<void>((r) => (release = r));
			});
			await isLocked;
			return async () => {
				release();
				await held;
			};
		}

		it('the CA goes out once the raw message is stored pending; the commands are applied after it', async () => {
			const release = await holdTable('patients');
			let accepted: Awaited<ReturnType<typeof sendAccepted>>;
			try {
				accepted = await sendAccepted(enhanced(sample(SAMPLE.ormNew, 'E-1', 'MRN-E1', 'ACC-E1')));
				// What the database holds when the CA is sent: the raw text, durable, pending; nothing applied.
				expect(await row('E-1')).toMatchObject({ ack_code: 'CA', pending: true });
				expect(await study('ACC-E1')).toBeUndefined();
				expect(handle.stats.pending).toBe(1);
			} finally {
				await release();
			}
			await accepted.applied;
			await handle.idle();
			expect(await row('E-1')).toMatchObject({ ack_code: 'CA', pending: false, error: null });
			expect((await events('ACC-E1')).map((e) => e.kind)).toEqual(['order_placed']);
			expect(handle.stats.pending).toBe(0);
		});

		it('past maxPending accepted and unapplied messages, the next CA waits until one is applied', async () => {
			const small = createHl7DbHandler({ sql: sql(), jobs: env.jobs, normalizer: env.normalizer, log: env.log, maxPending: 1 });
			const release = await holdTable('patients');
			let secondAccepted = false;
			let first: Promise<void> | undefined;
			let second: Promise<void> | undefined;
			try {
				await new Promise<void>((resolve, reject) => {
					first = small(inbound(enhanced(sample(SAMPLE.ormNew, 'E-7a', 'MRN-E7a', 'ACC-E7a'))), { commitAccept: true, accepted: resolve });
					first.catch(reject);
				});
				second = small(inbound(enhanced(sample(SAMPLE.ormNew, 'E-7b', 'MRN-E7b', 'ACC-E7b'))), {
					commitAccept: true,
					accepted: () => (secondAccepted = true)
				});
				await new Promise((r) => setTimeout(r, 200));
				// The first is stuck behind the lock: the second is neither accepted nor stored.
				expect(secondAccepted).toBe(false);
				expect(await row('E-7b')).toBeUndefined();
			} finally {
				await release();
			}
			await Promise.all([first, second]);
			expect(secondAccepted).toBe(true);
			expect((await row('E-7b')).pending).toBe(false);
		});

		it('a later message for the same study is applied after the earlier one, though both were accepted before either applied', async () => {
			const order = await sendAccepted(enhanced(sample(SAMPLE.ormNew, 'E-2a', 'MRN-E2', 'ACC-E2')));
			// The edge goes on after the CA: the final report arrives while the order may still be applying.
			const report = await sendAccepted(enhanced(sample(SAMPLE.oruReport, 'E-2b', 'MRN-E2', 'ACC-E2')));
			await Promise.all([order.applied, report.applied]);
			expect((await study('ACC-E2')).status).toBe('reported');
			expect((await events('ACC-E2')).map((e) => e.kind)).toEqual(['order_placed', 'reported']);
		});

		it('a resend is accepted again and applied once, in either mode', async () => {
			const raw = enhanced(sample(SAMPLE.ormNew, 'E-3', 'MRN-E3', 'ACC-E3'));
			await (await sendAccepted(raw)).applied;
			const duplicates = handle.stats.duplicates;
			await (await sendAccepted(raw)).applied;
			await send(raw);
			expect(handle.stats.duplicates).toBe(duplicates + 2);
			expect((await events('ACC-E3')).map((e) => e.kind)).toEqual(['order_placed']);
		});

		it('a message the application refuses after its CA is recorded AE with the reason, and is no longer pending', async () => {
			const m = inbound(enhanced(sample(SAMPLE.ormNew, 'E-4', 'MRN-E4', 'ACC-E4')));
			// What mapping lets through but the application refuses (here: the accession, blanked after mapping).
			(m.commands[0] as { accessionNumber: string }).accessionNumber = '';
			const { applied } = await sendAccepted(m);
			expect(await row('E-4')).toBeDefined();
			await expect(applied).rejects.toThrow(/accession number missing/);
			expect(await row('E-4')).toMatchObject({ ack_code: 'AE', pending: false, error: expect.stringMatching(/^101 accession number missing/) });
			expect(await study('ACC-E4')).toBeUndefined();
		});

		it('a database failure that passes (here two serialization failures) is retried until the accepted message is applied', async () => {
			// nextval is not rolled back with the failed transaction: the trigger fails the first two tries only.
			await sql()`CREATE SEQUENCE flaky_seq`;
			await sql().unsafe(`CREATE FUNCTION flaky_fail() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN IF nextval('flaky_seq') <= 2 THEN RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$`);
			await sql()`CREATE TRIGGER flaky BEFORE INSERT ON clinical_context FOR EACH STATEMENT EXECUTE FUNCTION flaky_fail()`;
			try {
				const { applied } = await sendAccepted(enhanced(withControlId(SAMPLE.oruLab, 'E-6').replaceAll('MRN1234', 'MRN-E6')));
				await applied;
			} finally {
				await sql()`DROP TRIGGER flaky ON clinical_context`;
				await sql()`DROP FUNCTION flaky_fail()`;
				await sql()`DROP SEQUENCE flaky_seq`;
			}
			expect(await row('E-6')).toMatchObject({ ack_code: 'CA', pending: false, error: null });
			const [{ n }] = await sql()`SELECT count(*)::int AS n FROM clinical_context c JOIN patients p ON p.id = c.patient_id WHERE p.mrn = 'MRN-E6'`;
			expect(n).toBe(3);
		});

		it('messages accepted by a process that stopped before applying them are applied by the next one, oldest first, once', async () => {
			// What a crash between the CA and the apply leaves: pending rows, nothing applied.
			const order = enhanced(sample(SAMPLE.ormNew, 'E-5a', 'MRN-E5', 'ACC-E5'));
			const report = enhanced(sample(SAMPLE.oruReport, 'E-5b', 'MRN-E5', 'ACC-E5'));
			for (const raw of [order, report]) {
				const { sender, controlId } = splitIdempotencyKey(inbound(raw).idempotencyKey);
				await sql()`INSERT INTO hl7_messages (sender, control_id, message_type, received_at, ack_code, raw, pending)
					VALUES (${sender}, ${controlId}, 'ORM^O01', now() - interval '2 minutes', 'CA', ${raw}, true)`;
			}
			const next = createHl7DbHandler({ sql: sql(), jobs: env.jobs, normalizer: env.normalizer, log: env.log });
			const first = await next.recoverPending({ mapping: { unknownTypes: 'ack' } });
			expect(first.found).toBe(2);
			await first.applied;
			expect((await events('ACC-E5')).map((e) => e.kind)).toEqual(['order_placed', 'reported']);
			expect((await row('E-5a')).pending).toBe(false);
			expect((await row('E-5b')).pending).toBe(false);
			// A second pass (another process, a later sweep) finds nothing to do.
			expect((await next.recoverPending({ mapping: { unknownTypes: 'ack' } })).found).toBe(0);
		});
	});
});
