import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { DEFAULT_POLICY } from '../../domain/routing/policy';
import type { User } from '../auth/users';
import { publishPolicy } from './policy-store';
import { loadSlaView } from './sla-view';

const MIN = 60_000;
const NOW = Date.UTC(2025, 5, 2, 12, 0);
let t: TestDatabase;
const ids: Record<string, number> = {};

async function addStudy(
	key: string,
	s: { site: string; sub: string; priority: string; cls: string; completeMinAgo: number; status?: string; assignedTo?: number; openedMinAgo?: number }
) {
	const [row] = await t.db.sql`INSERT INTO studies (accession_number, site_id, modality, subspecialty, rvu, expected_read_minutes,
			priority, patient_class, status, complete_at, assigned_to, opened_at)
		VALUES (${`ACC-${key}`}, ${s.site}, 'CT', ${s.sub}, 1, 10, ${s.priority}, ${s.cls}, ${s.status ?? 'complete'},
			${new Date(NOW - s.completeMinAgo * MIN)}, ${s.assignedTo ?? null},
			${s.openedMinAgo === undefined ? null : new Date(NOW - s.openedMinAgo * MIN)})
		RETURNING id`;
	ids[key] = Number(row.id);
}

beforeAll(async () => {
	t = await createTestDatabase('slaview');
	const sql = t.db.sql;
	await sql`INSERT INTO sites (id, name) VALUES ('north', 'North'), ('south', 'South')`;
	const [ada] = await sql`INSERT INTO radiologists (name, subspecialties) VALUES ('Ada', ${['neuro']}) RETURNING id`;
	const [ben] = await sql`INSERT INTO radiologists (name, subspecialties) VALUES ('Ben', ${['body']}) RETURNING id`;
	await sql`INSERT INTO radiologist_sites VALUES (${ada.id}, 'north'), (${ada.id}, 'south'), (${ben.id}, 'north')`;
	for (const r of [ada.id, ben.id]) {
		await sql`INSERT INTO shifts (radiologist_id, site_id, starts_at, ends_at) VALUES (${r}, 'north', ${new Date(NOW - 120 * MIN)}, ${new Date(NOW + 360 * MIN)})`;
	}
	// Stat ED, 90 min old against a 30 min target: breached.
	await addStudy('breached', { site: 'north', sub: 'neuro', priority: 'stat', cls: 'E', completeMinAgo: 90 });
	await addStudy('fresh', { site: 'north', sub: 'neuro', priority: 'routine', cls: 'O', completeMinAgo: 5 });
	await addStudy('opened', { site: 'north', sub: 'neuro', priority: 'routine', cls: 'I', completeMinAgo: 30, status: 'opened', assignedTo: Number(ada.id), openedMinAgo: 5 });
	// Nobody reads body at the south site: it cannot finish.
	await addStudy('stranded', { site: 'south', sub: 'body', priority: 'asap', cls: 'I', completeMinAgo: 10 });
	// Routine ED 150 min into a 180 min target; Ben finishes it ~20 min early: worth watching.
	await addStudy('tight', { site: 'north', sub: 'body', priority: 'routine', cls: 'E', completeMinAgo: 150 });
	await addStudy('reported', { site: 'north', sub: 'neuro', priority: 'stat', cls: 'E', completeMinAgo: 300, status: 'reported' });
	await addStudy('ordered', { site: 'north', sub: 'neuro', priority: 'stat', cls: 'E', completeMinAgo: 300, status: 'ordered' });
});

afterAll(async () => {
	await t?.drop();
});

describe('loadSlaView', () => {
	it('counts every open study by risk and lists breached, at-risk and watch studies with reasons', async () => {
		const v = await loadSlaView(t.db.sql, NOW);
		expect(v.policyVersion).toBe(0);
		expect(v.totals).toEqual({ breached: 1, at_risk: 1, watch: 1, ok: 2, total: 5 });
		expect(v.studies.map((s) => s.studyId)).toEqual([ids.breached, ids.stranded, ids.tight].map(String));
		const [breached, stranded, tight] = v.studies;
		expect(breached.riskLevel).toBe('breached');
		expect(breached.minutesToDeadline).toBeCloseTo(-60, 5);
		expect(breached.reason).toContain('deadline passed 1 h');
		expect(stranded.riskLevel).toBe('at_risk');
		expect(stranded.reason).toContain('no body reader for south');
		expect(stranded.expectedFinish).toBeNull();
		expect(tight.riskLevel).toBe('watch');
		expect(tight.minutesToDeadline).toBeCloseTo(30, 5);
		expect(tight.reason).toContain('before deadline');
	});

	it('groups by site × subspecialty, worst first, and leaves out groups with nothing to show', async () => {
		const v = await loadSlaView(t.db.sql, NOW);
		expect(v.groups.map((g) => [g.site, g.subspecialty, g.breached, g.at_risk, g.watch, g.ok, g.total])).toEqual([
			['north', 'neuro', 1, 0, 0, 2, 3],
			['south', 'body', 0, 1, 0, 0, 1],
			['north', 'body', 0, 0, 1, 0, 1]
		]);
		expect(v.groups[0].nextDeadline).toBe(NOW - 60 * MIN);
	});

	it('follows the policy in force: a longer stat target un-breaches the stat study', async () => {
		const admin: User = { id: 1, username: 'root', displayName: 'Root', role: 'admin' };
		const relaxed = structuredClone(DEFAULT_POLICY);
		relaxed.slaTargetsMinutes.stat.E = 150;
		relaxed.slaTargetsMinutes.asap.E = 150;
		relaxed.slaTargetsMinutes.routine.E = 180;
		await t.db.sql.begin((tx) => publishPolicy(tx, admin, relaxed, 'test'));
		const v = await loadSlaView(t.db.sql, NOW);
		expect(v.policyVersion).toBe(1);
		expect(v.totals.breached).toBe(0);
		expect(v.studies.find((s) => s.studyId === String(ids.breached))).toBeUndefined();
	});
});
