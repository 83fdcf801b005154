import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { DEFAULT_POLICY } from '../../domain/routing/policy';
import { loadOverview, withForecast, type HourPoint } from './overview';
import { applyStudyCommand } from '../events/transition';

let t: TestDatabase;
const now = new Date('2026-03-02T14:30:00Z');
const at = (m: number) => new Date(now.getTime() + m * 60000).toISOString();

beforeAll(async () => {
	t = await createTestDatabase('overview');
	const sql = t.db.sql;
	await sql`INSERT INTO sites (id, name) VALUES ('north', 'North'), ('south', 'South')`;
	const [r] = await sql`INSERT INTO radiologists (name, subspecialties) VALUES ('Dr Neuro', '{neuro}') RETURNING id`;
	await sql`INSERT INTO shifts (radiologist_id, site_id, starts_at, ends_at) VALUES (${r.id}, 'north', ${at(-120)}, ${at(240)}), (${r.id}, 'north', ${at(600)}, ${at(900)})`;
	const mk = async (site: string, sub: string, priority: string, deadlineMin: number) => {
		const [s] = await sql`INSERT INTO studies (accession_number, site_id, subspecialty, priority, patient_class, modality, sla_deadline)
			VALUES (${`A${Math.random()}`}, ${site}, ${sub}, ${priority}, 'E', 'CT', ${at(deadlineMin)}) RETURNING id`;
		return s.id as number;
	};
	// Two waiting neuro studies at north (one breached, one due in 10 min), one chest at south with a reader.
	for (const [site, sub, prio, dl] of [['north', 'neuro', 'stat', -5], ['north', 'neuro', 'routine', 10], ['south', 'chest', 'asap', 120]] as const) {
		const id = await mk(site, sub, prio, dl);
		await applyStudyCommand(sql, null, { studyId: id, event: { kind: 'image_received', at: at(-60) }, actor: 't' });
		await applyStudyCommand(sql, null, { studyId: id, event: { kind: 'complete', at: at(-50) }, actor: 't' });
		if (site === 'south') await applyStudyCommand(sql, null, { studyId: id, event: { kind: 'assigned', at: at(-40) }, actor: 't', patch: { assignedTo: r.id } });
	}
	// One stat reported today in 20 minutes, within its deadline.
	const done = await mk('north', 'neuro', 'stat', 30);
	for (const [kind, m] of [['image_received', -100], ['complete', -90], ['reported', -70]] as const) {
		await applyStudyCommand(sql, null, { studyId: done, event: { kind, at: at(m) }, actor: 't' });
	}
	await sql`INSERT INTO critical_flags (study_id, model_id, model_version, finding, score, raised_at) VALUES (${done}, 'ich-ct-demo', '1', 'intracranial hemorrhage', 0.93, ${at(-25)})`;
});
afterAll(async () => t?.drop());

describe('overview', () => {
	it('counts queue depth, SLA, turnaround, criticals, throughput and readers from the database', async () => {
		const o = await loadOverview(t.db.sql, DEFAULT_POLICY, now);
		expect(o.queue).toEqual([
			{ siteId: 'north', subspecialty: 'neuro', waiting: 2, withReader: 0 },
			{ siteId: 'south', subspecialty: 'chest', waiting: 0, withReader: 1 }
		]);
		expect(o.slaBreached).toBe(1);
		expect(o.slaAtRisk).toBe(1);
		const stat = o.tat.find((r) => r.priority === 'stat')!;
		expect(stat).toMatchObject({ reported: 1, p50Min: 20, withinSla: 1, targetMin: DEFAULT_POLICY.slaTargetsMinutes.stat.E });
		expect(o.criticals).toHaveLength(1);
		expect(o.criticals[0]).toMatchObject({ finding: 'intracranial hemorrhage', ageMin: 25 });
		expect(o.throughput).toHaveLength(24);
		expect(o.throughput.reduce((s, p) => s + (p.arrivals ?? 0), 0)).toBe(4);
		expect(o.throughput.reduce((s, p) => s + (p.reported ?? 0), 0)).toBe(1);
		expect(o.readers.map((r) => r.name)).toEqual(['Dr Neuro']);
		expect(o.readers[0].assigned).toBe(1);
	});
});

describe('throughput vs forecast', () => {
	const H = 3600_000;
	const t0 = Date.parse('2026-03-02T12:00:00Z');
	const past: HourPoint[] = [0, 1, 2].map((i) => ({ hour: new Date(t0 + i * H).toISOString(), arrivals: 5 + i, reported: 4 }));

	it('puts the expected arrivals beside the current hour and adds hours ahead without actuals', () => {
		const forecast = [2, 3, 4, 5].map((i) => ({ t: t0 + i * H, mean: 10 + i + 0.04 }));
		const out = withForecast(past, forecast, 2);
		expect(out.map((p) => p.expected)).toEqual([null, null, 12, 13, 14]);
		expect(out.slice(3).map((p) => [p.arrivals, p.reported])).toEqual([[null, null], [null, null]]);
		expect(out[2].arrivals).toBe(7);
	});

	it('without a forecast the points are unchanged', () => {
		expect(withForecast(past, null)).toBe(past);
	});
});
