/**
 * The HTTP edge of worklist commands: parse JSON bodies, translate command
 * outcomes to statuses (409 conflict, 422 refused, 404 missing) with a body the
 * board can show as is.
 */
import { json } from '@sveltejs/kit';
import type { WorklistOutcome } from './commands';

export const CONFLICT_MESSAGE = 'This study was changed by someone else a moment ago; the board has been refreshed.';

/** A request the API cannot act on; becomes a 4xx with `{code, message}`. */
export class ApiError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
		this.name = 'ApiError';
	}
}

export function apiError(e: ApiError): Response {
	return json({ code: e.code, message: e.message }, { status: e.status });
}

/** Run a handler body, turning `ApiError` into its response (SvelteKit's own errors pass through). */
export async function handleApi(fn: () => Promise<Response>): Promise<Response> {
	try {
		return await fn();
	} catch (e) {
		if (e instanceof ApiError) return apiError(e);
		throw e;
	}
}

export async function readBody(request: Request): Promise<Record<string, unknown>> {
	let body: unknown;
	try {
		body = await request.json();
	} catch (cause) {
		throw new ApiError(400, 'bad_request', 'Send a JSON object.', { cause });
	}
	if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'bad_request', 'Send a JSON object.');
	return body as Record<string, unknown>;
}

export function idParam(v: string | undefined, what = 'study'): number {
	const n = Number(v);
	if (!Number.isSafeInteger(n) || n <= 0) throw new ApiError(400, 'bad_request', `Not a ${what} id: ${v}`);
	return n;
}

export function intField(body: Record<string, unknown>, key: string): number {
	const v = body[key];
	if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ApiError(400, 'bad_request', `${key} must be a whole number.`);
	return v;
}

/** Optional free-text reason, trimmed; `required` refuses an empty one. */
export function reasonField(body: Record<string, unknown>, required: boolean): string | null {
	const v = body.reason;
	if (v !== undefined && v !== null && typeof v !== 'string') throw new ApiError(400, 'bad_request', 'reason must be text.');
	const r = typeof v === 'string' ? v.trim().slice(0, 500) : '';
	if (required && r === '') throw new ApiError(422, 'reason_required', 'Give a reason: it goes into the audit log.');
	return r === '' ? null : r;
}

/** 200 {study} when applied, else 409 / 422 / 404. */
export function outcomeResponse(out: WorklistOutcome): Response {
	switch (out.status) {
		case 'applied':
			return json({ study: out.study });
		case 'conflict':
			return json({ code: 'conflict', message: CONFLICT_MESSAGE, currentVersion: out.currentVersion }, { status: 409 });
		case 'refused':
			return json({ code: 'refused', message: capitalize(out.reason) }, { status: 422 });
		case 'not_found':
			return json({ code: 'not_found', message: 'No such study.' }, { status: 404 });
		default:
			return out satisfies never;
	}
}

function capitalize(s: string): string {
	return s.charAt(0).toUpperCase() + s.slice(1) + (s.endsWith('.') ? '' : '.');
}
