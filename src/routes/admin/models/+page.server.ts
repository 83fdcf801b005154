import { fail } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { liveRoleStatus } from '$lib/server/queries/ingest';
import {
	addModelVersion,
	listModels,
	modelCard,
	RegistryError,
	rollBackModel,
	setModelMode,
	setModelThreshold
} from '$lib/server/triage/registry';

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'administer');
	const { sql } = getContext().db;
	const [models, workers] = await Promise.all([listModels(sql), liveRoleStatus(sql, { role: 'triage' })]);
	const cards = Object.fromEntries(await Promise.all(models.map(async (m) => [m.id, await modelCard(m.id)] as const)));
	return {
		models: models.map((m) => ({
			id: m.id,
			current: m.current ? { version: m.current.version, mode: m.current.mode, threshold: m.current.threshold } : null,
			task: (m.current ?? m.versions[0]).manifest.task,
			description: (m.current ?? m.versions[0]).manifest.description ?? '',
			versions: m.versions.map((v) => ({
				version: v.version,
				mode: v.mode,
				threshold: v.threshold,
				current: v.current,
				registeredAt: v.registeredAt.toISOString(),
				runtime: v.manifest.runtime.kind === 'remote' ? `remote ${v.manifest.runtime.protocol} ${v.manifest.runtime.url} (${v.manifest.runtime.modelName})` : `local models/${v.id}/${v.version}`,
				eligibility: `${v.manifest.eligibility.modality.join('/')}${v.manifest.eligibility.bodyPart?.length ? ` · ${v.manifest.eligibility.bodyPart.join('/')}` : ''}`,
				manifestThreshold: v.manifest.thresholds.critical
			}))
		})),
		cards,
		workers: workers.map((w) => ({
			instance: w.instance,
			updatedAt: w.updatedAt.toISOString(),
			backend: String(w.data.backend ?? 'unknown'),
			detail: String(w.data.detail ?? ''),
			fallbacksTried: Array.isArray(w.data.fallbacksTried) ? (w.data.fallbacksTried as { name: string; error: string }[]) : []
		}))
	};
};

const field = (f: FormData, name: string) => String(f.get(name) ?? '').trim();

/** Run a registry command, turning its refusals into a form failure. */
async function attempt(action: string, id: string, run: () => Promise<unknown>) {
	try {
		await run();
		return { done: action, id };
	} catch (err) {
		if (err instanceof RegistryError) return fail(err.status === 404 ? 404 : 400, { message: err.message, action, id });
		throw err;
	}
}

export const actions: Actions = {
	add: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const text = field(f, 'manifest');
		let raw: unknown;
		try {
			raw = JSON.parse(text);
		} catch (err) {
			return fail(400, { message: `The manifest is not valid JSON: ${(err as Error).message}`, action: 'add', id: '', manifest: text });
		}
		const id = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : '';
		try {
			await addModelVersion(getContext().db.sql, user, raw, { makeCurrent: f.get('makeCurrent') === 'on', reason: field(f, 'reason') || null });
			return { done: 'add', id };
		} catch (err) {
			if (err instanceof RegistryError) return fail(400, { message: err.message, action: 'add', id, manifest: text });
			throw err;
		}
	},
	mode: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const id = field(f, 'id');
		return attempt('mode', id, () => setModelMode(getContext().db.sql, user, id, field(f, 'mode'), field(f, 'reason') || null));
	},
	threshold: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const id = field(f, 'id');
		const value = field(f, 'threshold');
		return attempt('threshold', id, () => setModelThreshold(getContext().db.sql, user, id, value === '' ? NaN : Number(value), field(f, 'reason') || null));
	},
	rollback: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const id = field(f, 'id');
		return attempt('rollback', id, () => rollBackModel(getContext().db.sql, user, id, field(f, 'version'), field(f, 'reason') || null));
	}
};
