/**
 * The AI model registry (`ai_models`): which triage models exist, which
 * version of each is current, and how each is used (off / shadow / active,
 * critical threshold). The shipped models under models/<id>/<version>/ are
 * registered on start; administrators add versions (local folders inside
 * models/ or remote KServe v2 endpoints), switch modes, move thresholds and
 * roll back. Every administrative change is one transaction with its audit row.
 *
 * Used by the web role too, so nothing here loads TensorFlow.js.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelMode, MODEL_MODES, RuntimeKind, validateManifest, type ModelManifest } from '../../domain/triage/manifest';
import type { Sql, SqlLike } from '../db/client';
import { audit } from '../auth/guard';
import { appendAudit } from '../auth/audit';
import type { User } from '../auth/users';
import type { Logger } from '../log';

/** Why a registry command was refused. */
export const RegistryErrorCode = {
	invalidManifest: 'invalid_manifest',
	notFound: 'not_found',
	duplicateVersion: 'duplicate_version',
	badRequest: 'bad_request'
} as const;
export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode];

/** A refused registry command; `status` is the HTTP status the edge answers with. */
export class RegistryError extends Error {
	constructor(
		readonly code: RegistryErrorCode,
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'RegistryError';
	}
	get status(): number {
		switch (this.code) {
			case RegistryErrorCode.notFound:
				return 404;
			case RegistryErrorCode.duplicateVersion:
				return 409;
			case RegistryErrorCode.invalidManifest:
			case RegistryErrorCode.badRequest:
				return 422;
			default:
				return this.code satisfies never;
		}
	}
}

/** One registered model version. Columns: id, version, manifest, mode, threshold, current, registeredAt. */
export interface RegisteredModel {
	id: string;
	version: string;
	/** As registered (its own mode/threshold are the defaults; the row's win). */
	manifest: ModelManifest;
	mode: ModelMode;
	/** Critical threshold in force for this version. */
	threshold: number;
	current: boolean;
	registeredAt: Date;
}

/** A model with all its versions, newest registration first. */
export interface ModelEntry {
	id: string;
	current: RegisteredModel | null;
	versions: RegisteredModel[];
}

/** The manifest with the registry's mode and threshold applied: what the worker runs. */
export function effectiveManifest(m: RegisteredModel): ModelManifest {
	return { ...m.manifest, mode: m.mode, thresholds: { ...m.manifest.thresholds, critical: m.threshold } };
}

/**
 * The repository's models/ folder: RADFLOW_MODELS_DIR, else the nearest
 * `models` folder above this module (works from source and from the web build).
 */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
	if (env.RADFLOW_MODELS_DIR) return resolve(env.RADFLOW_MODELS_DIR);
	let dir = dirname(fileURLToPath(import.meta.url));
	for (let i = 0; i < 8; i++) {
		const candidate = join(dir, 'models');
		if (existsSync(candidate) && statSync(candidate).isDirectory() && existsSync(join(dir, 'package.json'))) return candidate;
		const up = dirname(dir);
		if (up === dir) break;
		dir = up;
	}
	return resolve('models');
}

/** Compare dotted versions numerically where both parts are numbers ("1.10.0" > "1.9.2"). */
export function compareVersions(a: string, b: string): number {
	const pa = a.split(/[.-]/);
	const pb = b.split(/[.-]/);
	for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
		const x = pa[i] ?? '0';
		const y = pb[i] ?? '0';
		const nx = Number(x);
		const ny = Number(y);
		const c = Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : x.localeCompare(y);
		if (c !== 0) return Math.sign(c);
	}
	return 0;
}

const COLUMNS = `id, version, manifest, mode, threshold::float8 AS threshold, current, registered_at AS "registeredAt"`;

