import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { applyStudyCommand, getStudyRow } from './transition';
import { eventsAfter, insertEvents, lastEventId } from './store';
import { EventWriter } from './writer';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('transition');
	await t.db.sql`INSERT INTO sites (id, name) VALUES ('main', 'Main Hospital')`;
});
afterAll(async () => t?.drop());

async function newStudy(accession: string): Promise<number> {
	const [r] = await t.db.sql`INSERT INTO studies (accession_number, site_id, modality, subspecialty, priority, patient_class)
		VALUES (${accession}, 'main', 'CT', 'neuro', 'routine', 'E') RETURNING id`;
	return r.id as number;
}

describe('applyStudyCommand', () => {
	it('updates the row, appends one event with the dimensions, and bumps the version', async () => {
		const id = await newStudy('A1');
		const r = await applyStudyCommand(t.db.sql, null, {
			studyId: id,
			event: { kind: 'image_received', at: '2026-03-02T10:00:00.000Z' },
			actor: 'dicom:CT1',
			idempotencyKey: 'sop:1.2.3.1'
		});
		expect(r.status).toBe('applied');
		const row = await getStudyRow(t.db.sql, id);
		expect(row?.status).toBe('arriving');
		expect(row?.version).toBe(1);
		const events = await t.db.sql`SELECT kind, site_id, modality, subspecialty, payload FROM study_events WHERE study_id = ${id}`;
		expect(events).toHaveLength(1);
		expect(events[0]).toMatchObject({ kind: 'image_received', site_id: 'main', modality: 'CT', subspecialty: 'neuro' });
	});

	it('a retry with the same idempotency key is acknowledged as a duplicate and changes nothing', async () => {
		const id = await newStudy('A2');
		const cmd = { studyId: id, event: { kind: 'image_received', at: '2026-03-02T10:00:00.000Z' } as const, actor: 'dicom', idempotencyKey: 'sop:dup' };
		expect((await applyStudyCommand(t.db.sql, null, cmd)).status).toBe('applied');
		expect((await applyStudyCommand(t.db.sql, null, cmd)).status).toBe('duplicate');
		const [{ n }] = await t.db.sql`SELECT count(*)::int AS n FROM study_events WHERE study_id = ${id}`;
		expect(n).toBe(1);
		expect((await getStudyRow(t.db.sql, id))?.version).toBe(1);
	});

	it('concurrent commands on the same study never double-apply', async () => {
		const id = await newStudy('A3');
		await applyStudyCommand(t.db.sql, null, { studyId: id, event: { kind: 'image_received', at: '2026-03-02T10:00:00Z' }, actor: 'x' });
		// Ten people press "complete" at once, and five retries of one keyed command race too.
		const racing = [
			...Array.from({ length: 10 }, (_, i) =>
				applyStudyCommand(t.db.sql, null, { studyId: id, event: { kind: 'complete', at: '2026-03-02T10:10:00Z' }, actor: `u${i}` })
			),
			...Array.from({ length: 5 }, () =>
				applyStudyCommand(t.db.sql, null, { studyId: id, event: { kind: 'priority_changed', at: '2026-03-02T10:11:00Z', priority: 'stat' }, actor: 'hl7', idempotencyKey: 'hl7:RIS|42' })
			)
		];
		const outcomes = await Promise.all(racing);
		const completes = outcomes.slice(0, 10);
		expect(completes.filter((o) => o.status === 'applied')).toHaveLength(1);
		expect(completes.filter((o) => o.status === 'refused')).toHaveLength(9);
		const prio = outcomes.slice(10);
		expect(prio.filter((o) => o.status === 'applied')).toHaveLength(1);
		expect(prio.filter((o) => o.status === 'duplicate')).toHaveLength(4);
		const kinds = await t.db.sql`SELECT kind FROM study_events WHERE study_id = ${id} ORDER BY id`;
		expect(kinds.map((k) => k.kind)).toEqual(['image_received', expect.any(String), expect.any(String)]);
		expect(kinds.filter((k) => k.kind === 'complete')).toHaveLength(1);
	});

	it('optimistic concurrency: a stale expected version is a conflict', async () => {
		const id = await newStudy('A4');
		await applyStudyCommand(t.db.sql, null, { studyId: id, event: { kind: 'image_received', at: '2026-03-02T10:00:00Z' }, actor: 'x' });
		const r = await applyStudyCommand(t.db.sql, null, { studyId: id, expectedVersion: 0, event: { kind: 'cancelled', at: '2026-03-02T10:00:00Z' }, actor: 'x' });
		expect(r).toEqual({ status: 'conflict', currentVersion: 1 });
	});

	it('a report records turnaround minutes for the hourly rollup', async () => {
		const id = await newStudy('A5');
		for (const [kind, at] of [['image_received', '2026-03-02T10:00:00Z'], ['complete', '2026-03-02T10:05:00Z'], ['reported', '2026-03-02T10:50:00Z']] as const) {
			await applyStudyCommand(t.db.sql, null, { studyId: id, event: { kind, at }, actor: 'x' });
		}
		const [ev] = await t.db.sql`SELECT payload FROM study_events WHERE study_id = ${id} AND kind = 'reported'`;
		expect(ev.payload.tat_minutes).toBe(45);
		const [h] = await t.db.sql`SELECT reported::int, tat_sum_min FROM study_hourly WHERE bucket = '2026-03-02T10:00:00Z' AND site_id = 'main' AND reported > 0`;
		expect(h.reported).toBeGreaterThanOrEqual(1);
	});
});

