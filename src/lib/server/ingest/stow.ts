/**
 * DICOMweb STOW-RS: `POST /dicomweb/studies[/{StudyInstanceUID}]` with a
 * `multipart/related; type="application/dicom"` body. Each part (a Part 10 file)
 * streams into the blob store (never buffered whole), its attributes come from
 * the same prefix parser as DIMSE, and it goes through the same sink. The answer
 * is the PS3.18 store response (application/dicom+json).
 *
 * Runs as a raw node request hook in front of SvelteKit (workers/web/server.ts),
 * protected by `Authorization: Bearer $DICOMWEB_TOKEN`.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part18.html#sect_10.5 PS3.18 10.5 Store Transaction
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { BlobStore, StagedBlob } from '../../../../workers/dicom/storage';
import { parseDatasetPrefix, DatasetParseError } from '../../../../workers/dicom/receive';
import { datasetOffset } from '../../../../workers/dicom/part10';
import { ACCEPTED_TRANSFER_SYNTAX_UIDS } from '../../../../workers/dicom/policy';
import { InstanceRejectedError, fileDurably, type InstanceSink } from '../../../../workers/dicom/server';
import { extractInstanceAttributes, type InstanceAttributes } from '../../domain/dicom/attributes';
import { DicomValueError } from '../../domain/dicom/values';
import type { SqlLike } from '../db/client';
import type { Logger } from '../log';
import { IngestSource, recordIngestFailure } from './dicom-sink';

/** PS3.18 Table 10.5.3-1 / PS3.4 B.2-1 failure reasons used in FailedSOPSequence. */
export const StowFailure = {
	processingFailure: 0x0110,
	outOfResources: 0xa700,
	datasetMismatch: 0xa900,
	cannotUnderstand: 0xc000,
	transferSyntaxNotSupported: 0xc122
} as const;
export type StowFailure = (typeof StowFailure)[keyof typeof StowFailure];

export interface StowOptions {
	blobStore: BlobStore;
	sink: InstanceSink;
	sql: SqlLike;
	log: Logger;
	/** DICOMWEB_TOKEN; null/empty disables STOW (503). */
	token: string | null;
	/** Largest request body (413 beyond). */
	maxRequestBytes: number;
	/** Largest single instance (its part fails with 0xA700 beyond). */
	maxObjectBytes: number;
	/** Prefix kept per part for attribute parsing. Default 4 MiB. */
	headerCaptureBytes?: number;
	/** Base URL path for RetrieveURL values. Default '/dicomweb'. */
	basePath?: string;
}

/** A multipart/related body that cannot be read; answered 400. */
export class MultipartError extends Error {
	readonly code = 'bad_multipart';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'MultipartError';
	}
}

class TooLargeError extends Error {
	readonly code = 'too_large';
}