function toModel(r: Record<string, unknown>): RegisteredModel {
	const manifest = (typeof r.manifest === 'string' ? JSON.parse(r.manifest) : r.manifest) as ModelManifest;
	return {
		id: r.id as string,
		version: r.version as string,
		manifest,
		mode: r.mode as ModelMode,
		threshold: r.threshold === null || r.threshold === undefined ? manifest.thresholds.critical : Number(r.threshold),
		current: Boolean(r.current),
		registeredAt: r.registeredAt as Date
	};
}

/** Every registered version, grouped by model id (ids sorted). */
export async function listModels(sql: SqlLike): Promise<ModelEntry[]> {
	const rows = await sql.unsafe(`SELECT ${COLUMNS} FROM ai_models ORDER BY id, registered_at DESC, version DESC`);
	const byId = new Map<string, ModelEntry>();
	for (const r of rows) {
		const m = toModel(r);
		const e = byId.get(m.id) ?? { id: m.id, current: null, versions: [] };
		e.versions.push(m);
		if (m.current) e.current = m;
		byId.set(m.id, e);
	}
	return [...byId.values()];
}

/** The current version of every model (any mode). */
export async function currentModels(sql: SqlLike): Promise<RegisteredModel[]> {
	const rows = await sql.unsafe(`SELECT ${COLUMNS} FROM ai_models WHERE current ORDER BY id`);
	return rows.map(toModel);
}

/** One version, or null. */
export async function getModel(sql: SqlLike, id: string, version?: string): Promise<RegisteredModel | null> {
	const rows = version
		? await sql.unsafe(`SELECT ${COLUMNS} FROM ai_models WHERE id = $1 AND version = $2`, [id, version])
		: await sql.unsafe(`SELECT ${COLUMNS} FROM ai_models WHERE id = $1 AND current`, [id]);
	return rows[0] ? toModel(rows[0]) : null;
}

/** The folder a local manifest's weights live in; must stay inside models/. */
export function localModelFolder(manifest: ModelManifest, root = modelsDir()): string | null {
	if (manifest.runtime.kind !== RuntimeKind.local) return null;
	return resolve(root, manifest.id, manifest.version, manifest.runtime.path);
}

/** Validate a manifest for registration: the schema, and for local models a model.json inside models/. */
export function checkManifest(raw: unknown, root = modelsDir()): ModelManifest {
	const v = validateManifest(raw);
	if (!v.ok) throw new RegistryError(RegistryErrorCode.invalidManifest, `invalid manifest: ${v.errors.join('; ')}`);
	const folder = localModelFolder(v.manifest, root);
	if (folder) {
		const rel = relative(root, folder);
		if (rel.startsWith('..') || rel.startsWith(sep) || rel === '') {
			throw new RegistryError(RegistryErrorCode.invalidManifest, 'runtime.path must stay inside the models/ folder');
		}
		if (!existsSync(join(folder, 'model.json'))) {
			throw new RegistryError(
				RegistryErrorCode.invalidManifest,
				`no model.json in models/${rel.split(sep).join('/')}: copy the weights there first (or use a remote KServe v2 runtime)`
			);
		}
	}
	return v.manifest;
}

/** Make `version` the only current version of `id` (inside the caller's transaction). */
async function setCurrentTx(tx: SqlLike, id: string, version: string): Promise<void> {
	await tx`UPDATE ai_models SET current = false WHERE id = ${id} AND current AND version <> ${version}`;
	await tx`UPDATE ai_models SET current = true WHERE id = ${id} AND version = ${version}`;
}

/** Serialize registry changes per model id (two admins, or two processes registering at start). */
const lockModel = (tx: SqlLike, id: string) => tx`SELECT pg_advisory_xact_lock(4242010, hashtext(${id}))`;

/**
 * Register every models/<id>/<version>/manifest.json not yet in ai_models
 * (mode and threshold from the manifest). A model with no current version
 * gets its highest version as current; an existing choice is never changed.
 * Idempotent. Returns what was newly registered.
 */
