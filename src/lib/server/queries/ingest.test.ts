import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import {
	failureReasons,
	ingestRates,
	instancesPerMinute,
	liveRoleStatus,
	recentIngestFailures,
	summarizeDicomStatus,
	summarizeHl7Status,
	volumeBySender
} from './ingest';

let t: TestDatabase;
// A fixed clock, mid-minute, so bucket edges are deterministic.
const NOW = new Date('2025-03-04T10:30:30.000Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);

beforeAll(async () => {
	t = await createTestDatabase('q_ingest');
	const sql = t.db.sql;
	const [{ id: studyId }] = await sql`INSERT INTO studies (study_instance_uid, modality) VALUES ('1.2.3', 'CT') RETURNING id`;
	const [{ id: seriesId }] = await sql`INSERT INTO series (study_id, series_instance_uid) VALUES (${studyId}, '1.2.3.1') RETURNING id`;
	// Seconds before NOW, size, calling AE.
	const received: [number, number, string][] = [
		[10, 1000, 'CT1'], // within 1 min
		[50, 3000, 'CT1'], // within 1 min
		[120, 5000, 'MR1'], // within 5 min
		[600, 7000, 'MR1'], // within 15 min
		[1200, 9000, 'CT1'], // within 60 min only
		[4000, 11000, 'CT1'], // older than an hour
		[-30, 13000, 'CT1'] // after NOW: not counted
	];
	for (const [i, [s, size, ae]] of received.entries()) {
		await sql`INSERT INTO instances (sop_instance_uid, series_id, study_id, sop_class_uid, transfer_syntax_uid, blob_path, size_bytes, calling_ae, received_at)
			VALUES (${`1.2.3.1.${i}`}, ${seriesId}, ${studyId}, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', 'x', ${size}, ${ae}, ${ago(s)})`;
	}
	await sql`INSERT INTO ingest_failures (at, source, peer, reason, details) VALUES
		(${ago(30)}, 'dicom', '10.0.0.5:4100', 'missing SOP Instance UID', ${JSON.stringify({ callingAe: 'CT1' })}::text::jsonb),
		(${ago(20)}, 'dicom', '10.0.0.5:4100', 'missing SOP Instance UID', '{}'),
		(${ago(10)}, 'hl7', '10.0.0.9:2575', 'MSH-9 missing', '{}'),
		(${ago(90_000)}, 'dicom', null, 'old failure', '{}')`;
	await sql`INSERT INTO role_status (role, instance, updated_at, data) VALUES
		('dicom', 'host-a:1', ${ago(3)}, ${JSON.stringify({
			associations: [{ callingAe: 'CT1', peer: '10.0.0.5:4100', since: ago(40).toISOString() }, 'junk'],
			instances: 42,
			bytes: 4200,
			rejectedAssociations: [{ at: ago(60).toISOString(), callingAe: 'EVIL', peer: '10.9.9.9:1', reason: 'calling AE not allowed' }],
			failedObjects: [{ at: ago(5).toISOString(), callingAe: 'CT1', reason: 'disk full' }]
		})}::text::jsonb),
		('dicom', 'host-b:1', ${ago(120)}, ${JSON.stringify({ associations: [{ callingAe: 'STALE' }] })}::text::jsonb),
		('hl7', 'host-a:1', ${ago(1)}, ${JSON.stringify({ connections: 2, byType: { 'ORM^O01': 5, 'ADT^A01': 'x' }, nacks: 1, lastBySender: { 'RIS^MAIN': { at: ago(2).toISOString(), type: 'ORM^O01' } } })}::text::jsonb)`;
});

afterAll(async () => {
	await t?.drop();
});

describe('ingest read models', () => {
	it('counts instances and bytes per trailing window, ignoring rows after now', async () => {
		const rates = await ingestRates(t.db.sql, { now: NOW });
		expect(rates.map((r) => [r.minutes, r.instances, r.bytes])).toEqual([
			[1, 2, 4000],
			[5, 3, 9000],
			[15, 4, 16000]
		]);
		expect(rates[0].instancesPerSecond).toBeCloseTo(2 / 60);
		expect(rates[1].bytesPerSecond).toBeCloseTo(9000 / 300);
	});

	it('gives one zero-filled bucket per minute for the last hour, oldest first', async () => {
		const buckets = await instancesPerMinute(t.db.sql, { now: NOW });
		expect(buckets).toHaveLength(60);
		expect(buckets[59].minute.toISOString()).toBe('2025-03-04T10:30:00.000Z');
		expect(buckets[0].minute.toISOString()).toBe('2025-03-04T09:31:00.000Z');
		// 10:30:20 → last bucket; 10:29:40 → previous; 10:10:30 (1200 s ago) → 20 minutes back.
		expect(buckets[59].instances).toBe(1);
		expect(buckets[58].instances).toBe(1);
		expect(buckets[39]).toMatchObject({ instances: 1, bytes: 9000 });
		expect(buckets.reduce((n, b) => n + b.instances, 0)).toBe(5);
	});

	it('sums volume per calling AE', async () => {
		const bySender = await volumeBySender(t.db.sql, { now: NOW });
		expect(bySender.map((s) => [s.callingAe, s.instances, s.bytes])).toEqual([
			['CT1', 3, 13000],
			['MR1', 2, 12000]
		]);
	});

	it('lists failures newest first, filters by source and groups by reason', async () => {
		const all = await recentIngestFailures(t.db.sql);
		expect(all.map((f) => f.reason)).toEqual(['MSH-9 missing', 'missing SOP Instance UID', 'missing SOP Instance UID', 'old failure']);
		expect(all[1].details).toEqual({});
		expect(all[2].details).toEqual({ callingAe: 'CT1' });
		const dicom = await recentIngestFailures(t.db.sql, { source: 'dicom', limit: 2 });
		expect(dicom.map((f) => f.source)).toEqual(['dicom', 'dicom']);
		const groups = await failureReasons(t.db.sql, { now: NOW });
		expect(groups.map((g) => [g.source, g.reason, g.count])).toEqual([
			['hl7', 'MSH-9 missing', 1],
			['dicom', 'missing SOP Instance UID', 2]
		]);
	});

	it('shows only role status refreshed in the last 15 s and reads its payload defensively', async () => {
		const live = await liveRoleStatus(t.db.sql, { now: NOW });
		expect(live.map((r) => `${r.role}/${r.instance}`)).toEqual(['dicom/host-a:1', 'hl7/host-a:1']);
		const dicom = summarizeDicomStatus(live.filter((r) => r.role === 'dicom'));
		expect(dicom.associations).toEqual([
			{ role: 'dicom', instance: 'host-a:1', callingAe: 'CT1', peer: '10.0.0.5:4100', since: ago(40).toISOString() }
		]);
		expect(dicom.receivedInstances).toBe(42);
		expect(dicom.rejectedAssociations[0]).toMatchObject({ callingAe: 'EVIL', reason: 'calling AE not allowed' });
		expect(dicom.failedObjects[0]).toMatchObject({ callingAe: 'CT1', peer: null, reason: 'disk full' });
		const hl7 = summarizeHl7Status(live.filter((r) => r.role === 'hl7'));
		expect(hl7).toMatchObject({ instances: 1, connections: 2, nacks: 1, byType: { 'ORM^O01': 5, 'ADT^A01': 0 } });
		expect(hl7.lastBySender['RIS^MAIN']).toMatchObject({ type: 'ORM^O01', at: ago(2).toISOString() });
	});

	it('summaries survive payloads of the wrong shape', () => {
		const row = { role: 'dicom', instance: 'x', updatedAt: NOW, data: { associations: 'nope', instances: 'many', failedObjects: [null, 3] } };
		expect(summarizeDicomStatus([row])).toMatchObject({ instances: 1, associations: [], receivedInstances: 0, failedObjects: [] });
		expect(summarizeHl7Status([{ ...row, data: { byType: [1], lastBySender: null } }])).toMatchObject({ byType: {}, lastBySender: {} });
	});
});
