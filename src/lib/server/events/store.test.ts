import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { EVENTS_CHANNEL, eventsAfter, insertEvents, lastEventId, type NewEvent } from './store';
import { EventWriter } from './writer';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('store');
});
afterAll(async () => t?.drop());

const at = '2026-03-02T10:00:00.000Z';
const write = (events: NewEvent[]) => t.db.sql.begin((tx) => insertEvents(tx, events));

describe('insertEvents', () => {
	// Columns whose JSON holds only \" and \\ escapes are sent as JSON; any other escape makes the column quoted by hand.
	it.each([
		['sent as JSON', ['plain', 'say "hi"', 'end\\', '\\"', 'a,b', '{braces}', 'NULL', 'null', '', '  padded  ', 'ünïcødé ✓ 🙂']],
		['quoted by hand', ['back\\slash', 'line\nbreak', 'tab\there', '\\n literally', 'say "hi"', 'NULL']]
	])('stores every text exactly as given (array literal %s)', async (how, texts) => {
		const events: NewEvent[] = texts.map((s, i) => ({
			time: at,
			studyId: i,
			kind: s,
			actor: s,
			siteId: s,
			subspecialty: s,
			modality: s,
			priority: s,
			patientClass: s,
			payload: { s, nested: { list: [s, 1, null] } },
			idempotencyKey: `text:${how}:${i}:${s}`
		}));
		const cursor = await lastEventId(t.db.sql);
		const { inserted } = await write(events);
		const stored = await eventsAfter(t.db.sql, cursor);
		expect(stored.map((e) => [e.kind, e.actor, e.siteId, e.subspecialty, e.modality, e.priority, e.patientClass])).toEqual(texts.map((s) => Array(7).fill(s)));
		expect(stored.map((e) => e.payload)).toEqual(events.map((e) => e.payload));
		expect(stored).toEqual(inserted.map((e) => ({ ...e, time: new Date(e.time) })));
		const keys = await t.db.sql`SELECT idempotency_key AS k FROM study_events WHERE id = ANY(${inserted.map((e) => e.id)}) ORDER BY id`;
		expect(keys.map((r) => r.k)).toEqual(events.map((e) => e.idempotencyKey));
	});

	it('returns the stored events in input order, skipping keys repeated in the batch or stored before', async () => {
		await write([{ time: at, studyId: null, kind: 'first', actor: 'x', idempotencyKey: 'order:old' }]);
		const { inserted, duplicateKeys, storedBefore } = await write([
			{ time: at, studyId: null, kind: 'a', actor: 'x' },
			{ time: at, studyId: null, kind: 'b', actor: 'x', idempotencyKey: 'order:new' },
			{ time: at, studyId: null, kind: 'b-again', actor: 'x', idempotencyKey: 'order:new' },
			{ time: at, studyId: null, kind: 'old', actor: 'x', idempotencyKey: 'order:old' },
			{ time: at, studyId: null, kind: 'c', actor: 'x', siteId: null }
		]);
		expect(inserted.map((e) => e.kind)).toEqual(['a', 'b', 'c']);
		expect(inserted.map((e) => e.id)).toEqual([...inserted.map((e) => e.id)].sort((x, y) => x - y));
		expect(duplicateKeys).toEqual(['order:new', 'order:old']);
		expect(storedBefore).toEqual(['order:old']);
		expect(inserted[2]).toMatchObject({ siteId: null, subspecialty: null, payload: {} });
	});

	it('returns times as toISOString() writes them', async () => {
		const { inserted } = await write([
			{ time: '2026-03-02T10:05:00Z', studyId: null, kind: 'z', actor: 'x' },
			{ time: '2026-03-02T12:05:00.5+02:00', studyId: null, kind: 'offset', actor: 'x' },
			{ time: '2026-03-02T10:05:00.123Z', studyId: null, kind: 'canonical', actor: 'x' }
		]);
		expect(inserted.map((e) => e.time)).toEqual(['2026-03-02T10:05:00.000Z', '2026-03-02T10:05:00.500Z', '2026-03-02T10:05:00.123Z']);
	});
});

describe('EventWriter', () => {
	it('notifies listeners once the batch is committed, with its highest id', async () => {
		const heard: string[] = [];
		const listener = await t.db.sql.listen(EVENTS_CHANNEL, (id) => heard.push(id));
		try {
			const w = new EventWriter(t.db.sql);
			const stored = await Promise.all([1, 2, 3].map((i) => w.append({ time: at, studyId: null, kind: 'notify', actor: 'x', payload: { i } })));
			const top = Math.max(...stored.map((e) => e!.id));
			await expect.poll(() => heard).toContain(String(top));
		} finally {
			await listener.unlisten();
		}
	});

	it('a batch with a bad event is rolled back whole, every append in it fails, and the writer goes on', async () => {
		const w = new EventWriter(t.db.sql);
		const cursor = await lastEventId(t.db.sql);
		// The first append goes out alone; the next two wait for it and go out together.
		const results = await Promise.allSettled([
			w.append({ time: at, studyId: null, kind: 'alone', actor: 'x' }),
			w.append({ time: at, studyId: null, kind: 'good', actor: 'x', idempotencyKey: 'bad-batch:good' }),
			w.append({ time: 'not a time', studyId: null, kind: 'bad', actor: 'x' })
		]);
		expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
		expect((await eventsAfter(t.db.sql, cursor)).map((e) => e.kind)).toEqual(['alone']);
		// Its key was not kept either: the retry is stored.
		const again = await w.append({ time: at, studyId: null, kind: 'good', actor: 'x', idempotencyKey: 'bad-batch:good' });
		expect(again?.kind).toBe('good');
	});
});