export async function registerShippedModels(sql: Sql, log?: Logger, root = modelsDir()): Promise<{ registered: string[]; invalid: string[] }> {
	const registered: string[] = [];
	const invalid: string[] = [];
	const found: { path: string; raw: unknown }[] = [];
	const dirs = existsSync(root) ? readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()) : [];
	for (const d of dirs) {
		for (const v of readdirSync(join(root, d.name), { withFileTypes: true })) {
			const path = join(root, d.name, v.name, 'manifest.json');
			if (!v.isDirectory() || !existsSync(path)) continue;
			try {
				found.push({ path, raw: JSON.parse(await readFile(path, 'utf8')) });
			} catch (err) {
				invalid.push(path);
				log?.warn('model manifest unreadable', { path, err });
			}
		}
	}
	for (const f of found) {
		let manifest: ModelManifest;
		try {
			manifest = checkManifest(f.raw, root);
		} catch (err) {
			invalid.push(f.path);
			log?.warn('model manifest invalid, not registered', { path: f.path, err });
			continue;
		}
		await sql.begin(async (tx) => {
			await lockModel(tx, manifest.id);
			const inserted = await tx`INSERT INTO ai_models (id, version, manifest, mode, threshold, current)
				VALUES (${manifest.id}, ${manifest.version}, ${JSON.stringify(manifest)}::text::jsonb, ${manifest.mode}, ${manifest.thresholds.critical}, false)
				ON CONFLICT (id, version) DO NOTHING RETURNING id`;
			if (inserted.length === 0) return;
			registered.push(`${manifest.id}@${manifest.version}`);
			const versions = await tx<{ version: string; current: boolean }[]>`SELECT version, current FROM ai_models WHERE id = ${manifest.id}`;
			if (!versions.some((v) => v.current)) {
				const newest = versions.map((v) => v.version).sort(compareVersions).at(-1)!;
				await setCurrentTx(tx, manifest.id, newest);
			}
			await appendAudit(tx, {
				userId: null,
				username: 'system',
				role: null,
				action: 'model.register',
				target: `model:${manifest.id}@${manifest.version}`,
				details: { source: 'shipped', mode: manifest.mode, threshold: manifest.thresholds.critical }
			});
		});
	}
	if (registered.length) log?.info('models registered', { registered });
	return { registered, invalid };
}

/**
 * Add a model version from a manifest (parsed JSON). Local runtimes must
 * point inside models/ at a folder with model.json; remote runtimes are
 * KServe v2 URLs. With `makeCurrent` (or when the model has no current
 * version) it becomes current.
 */
export async function addModelVersion(
	sql: Sql,
	user: User,
	raw: unknown,
	opts: { makeCurrent?: boolean; reason?: string | null; root?: string } = {}
): Promise<RegisteredModel> {
	const manifest = checkManifest(raw, opts.root);
	return (await sql.begin(async (tx) => {
		await lockModel(tx, manifest.id);
		const inserted = await tx`INSERT INTO ai_models (id, version, manifest, mode, threshold, current)
			VALUES (${manifest.id}, ${manifest.version}, ${JSON.stringify(manifest)}::text::jsonb, ${manifest.mode}, ${manifest.thresholds.critical}, false)
			ON CONFLICT (id, version) DO NOTHING RETURNING id`;
		if (inserted.length === 0) {
			throw new RegistryError(RegistryErrorCode.duplicateVersion, `${manifest.id}@${manifest.version} is already registered; give the new weights a new version`);
		}
		const [cur] = await tx`SELECT version FROM ai_models WHERE id = ${manifest.id} AND current`;
		const makeCurrent = opts.makeCurrent ?? true;
		if (makeCurrent || !cur) await setCurrentTx(tx, manifest.id, manifest.version);
		await audit(tx, user, 'model.add_version', `model:${manifest.id}@${manifest.version}`, opts.reason ?? null, {
			runtime: manifest.runtime.kind === RuntimeKind.remote ? { kind: 'remote', url: manifest.runtime.url, modelName: manifest.runtime.modelName } : { kind: 'local', path: manifest.runtime.path },
			mode: manifest.mode,
			threshold: manifest.thresholds.critical,
			current: makeCurrent || !cur,
			previousCurrent: cur?.version ?? null
		});
		const [row] = await tx.unsafe(`SELECT ${COLUMNS} FROM ai_models WHERE id = $1 AND version = $2`, [manifest.id, manifest.version]);
		return toModel(row);
	})) as RegisteredModel;
}