export interface PartHandlers {
	start(headers: Record<string, string>): Promise<void> | void;
	data(chunk: Buffer): Promise<void> | void;
	end(): Promise<void> | void;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_PART_HEADER = 16 * 1024;

/**
 * Streams a multipart body: part bodies are handed over chunk by chunk, only a
 * boundary-sized tail is ever held back.
 * @see RFC 2046 5.1.1 (boundary delimiters), RFC 2387 (multipart/related)
 */
export async function parseMultipart(source: AsyncIterable<Buffer>, boundary: string, h: PartHandlers): Promise<number> {
	// Treat the body as preceded by CRLF so the first delimiter looks like every other one.
	const delimiter = Buffer.from(`\r\n--${boundary}`);
	let buf: Buffer = Buffer.from(CRLF);
	let state: 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'done' = 'preamble';
	let parts = 0;
	const step = async (final: boolean): Promise<boolean> => {
		switch (state) {
			case 'preamble': {
				const i = buf.indexOf(delimiter);
				if (i < 0) {
					if (buf.length > delimiter.length) buf = buf.subarray(buf.length - delimiter.length);
					return false;
				}
				buf = buf.subarray(i + delimiter.length);
				state = 'after-delimiter';
				return true;
			}
			case 'after-delimiter': {
				if (buf.length < 2 && !final) return false;
				if (buf.subarray(0, 2).toString('latin1') === '--') {
					state = 'done';
					return false;
				}
				const eol = buf.indexOf(CRLF);
				if (eol < 0) {
					if (buf.length > 1024) throw new MultipartError('garbage after a boundary delimiter');
					return false;
				}
				if (buf.subarray(0, eol).toString('latin1').trim() !== '') throw new MultipartError('garbage after a boundary delimiter');
				// Headers end with an empty line; keep the CRLF so "no headers" is found too.
				buf = buf.subarray(eol);
				state = 'headers';
				return true;
			}
			case 'headers': {
				const end = buf.indexOf(HEADER_END);
				if (end < 0) {
					if (buf.length > MAX_PART_HEADER) throw new MultipartError('part headers too long');
					return false;
				}
				const headers: Record<string, string> = {};
				for (const line of buf.subarray(2, end).toString('latin1').split('\r\n')) {
					if (!line) continue;
					const c = line.indexOf(':');
					if (c <= 0) throw new MultipartError('malformed part header');
					headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
				}
				buf = buf.subarray(end + HEADER_END.length);
				parts++;
				await h.start(headers);
				state = 'body';
				return true;
			}
			case 'body': {
				const i = buf.indexOf(delimiter);
				if (i >= 0) {
					if (i > 0) await h.data(buf.subarray(0, i));
					await h.end();
					buf = buf.subarray(i + delimiter.length);
					state = 'after-delimiter';
					return true;
				}
				const keep = delimiter.length - 1;
				if (buf.length > keep) {
					await h.data(buf.subarray(0, buf.length - keep));
					buf = buf.subarray(buf.length - keep);
				}
				return false;
			}
			case 'done':
				return false;
			default:
				return state satisfies never;
		}
	};
	for await (const chunk of source) {
		buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
		while (await step(false));
		if ((state as string) === 'done') break;
	}
	while (await step(true));
	if ((state as string) !== 'done') throw new MultipartError(parts === 0 ? 'no part found (check the boundary)' : 'body ended before the closing boundary');
	return parts;
}

/** Reads the media type and parameters of a Content-Type header. */
export function parseContentType(value: string | undefined): { type: string; params: Record<string, string> } {
	const [type, ...rest] = (value ?? '').split(';');
	const params: Record<string, string> = {};
	for (const p of rest) {
		const eq = p.indexOf('=');
		if (eq < 0) continue;
		params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
	}
	return { type: type.trim().toLowerCase(), params };
}

/** Transfer Syntax UID (0002,0010) from a Part 10 File Meta group. */
export function fileMetaTransferSyntax(file: Buffer): string | null {
	const end = datasetOffset(file);
	if (end === null) return null;
	let p = 132;
	while (p + 8 <= Math.min(end, file.length)) {
		const group = file.readUInt16LE(p);
		const element = file.readUInt16LE(p + 2);
		if (group !== 0x0002) break;
		const vr = file.toString('latin1', p + 4, p + 6);
		const long = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(vr);
		const len = long ? file.readUInt32LE(p + 8) : file.readUInt16LE(p + 6);
		const start = p + (long ? 12 : 8);
		if (element === 0x0010) return file.toString('latin1', start, start + len).replace(/[\0 ]+$/, '');
		p = start + len;
	}
	return null;
}

interface PartResult {
	ok: boolean;
	sopClassUid: string | null;
	sopInstanceUid: string | null;
	studyInstanceUid: string | null;
	failure?: StowFailure;
	message?: string;
}

const el = (vr: string, value: unknown) => ({ vr, Value: [value] });

/** PS3.18 store response body. */
export function storeResponse(results: PartResult[], retrieveBase: string, studyUid: string | null): Record<string, unknown> {
	const ok = results.filter((r) => r.ok);
	const failed = results.filter((r) => !r.ok);
	const body: Record<string, unknown> = {};
	const study = studyUid ?? ok[0]?.studyInstanceUid ?? null;
	if (study) body['00081190'] = { vr: 'UR', Value: [`${retrieveBase}/studies/${study}`] };
	if (failed.length) {
		body['00081198'] = {
			vr: 'SQ',
			Value: failed.map((f) => ({
				...(f.sopClassUid ? { '00081150': el('UI', f.sopClassUid) } : {}),
				...(f.sopInstanceUid ? { '00081155': el('UI', f.sopInstanceUid) } : {}),
				'00081197': el('US', f.failure ?? StowFailure.processingFailure)
			}))
		};
	}
	if (ok.length) {
		body['00081199'] = {
			vr: 'SQ',
			Value: ok.map((r) => ({
				'00081150': el('UI', r.sopClassUid),
				'00081155': el('UI', r.sopInstanceUid),
				'00081190': el('UR', `${retrieveBase}/studies/${r.studyInstanceUid}/instances/${r.sopInstanceUid}`)
			}))
		};
	}
	return body;
}

const sha = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time bearer token check. */
export function tokenMatches(header: string | undefined, token: string): boolean {
	const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
	if (!m) return false;
	return timingSafeEqual(sha(m[1].trim()), sha(token));
}

const ROUTE = /^\/dicomweb\/studies(?:\/([0-9.]+))?\/?$/;

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/dicom+json', extra: Record<string, string> = {}) {
	const text = typeof body === 'string' ? body : JSON.stringify(body);
	if (!res.headersSent) res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...extra });
	res.end(text);
}

