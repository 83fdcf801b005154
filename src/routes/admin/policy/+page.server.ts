import { fail } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { currentPolicy, policyHistory } from '$lib/server/routing/policy-store';
import {
	candidateHash,
	publishReplayed,
	PublishError,
	recordReplayReceipt,
	ReplayDataError,
	rollbackPolicy,
	runReplayComparison
} from '$lib/server/routing/replay-data';
import { PolicyError, validatePolicy } from '$lib/domain/routing/policy';
import { errorsByField, parseDays } from './fields';

const DAY = 86_400_000;

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'administer');
	const { sql } = getContext().db;
	const [current, history] = await Promise.all([currentPolicy(sql), policyHistory(sql, 30)]);
	return { current, history };
};

/** The candidate as the editor sent it (a JSON body in one field), or the errors to show. */
function readCandidate(f: FormData): { candidate: unknown; raw: string } | { errors: Record<string, string[]>; raw: string } {
	const raw = String(f.get('candidate') ?? '');
	let candidate: unknown;
	try {
		candidate = JSON.parse(raw);
	} catch {
		return { errors: { _: ['The candidate policy is not valid JSON.'] }, raw };
	}
	const problems = validatePolicy(candidate);
	if (problems.length > 0) return { errors: errorsByField(problems), raw };
	return { candidate, raw };
}

const note = (f: FormData) => String(f.get('note') ?? '').trim().slice(0, 500) || null;

export const actions: Actions = {
	replay: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const c = readCandidate(f);
		if ('errors' in c) return fail(400, { action: 'replay' as const, errors: c.errors, candidate: c.raw });
		const d = parseDays(f.get('days'));
		if ('error' in d) return fail(400, { action: 'replay' as const, errors: { days: [d.error] }, candidate: c.raw });
		const { sql } = getContext().db;
		const now = Date.now();
		try {
			const comparison = await runReplayComparison(sql, c.candidate, { from: now - d.days * DAY, to: now }, { now });
			const hash = candidateHash(c.candidate);
			await recordReplayReceipt(sql, user, hash, comparison);
			getContext().log.info('policy replay', { user: user.username, days: d.days, studies: comparison.studies, seconds: comparison.elapsedSeconds });
			return { action: 'replay' as const, replay: { hash, candidate: c.raw, days: d.days, comparison } };
		} catch (err) {
			if (err instanceof ReplayDataError) return fail(400, { action: 'replay' as const, errors: { days: [err.message] }, candidate: c.raw });
			if (err instanceof PolicyError) return fail(400, { action: 'replay' as const, errors: errorsByField(err.errors), candidate: c.raw });
			throw err;
		}
	},

	publish: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const c = readCandidate(f);
		if ('errors' in c) return fail(400, { action: 'publish' as const, errors: c.errors, candidate: c.raw });
		const replayHash = String(f.get('replayHash') ?? '') || null;
		try {
			const published = await publishReplayed(getContext().db.sql, user, c.candidate, replayHash, note(f));
			getContext().log.info('policy published', { user: user.username, version: published.version });
			return { action: 'publish' as const, published: { version: published.version } };
		} catch (err) {
			if (err instanceof PublishError) return fail(409, { action: 'publish' as const, message: err.message, candidate: c.raw });
			if (err instanceof PolicyError) return fail(400, { action: 'publish' as const, errors: errorsByField(err.errors), candidate: c.raw });
			throw err;
		}
	},

	rollback: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const version = Number(f.get('version'));
		if (!Number.isInteger(version) || version < 0) return fail(400, { action: 'rollback' as const, message: 'Choose a version to roll back to.' });
		try {
			const published = await rollbackPolicy(getContext().db.sql, user, version, note(f));
			getContext().log.info('policy rolled back', { user: user.username, to: version, version: published.version });
			return { action: 'rollback' as const, published: { version: published.version, from: version } };
		} catch (err) {
			if (err instanceof PublishError) return fail(404, { action: 'rollback' as const, message: err.message });
			throw err;
		}
	}
};
