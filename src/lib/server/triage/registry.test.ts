import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../../../tests/helpers/db';
import { verifyAuditChain } from '../auth/audit';
import {
	addModelVersion,
	currentModels,
	getModel,
	listModels,
	modelCard,
	modelsDir,
	registerShippedModels,
	RegistryError,
	rollBackModel,
	setModelMode,
	setModelThreshold
} from './registry';

const admin = { id: 1, username: 'root', displayName: 'Root', role: 'admin' as const };
let t: TestDatabase;
let root: string;

beforeAll(async () => {
	t = await createTestDatabase('triage_registry');
	// A private models/ folder: the shipped ICH model, copied, so versions can be added beside it.
	root = mkdtempSync(join(os.tmpdir(), 'radflow-models-'));
	cpSync(join(modelsDir(), 'ich-ct-demo'), join(root, 'ich-ct-demo'), { recursive: true });
});
afterAll(async () => {
	await t?.drop();
	if (root) rmSync(root, { recursive: true, force: true });
});

const shipped = (id: string) => JSON.parse(readFileSync(join(modelsDir(), id, '1.0.0', 'manifest.json'), 'utf8'));
const audits = (action: string) => t.db.sql`SELECT username, target, reason, details FROM audit_log WHERE action = ${action} ORDER BY id`;

describe('model registry', () => {
	it('registers the shipped models once, current, with mode and threshold from their manifests', async () => {
		const first = await registerShippedModels(t.db.sql);
		expect(first.registered.sort()).toEqual(['ich-ct-demo@1.0.0', 'ptx-cxr-demo@1.0.0']);
		const second = await registerShippedModels(t.db.sql);
		expect(second.registered).toEqual([]);
		const current = await currentModels(t.db.sql);
		expect(current.map((m) => `${m.id}@${m.version}`)).toEqual(['ich-ct-demo@1.0.0', 'ptx-cxr-demo@1.0.0']);
		const ich = current[0];
		expect(ich.mode).toBe(shipped('ich-ct-demo').mode);
		expect(ich.threshold).toBeCloseTo(shipped('ich-ct-demo').thresholds.critical, 4);
		expect(ich.manifest.criticalLabel).toBe('hemorrhage');
		expect((await audits('model.register')).map((a) => a.target).sort()).toEqual(['model:ich-ct-demo@1.0.0', 'model:ptx-cxr-demo@1.0.0']);
	});

	it('switches mode and moves the threshold with an audit row each; refuses nonsense', async () => {
		const m = await setModelMode(t.db.sql, admin, 'ich-ct-demo', 'active', 'validated on site data');
		expect(m.mode).toBe('active');
		expect((await getModel(t.db.sql, 'ich-ct-demo'))!.mode).toBe('active');
		const [a] = await audits('model.mode');
		expect(a).toMatchObject({ username: 'root', target: 'model:ich-ct-demo@1.0.0', reason: 'validated on site data', details: { from: 'shadow', to: 'active' } });

		await setModelThreshold(t.db.sql, admin, 'ich-ct-demo', 0.61234, 'fewer false alarms');
		expect((await getModel(t.db.sql, 'ich-ct-demo'))!.threshold).toBe(0.6123);
		const [th] = await audits('model.threshold');
		expect(th.details).toMatchObject({ to: 0.6123 });

		await expect(setModelMode(t.db.sql, admin, 'ich-ct-demo', 'loud')).rejects.toMatchObject({ code: 'bad_request' });
		await expect(setModelThreshold(t.db.sql, admin, 'ich-ct-demo', 1.5)).rejects.toBeInstanceOf(RegistryError);
		await expect(setModelMode(t.db.sql, admin, 'no-such-model', 'off')).rejects.toMatchObject({ code: 'not_found', status: 404 });
		expect(await audits('model.mode')).toHaveLength(1);
	});

	it('adds a local version inside models/ and a remote KServe version, then rolls back; all audited', async () => {
		await registerShippedModels(t.db.sql, undefined, root);
		cpSync(join(root, 'ich-ct-demo', '1.0.0'), join(root, 'ich-ct-demo', '1.1.0'), { recursive: true });
		const local = await addModelVersion(t.db.sql, admin, { ...shipped('ich-ct-demo'), version: '1.1.0' }, { root, reason: 'retrained' });
		expect(local).toMatchObject({ version: '1.1.0', current: true });

		const remote = { ...shipped('ich-ct-demo'), version: '2.0.0', runtime: { kind: 'remote', url: 'http://gpu-box:8080', protocol: 'kserve-v2', modelName: 'ich' } };
		await addModelVersion(t.db.sql, admin, remote, { root, makeCurrent: false });
		let entry = (await listModels(t.db.sql)).find((e) => e.id === 'ich-ct-demo')!;
		expect(entry.current?.version).toBe('1.1.0');
		expect(entry.versions.map((v) => v.version).sort()).toEqual(['1.0.0', '1.1.0', '2.0.0']);

		const rb = await rollBackModel(t.db.sql, admin, 'ich-ct-demo', '1.0.0', '1.1.0 flags too often');
		expect(rb.current).toBe(true);
		entry = (await listModels(t.db.sql)).find((e) => e.id === 'ich-ct-demo')!;
		expect(entry.current?.version).toBe('1.0.0');
		expect(entry.versions.filter((v) => v.current)).toHaveLength(1);
		const [a] = await audits('model.rollback');
		expect(a).toMatchObject({ reason: '1.1.0 flags too often', details: { from: '1.1.0', to: '1.0.0' } });
		expect((await audits('model.add_version')).map((x) => x.target)).toEqual(['model:ich-ct-demo@1.1.0', 'model:ich-ct-demo@2.0.0']);
		expect((await verifyAuditChain(t.db.sql)).ok).toBe(true);
	});

	it('refuses invalid manifests, weights outside models/, missing weights and duplicate versions', async () => {
		const bad = await addModelVersion(t.db.sql, admin, { id: 'x' }, { root }).catch((e) => e);
		expect(bad).toBeInstanceOf(RegistryError);
		expect(bad.code).toBe('invalid_manifest');
		expect(bad.message).toContain('labels must list at least two class names');
		const escape = { ...shipped('ich-ct-demo'), version: '3.0.0', runtime: { kind: 'local', path: '../../../../etc' } };
		await expect(addModelVersion(t.db.sql, admin, escape, { root })).rejects.toThrow(/inside the models\/ folder/);
		const missing = { ...shipped('ich-ct-demo'), version: '4.0.0' };
		await expect(addModelVersion(t.db.sql, admin, missing, { root })).rejects.toThrow(/no model.json in models\/ich-ct-demo\/4.0.0/);
		await expect(addModelVersion(t.db.sql, admin, { ...shipped('ich-ct-demo'), version: '1.1.0' }, { root })).rejects.toMatchObject({ code: 'duplicate_version', status: 409 });
		await expect(rollBackModel(t.db.sql, admin, 'ich-ct-demo', '9.9.9')).rejects.toMatchObject({ code: 'not_found' });
	});

	it('reads the model card as text', async () => {
		expect(await modelCard('ich-ct-demo')).toContain('not for clinical use');
		expect(await modelCard('../etc')).toBeNull();
	});
});