/**
 * The STOW-RS request hook for startWeb({ hooks }). Returns false for requests
 * that are not a STOW-RS POST, so they fall through to SvelteKit.
 */
export function createStowHook(o: StowOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean> {
	const base = o.basePath ?? '/dicomweb';
	const capture = o.headerCaptureBytes ?? 4 * 1024 * 1024;
	return async (req, res) => {
		const path = (req.url ?? '').split('?')[0];
		const m = ROUTE.exec(path);
		if (!m) return false;
		if (req.method !== 'POST') {
			send(res, 405, { error: 'only STOW-RS (POST) is served here' }, 'application/json', { allow: 'POST' });
			return true;
		}
		// Error answers close the connection: an unread upload must not poison keep-alive.
		const refuse = (status: number, error: string, extra: Record<string, string> = {}) => {
			send(res, status, { error }, 'application/json', { connection: 'close', ...extra });
			req.resume();
		};
		if (!o.token) {
			refuse(503, 'STOW-RS is disabled: set DICOMWEB_TOKEN to enable it');
			return true;
		}
		if (!tokenMatches(req.headers.authorization, o.token)) {
			refuse(401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer realm="radflow-dicomweb"' });
			return true;
		}
		const ct = parseContentType(req.headers['content-type']);
		if (ct.type !== 'multipart/related' || (ct.params.type && ct.params.type.toLowerCase() !== 'application/dicom')) {
			refuse(415, 'expected multipart/related; type="application/dicom"');
			return true;
		}
		if (!ct.params.boundary) {
			refuse(400, 'multipart boundary missing');
			return true;
		}
		const declared = Number(req.headers['content-length'] ?? NaN);
		if (Number.isFinite(declared) && declared > o.maxRequestBytes) {
			refuse(413, `request exceeds ${o.maxRequestBytes} bytes`);
			return true;
		}
		const studyUid = m[1] ?? null;
		const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
		const results: PartResult[] = [];
		let received = 0;
		let staged: StagedBlob | null = null;
		let head: Buffer[] = [];
		let headBytes = 0;
		let partBytes = 0;
		let partType = '';
		let writeError: Error | null = null;

		const body = async function* () {
			for await (const chunk of req as AsyncIterable<Buffer>) {
				received += chunk.length;
				if (received > o.maxRequestBytes) throw new TooLargeError(`request exceeds ${o.maxRequestBytes} bytes`);
				yield chunk;
			}
		};
		const recording: Promise<void>[] = [];
		const fail = (r: Omit<PartResult, 'ok'>) => {
			results.push({ ok: false, ...r });
			recording.push(recordIngestFailure(o.sql, o.log, {
				source: IngestSource.dicomweb,
				peer,
				reason: r.message ?? 'failed',
				details: { sopInstanceUid: r.sopInstanceUid, failure: r.failure }
			}));
		};
		const finishPart = async () => {
			const s = staged;
			staged = null;
			try {
				if (!s) return fail({ sopClassUid: null, sopInstanceUid: null, studyInstanceUid: null, failure: StowFailure.outOfResources, message: 'storage unavailable' });
				if (partType && partType !== 'application/dicom') {
					return fail({ sopClassUid: null, sopInstanceUid: null, studyInstanceUid: null, failure: StowFailure.cannotUnderstand, message: `part type ${partType} is not application/dicom` });
				}
				if (partBytes > o.maxObjectBytes) {
					return fail({ sopClassUid: null, sopInstanceUid: null, studyInstanceUid: null, failure: StowFailure.outOfResources, message: `instance exceeds ${o.maxObjectBytes} bytes` });
				}
				if (writeError) return fail({ sopClassUid: null, sopInstanceUid: null, studyInstanceUid: null, failure: StowFailure.outOfResources, message: 'storage write failed' });
				const prefix = Buffer.concat(head);
				const offset = datasetOffset(prefix);
				const ts = fileMetaTransferSyntax(prefix);
				if (offset === null || !ts) {
					return fail({ sopClassUid: null, sopInstanceUid: null, studyInstanceUid: null, failure: StowFailure.cannotUnderstand, message: 'part is not a DICOM Part 10 file' });
				}
				if (!ACCEPTED_TRANSFER_SYNTAX_UIDS.has(ts)) {
					return fail({ sopClassUid: null, sopInstanceUid: null, studyInstanceUid: null, failure: StowFailure.transferSyntaxNotSupported, message: `transfer syntax ${ts} not supported` });
				}
				let a: InstanceAttributes;
				try {
					a = extractInstanceAttributes(parseDatasetPrefix(prefix.subarray(offset), ts));
				} catch (e) {
					if (e instanceof DatasetParseError || e instanceof DicomValueError) {
						return fail({ sopClassUid: null, sopInstanceUid: null, studyInstanceUid: null, failure: StowFailure.cannotUnderstand, message: e.message });
					}
					throw e;
				}
				const ids = { sopClassUid: a.sopClassUid, sopInstanceUid: a.sopInstanceUid, studyInstanceUid: a.studyInstanceUid };
				if (studyUid && a.studyInstanceUid !== studyUid) {
					return fail({ ...ids, failure: StowFailure.datasetMismatch, message: 'instance belongs to another study than the request URL names' });
				}
				let placed;
				try {
					placed = await s.place({ studyUid: a.studyInstanceUid, seriesUid: a.seriesInstanceUid, sopUid: a.sopInstanceUid });
				} catch (e) {
					return fail({ ...ids, failure: StowFailure.outOfResources, message: `storage commit failed: ${(e as Error).message}` });
				}
				const { flush, filed } = await fileDurably(
					o.sink,
					{
						attributes: a,
						blobPath: placed.path,
						size: placed.size,
						transferSyntaxUid: ts,
						sopClassUid: a.sopClassUid,
						replaced: !placed.created,
						callingAe: '',
						calledAe: '',
						remoteAddress: peer,
						associationId: 0
					},
					placed
				);
				if (flush.status === 'rejected') {
					return fail({ ...ids, failure: StowFailure.outOfResources, message: `storage commit failed: ${(flush.reason as Error).message}` });
				}
				if (filed.status === 'rejected') {
					const e = filed.reason as Error;
					// The sink records its own failures; others are recorded here.
					const failure = e instanceof InstanceRejectedError && e.code === 'cannot_understand' ? StowFailure.cannotUnderstand : StowFailure.outOfResources;
					results.push({ ok: false, ...ids, failure, message: e.message });
					return;
				}
				results.push({ ok: true, ...ids });
			} finally {
				await s?.abort().catch(() => {});
			}
		};

		try {
			await parseMultipart(body(), ct.params.boundary, {
				start: async (headers) => {
					partType = parseContentType(headers['content-type'] ?? 'application/dicom').type;
					head = [];
					headBytes = 0;
					partBytes = 0;
					writeError = null;
					staged = await o.blobStore.stage().catch(() => null);
				},
				data: async (chunk) => {
					partBytes += chunk.length;
					if (headBytes < capture) {
						const take = chunk.subarray(0, capture - headBytes);
						head.push(Buffer.from(take));
						headBytes += take.length;
					}
					if (!staged || writeError || partBytes > o.maxObjectBytes) return;
					try {
						await staged.write(chunk);
					} catch (e) {
						writeError = e as Error;
					}
				},
				end: finishPart
			});
		} catch (e) {
			// Resolve tsc's narrowing of the closure-assigned variable.
			await (staged as StagedBlob | null)?.abort().catch(() => {});
			if (e instanceof TooLargeError) {
				refuse(413, e.message);
				return true;
			}
			if (e instanceof MultipartError) {
				refuse(400, `bad multipart body: ${e.message}`);
				return true;
			}
			throw e;
		}
		// Answer only once every failure is visible in ingest_failures.
		await Promise.all(recording);
		if (results.length === 0) {
			send(res, 400, { error: 'no DICOM part in the request' }, 'application/json');
			return true;
		}
		const okCount = results.filter((r) => r.ok).length;
		const status = okCount === results.length ? 200 : okCount === 0 ? 409 : 202;
		o.log.info('stow-rs', { peer, parts: results.length, stored: okCount, status });
		const origin = `${String(req.headers['x-forwarded-proto'] ?? 'http').split(',')[0]}://${req.headers.host ?? 'localhost'}`;
		send(res, status, storeResponse(results, `${origin}${base}`, studyUid));
		return true;
	};
}