async function lockedCurrent(tx: SqlLike, id: string): Promise<RegisteredModel> {
	await lockModel(tx, id);
	const [row] = await tx.unsafe(`SELECT ${COLUMNS} FROM ai_models WHERE id = $1 AND current FOR UPDATE`, [id]);
	if (!row) throw new RegistryError(RegistryErrorCode.notFound, `no current version of model ${id}`);
	return toModel(row);
}

/** Switch the current version of a model off, to shadow (record only) or to active (may raise priority). */
export async function setModelMode(sql: Sql, user: User, id: string, mode: string, reason?: string | null): Promise<RegisteredModel> {
	if (!MODEL_MODES.includes(mode as ModelMode)) throw new RegistryError(RegistryErrorCode.badRequest, `mode must be one of ${MODEL_MODES.join(', ')}`);
	return (await sql.begin(async (tx) => {
		const m = await lockedCurrent(tx, id);
		await tx`UPDATE ai_models SET mode = ${mode} WHERE id = ${id} AND version = ${m.version}`;
		await audit(tx, user, 'model.mode', `model:${id}@${m.version}`, reason ?? null, { from: m.mode, to: mode });
		return { ...m, mode: mode as ModelMode };
	})) as RegisteredModel;
}

/** Move the critical threshold of a model's current version (a probability in [0, 1]). */
export async function setModelThreshold(sql: Sql, user: User, id: string, threshold: number, reason?: string | null): Promise<RegisteredModel> {
	if (!(typeof threshold === 'number' && Number.isFinite(threshold) && threshold >= 0 && threshold <= 1)) {
		throw new RegistryError(RegistryErrorCode.badRequest, 'threshold must be a number between 0 and 1');
	}
	const t = Math.round(threshold * 10_000) / 10_000; // numeric(5, 4)
	return (await sql.begin(async (tx) => {
		const m = await lockedCurrent(tx, id);
		await tx`UPDATE ai_models SET threshold = ${t} WHERE id = ${id} AND version = ${m.version}`;
		await audit(tx, user, 'model.threshold', `model:${id}@${m.version}`, reason ?? null, { from: m.threshold, to: t });
		return { ...m, threshold: t };
	})) as RegisteredModel;
}

/** Make an earlier (or any other registered) version current again. */
export async function rollBackModel(sql: Sql, user: User, id: string, version: string, reason?: string | null): Promise<RegisteredModel> {
	return (await sql.begin(async (tx) => {
		await lockModel(tx, id);
		const [target] = await tx.unsafe(`SELECT ${COLUMNS} FROM ai_models WHERE id = $1 AND version = $2`, [id, version]);
		if (!target) throw new RegistryError(RegistryErrorCode.notFound, `model ${id} has no version ${version}`);
		const [cur] = await tx`SELECT version FROM ai_models WHERE id = ${id} AND current`;
		if (cur?.version === version) throw new RegistryError(RegistryErrorCode.badRequest, `${id}@${version} is already the current version`);
		await setCurrentTx(tx, id, version);
		await audit(tx, user, 'model.rollback', `model:${id}@${version}`, reason ?? null, { from: cur?.version ?? null, to: version });
		return { ...toModel(target), current: true };
	})) as RegisteredModel;
}

/** The model card (models/<id>/MODEL_CARD.md) as plain text, or null. */
export async function modelCard(id: string, root = modelsDir()): Promise<string | null> {
	if (!/^[a-z0-9][a-z0-9._-]*$/.test(id)) return null;
	try {
		return await readFile(join(root, id, 'MODEL_CARD.md'), 'utf8');
	} catch {
		return null;
	}
}