describe('EventWriter (group commit)', () => {
	it('commits concurrent appends in id order, skips repeated keys and reports them as null', async () => {
		const w = new EventWriter(t.db.sql, { maxBatch: 50 });
		const [{ max: before }] = await t.db.sql`SELECT coalesce(max(id), 0)::bigint AS max FROM study_events`;
		const results = await Promise.all(
			Array.from({ length: 300 }, (_, i) =>
				w.append({ time: '2026-03-02T11:00:00Z', studyId: null, kind: 'bench', actor: 'test', idempotencyKey: `k${i % 250}`, payload: { i } })
			)
		);
		expect(results.filter((r) => r === null)).toHaveLength(50);
		const stored = await eventsAfter(t.db.sql, Number(before), 1000);
		expect(stored).toHaveLength(250);
		const ids = stored.map((e) => e.id);
		expect([...ids].sort((a, b) => a - b)).toEqual(ids);
		// Each caller got its own event back.
		const firstFive = results.slice(0, 5).map((r) => r?.payload.i);
		expect(firstFive).toEqual([0, 1, 2, 3, 4]);
	});
});

describe('id-order guarantee for readers', () => {
	it('a reader never sees a later id while a lower one is still uncommitted, and writers do not wait for each other', async () => {
		const cursor = await lastEventId(t.db.sql);
		const slow = await t.db.sql.reserve();
		try {
			await slow`BEGIN`;
			// The slow writer draws the lower id and keeps its transaction open...
			const { inserted: [low] } = await insertEvents(slow, [{ time: '2026-03-02T12:00:00Z', studyId: null, kind: 'gap_probe', actor: 'test' }]);
			// ...while a second writer draws a higher id and commits without waiting for it.
			const { inserted: [high] } = await t.db.sql.begin((tx) =>
				insertEvents(tx, [{ time: '2026-03-02T12:00:01Z', studyId: null, kind: 'gap_probe', actor: 'test' }])
			);
			expect(high.id).toBeGreaterThan(low.id);
			let seen: number[] | null = null;
			const read = eventsAfter(t.db.sql, cursor, 100).then((events) => (seen = events.map((e) => e.id)));
			await new Promise((r) => setTimeout(r, 300));
			expect(seen).toBeNull(); // still waiting: returning `high` now would let the cursor skip `low`
			await slow`COMMIT`;
			await read;
			expect(seen).toEqual([low.id, high.id]);
			expect(await lastEventId(t.db.sql)).toBe(high.id);
		} finally {
			slow.release();
		}
	});
});
