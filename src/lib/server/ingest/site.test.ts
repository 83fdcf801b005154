import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { resolveSiteId, resolveStudy } from './studies';

let t: TestDatabase;
beforeAll(async () => {
	t = await createTestDatabase('site');
	await t.db.sql`INSERT INTO sites (id, name) VALUES ('north', 'North General Hospital'), ('south', 'South Campus')`;
});
afterAll(async () => t?.drop());

describe('site resolution (routing needs a site to check reader privileges)', () => {
	it('matches an HL7 facility code or a DICOM institution name, case-insensitively, first hint first', async () => {
		expect(await resolveSiteId(t.db.sql, ['NORTH'])).toBe('north');
		expect(await resolveSiteId(t.db.sql, [null, 'south campus'])).toBe('south');
		expect(await resolveSiteId(t.db.sql, ['unknown', 'North General Hospital'])).toBe('north');
		expect(await resolveSiteId(t.db.sql, ['elsewhere', ''])).toBeNull();
	});

	it('sets the site of a new study and never overwrites a known one', async () => {
		const a = await t.db.sql.begin((tx) => resolveStudy(tx, { accessionNumber: 'S-1' }, { create: {}, siteHints: ['SOUTH'] }));
		const again = await t.db.sql.begin((tx) => resolveStudy(tx, { accessionNumber: 'S-1' }, { create: {}, siteHints: ['NORTH'] }));
		expect(again.study.id).toBe(a.study.id);
		const [row] = await t.db.sql`SELECT site_id FROM studies WHERE id = ${a.study.id}`;
		expect(row.site_id).toBe('south');
	});
});
