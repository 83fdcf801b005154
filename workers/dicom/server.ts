/**
 * The DICOM receive edge: a Storage SCP (C-STORE for every Storage SOP Class)
 * and Verification SCP (C-ECHO), over TCP or TLS. The upper layer and the
 * DIMSE command sets are handled here (association.ts, pdu.ts); the attributes
 * come from a bounded dataset prefix (src/lib/domain/dicom/prefix.ts).
 *
 * An object is acknowledged with Success only after its bytes are fsynced in
 * the blob store AND the sink (the database) accepted it; any failure becomes
 * a DIMSE failure status and the association carries on.
 *
 * Large objects: P-DATA values stream into the blob store as they arrive and
 * only a bounded prefix is parsed; nothing holds a whole dataset in memory.
 *
 * @see docs/dicom-conformance.md
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part07.html#sect_9.1.1 PS3.7 9.1.1 C-STORE
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { blobStoreOptionsFromEnv, FileBlobStore, type BlobKey, type BlobStore, type PlacedBlob } from './storage';
import { IncomingObject, parseDatasetPrefix, DatasetParseError, SMALL_OBJECT_BYTES } from './receive';
import { Association, type AssociateDecision, type DatasetReceiver } from './association';
import { ContextResult, DICOM_APPLICATION_CONTEXT, type AssociateRequest, type ContextAnswer, type DimseCommand } from './pdu';
import {
	RejectReason,
	RejectResult,
	RejectSource,
	isPeerAllowed,
	negotiateContext,
	normalizeAddress,
	parseAllowedPeers,
	type AllowedPeers
} from './policy';
import { secureServerOptions, tlsOptionsFromEnv, type DicomTlsOptions } from './tls';
import {
	AssociationRejectReason,
	FailureReason,
	TypedEmitter,
	emptyStats,
	type AssociationInfo,
	type DicomServerEventMap,
	type DicomServerStats
} from './events';
import { extractInstanceAttributes, type InstanceAttributes } from '../../src/lib/domain/dicom/attributes';
import { DicomValueError } from '../../src/lib/domain/dicom/values';
import { lookup } from 'node:dns/promises';

/** DIMSE status codes used by the SCP. @see PS3.4 Table B.2-1, PS3.7 Annex C */
export const DimseStatus = {
	success: 0x0000,
	outOfResources: 0xa700,
	datasetMismatch: 0xa900,
	cannotUnderstand: 0xc000
} as const;
export type DimseStatus = (typeof DimseStatus)[keyof typeof DimseStatus];

/** What the sink receives for each stored instance. */
export interface ReceivedInstance {
	attributes: InstanceAttributes;
	/** Where the Part 10 file lies in the blob store. */
	blobPath: string;
	/** File size in bytes (Part 10 header + dataset as received). */
	size: number;
	transferSyntaxUid: string;
	sopClassUid: string;
	/** True when this SOP Instance UID was stored before (a retry or resend). */
	replaced: boolean;
	callingAe: string;
	calledAe: string;
	remoteAddress: string;
	associationId: number;
}

/** The database side, implemented by the lead. Must be idempotent on SOP Instance UID. */
export interface InstanceSink {
	/**
	 * `blobDurable`, when given, resolves once the object's bytes are durable: the
	 * sink may prepare its transaction meanwhile but commits the instance only
	 * after it resolved, and never if it rejects.
	 */
	store(obj: ReceivedInstance, blobDurable?: Promise<void>): Promise<void>;
}

/**
 * Flushes a placed blob and files its instance; settles once both settled.
 * The row is committed only after the flush (unless `commitBeforeFlush`); for a
 * small object the transaction's reads and writes run during the flush. A sink
 * commits instances in groups, so a long flush (a large radiograph, a
 * multi-frame object) would hold every other association's commit: a large
 * blob is flushed before its instance goes to the sink.
 */
export async function fileDurably(
	sink: InstanceSink,
	instance: ReceivedInstance,
	placed: PlacedBlob,
	commitBeforeFlush = false
): Promise<{ flush: PromiseSettledResult<void>; filed: PromiseSettledResult<void> }> {
	const flush = placed.durable();
	const filed = commitBeforeFlush
		? sink.store(instance)
		: placed.size <= SMALL_OBJECT_BYTES
			? sink.store(instance, flush)
			: flush.then(() => sink.store(instance));
	const [f, d] = await Promise.allSettled([flush, filed]);
	return { flush: f, filed: d };
}

/** A sink may throw this to choose the status; anything else maps to 0xA700. */
export class InstanceRejectedError extends Error {
	readonly code: 'out_of_resources' | 'dataset_mismatch' | 'cannot_understand';
	constructor(code: InstanceRejectedError['code'], message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'InstanceRejectedError';
		this.code = code;
	}
}

export interface DicomServerOptions {
	port: number;
	/** Interface to bind; all interfaces when absent. */
	host?: string;
	aeTitle: string;
	allowedPeers: AllowedPeers;
	/** Largest P-DATA PDU we accept (advertised in A-ASSOCIATE-AC). */
	maxPduLength: number;
	/** Largest dataset we store; larger ones are answered 0xA700. */
	maxObjectBytes: number;
	tls?: DicomTlsOptions;
	/** Connection, association and PDU inactivity limit. */
	idleTimeoutMs: number;
	/** Dataset prefix kept for attribute parsing (default 4 MiB). */
	headerCaptureBytes?: number;
	/** Non-standard (private) SOP classes to accept for storage. */
	extraSopClasses?: readonly string[];
	/**
	 * Success is always sent after the blob is flushed AND the database committed.
	 * Default true: the row is committed only after the flush, so a committed row
	 * always points at durable bytes (safe by default); the transaction's reads and
	 * writes run during the flush. False (DICOM_FLUSH_BEFORE_DB=0) also lets the
	 * commit overlap the flush; a crash or a full disk in between can then leave a
	 * row for an object that was never acknowledged and whose bytes are not
	 * durable, until the sender's resend replaces them.
	 */
	flushBeforeDatabase?: boolean;
}

export interface DicomServerDeps {
	blobStore: BlobStore;
	sink: InstanceSink;
	/** Structured log sink; one object per line. Default: JSON lines on stderr. */
	log?: (entry: Record<string, unknown>) => void;
}

/**
 * Options from the environment: DICOM_PORT, DICOM_HOST, DICOM_AE_TITLE, DICOM_ALLOWED_AES,
 * DICOM_MAX_PDU, DICOM_MAX_OBJECT_BYTES, DICOM_IDLE_TIMEOUT_MS, DICOM_TLS_* (see tls.ts).
 * DICOM_ALLOWED_AES unset or empty admits no peer.
 */
export function optionsFromEnv(env: Record<string, string | undefined> = process.env): DicomServerOptions {
	const int = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) ? Number(v) : d);
	return {
		port: int(env.DICOM_PORT, 11112),
		host: env.DICOM_HOST || undefined,
		aeTitle: env.DICOM_AE_TITLE || 'RADFLOW',
		// Security by default: unset or empty refuses every calling AE; '*' must be explicit.
		allowedPeers: parseAllowedPeers(env.DICOM_ALLOWED_AES ?? ''),
		maxPduLength: int(env.DICOM_MAX_PDU, 262_144),
		maxObjectBytes: int(env.DICOM_MAX_OBJECT_BYTES, 4 * 1024 ** 3),
		idleTimeoutMs: int(env.DICOM_IDLE_TIMEOUT_MS, 60_000),
		flushBeforeDatabase: !(env.DICOM_FLUSH_BEFORE_DB === '0' || env.DICOM_FLUSH_BEFORE_DB === 'false'),
		tls: tlsOptionsFromEnv(env)
	};
}

class StoreFailure extends Error {
	constructor(
		readonly reason: FailureReason,
		readonly status: DimseStatus,
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
	}
}

/**
 * The DICOM receiver. `start()` / `stop()` are idempotent.
 */
export class DicomServer extends TypedEmitter<DicomServerEventMap> {
	readonly options: DicomServerOptions;
	private readonly deps: Required<DicomServerDeps>;
	private server: net.Server | null = null;
	private readonly sockets = new Set<Socket>();
	private readonly counters: DicomServerStats = emptyStats();
	private nextAssociationId = 1;
	private boundPort = 0;

	constructor(options: DicomServerOptions, deps: DicomServerDeps) {
		super();
		this.options = options;
		this.deps = {
			log: (e) => process.stderr.write(JSON.stringify({ at: new Date().toISOString(), role: 'dicom', ...e }) + '\n'),
			...deps
		};
	}

	/** The bound port (useful with port 0). */
	get port(): number {
		return this.boundPort;
	}

	stats(): DicomServerStats {
		return structuredClone(this.counters);
	}

	async start(): Promise<{ port: number }> {
		if (this.server) return { port: this.boundPort };
		const onSocket = (socket: Socket) => this.accept(socket);
		const t = this.options.tls;
		const server = t
			? tls.createServer({ ...secureServerOptions(t), handshakeTimeout: this.options.idleTimeoutMs }, onSocket)
			: net.createServer(onSocket);
		server.on('error', (e) => this.deps.log({ level: 'error', msg: 'server error', error: e.message }));
		if (t) server.on('tlsClientError', (e, s) => this.connectionError(s as Socket, `TLS: ${e.message}`));
		this.server = server;
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(this.options.port, this.options.host, () => {
				server.off('error', reject);
				resolve();
			});
		});
		this.boundPort = (server.address() as net.AddressInfo).port;
		this.emit('listening', { port: this.boundPort, host: this.options.host ?? '0.0.0.0', tls: !!t });
		this.deps.log({ level: 'info', msg: 'listening', port: this.boundPort, aeTitle: this.options.aeTitle, tls: !!t });
		return { port: this.boundPort };
	}

	async stop(): Promise<void> {
		const server = this.server;
		if (!server) return;
		this.server = null;
		const closed = new Promise<void>((resolve) => server.close(() => resolve()));
		for (const s of this.sockets) s.destroy();
		await closed;
	}

	private connectionError(socket: Socket | undefined, message: string): void {
		this.counters.connectionErrors++;
		const remoteAddress = normalizeAddress(socket?.remoteAddress);
		this.emit('connectionError', { remoteAddress, message });
		this.deps.log({ level: 'warn', msg: 'connection error', remoteAddress, error: message });
	}

	private accept(socket: Socket): void {
		this.sockets.add(socket);
		socket.once('close', () => this.sockets.delete(socket));
		new StorageScp(socket, this, this.nextAssociationId++);
	}

	/** @internal used by StorageScp */
	hooks() {
		return {
			options: this.options,
			deps: this.deps,
			counters: this.counters,
			emit: <K extends keyof DicomServerEventMap & string>(k: K, ...a: DicomServerEventMap[K]) => this.emit(k, ...a)
		};
	}
}

type Hooks = ReturnType<DicomServer['hooks']>;

/** Beyond the size cap, an object is drained (and answered 0xA700) up to this much more; then the association is aborted. */
const OVERSIZE_DRAIN_BYTES = 64 * 1024 * 1024;

/** The attributes in a dataset prefix, or the failure that answers a prefix we cannot read. */
function parseAttributes(prefix: Buffer, transferSyntaxUid: string): InstanceAttributes | StoreFailure {
	try {
		return extractInstanceAttributes(parseDatasetPrefix(prefix, transferSyntaxUid));
	} catch (e) {
		if (e instanceof DatasetParseError || e instanceof DicomValueError) {
			return new StoreFailure(FailureReason.cannotUnderstand, DimseStatus.cannotUnderstand, e.message, { cause: e });
		}
		return new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, (e as Error).message, { cause: e });
	}
}

const blobKey = (a: InstanceAttributes): BlobKey => ({ studyUid: a.studyInstanceUid, seriesUid: a.seriesInstanceUid, sopUid: a.sopInstanceUid });

/** A sink error as the DIMSE failure it answers. */
function sinkFailure(e: unknown): StoreFailure {
	if (e instanceof InstanceRejectedError) {
		const map = {
			out_of_resources: [FailureReason.sinkFailed, DimseStatus.outOfResources],
			dataset_mismatch: [FailureReason.sopMismatch, DimseStatus.datasetMismatch],
			cannot_understand: [FailureReason.cannotUnderstand, DimseStatus.cannotUnderstand]
		} as const;
		const [reason, status] = map[e.code];
		return new StoreFailure(reason, status, e.message, { cause: e });
	}
	return new StoreFailure(FailureReason.sinkFailed, DimseStatus.outOfResources, 'sink refused the instance', { cause: e });
}

/** One association (one TCP/TLS connection) of the storage SCP. */
class StorageScp {
	private readonly h: Hooks;
	private readonly id: number;
	private readonly sock: Socket;
	private readonly remoteAddress: string;
	private readonly association: Association;
	private info: AssociationInfo | null = null;
	private openedAt = 0;
	private instances = 0;
	private bytes = 0;
	private failures = 0;

	constructor(socket: Socket, server: DicomServer, id: number) {
		this.h = server.hooks();
		this.id = id;
		this.sock = socket;
		this.remoteAddress = normalizeAddress(socket.remoteAddress);
		const { options } = this.h;
		this.association = new Association(socket, { maxPduLength: options.maxPduLength, idleTimeoutMs: options.idleTimeoutMs }, {
			associate: (rq) => this.decide(rq),
			opened: (rq, contexts) => this.opened(rq, contexts),
			beginStore: (cmd, ts, resume) => this.beginStore(cmd, ts, resume),
			completeStore: (cmd, ds, ts) => this.store(cmd, ds as IncomingObject, ts),
			mustAbort: (ds) => this.mustAbort(ds as IncomingObject),
			closed: (how) => this.closed(how)
		});
	}

	private async decide(rq: AssociateRequest): Promise<AssociateDecision> {
		const { options, counters, emit, deps } = this.h;
		const { callingAe, calledAe } = rq;
		const reject = (reason: AssociationRejectReason, source: number, code: number): AssociateDecision => {
			counters.associationsRejected++;
			emit('associationRejected', { callingAe, calledAe, remoteAddress: this.remoteAddress, reason });
			deps.log({ level: 'warn', msg: 'association rejected', callingAe, calledAe, remoteAddress: this.remoteAddress, reason });
			return { accept: false, result: RejectResult.permanent, source, reason: code };
		};
		if ((rq.protocolVersion & 1) === 0) return reject(AssociationRejectReason.protocolVersionNotSupported, RejectSource.acse, RejectReason.protocolVersionNotSupported);
		if (rq.applicationContext !== DICOM_APPLICATION_CONTEXT) {
			return reject(AssociationRejectReason.applicationContextNotSupported, RejectSource.serviceUser, RejectReason.applicationContextNotSupported);
		}
		if (calledAe !== options.aeTitle) return reject(AssociationRejectReason.calledAeNotRecognized, RejectSource.serviceUser, RejectReason.calledAeNotRecognized);
		const peers = options.allowedPeers;
		const resolved = new Map<string, string[]>();
		if (peers !== 'any') {
			for (const p of peers) {
				if (p.host && p.aeTitle === callingAe && net.isIP(p.host) === 0 && !resolved.has(p.host)) {
					resolved.set(p.host, await lookup(p.host, { all: true }).then((r) => r.map((a) => a.address), () => []));
				}
			}
		}
		if (!isPeerAllowed(peers, callingAe, this.remoteAddress, resolved)) {
			return reject(AssociationRejectReason.callingAeNotRecognized, RejectSource.serviceUser, RejectReason.callingAeNotRecognized);
		}
		const extra = new Set(options.extraSopClasses ?? []);
		const contexts = rq.contexts.map((pc): ContextAnswer => {
			const d = negotiateContext(pc.abstractSyntax, pc.transferSyntaxes, extra);
			const fallback = pc.transferSyntaxes[0] ?? '1.2.840.10008.1.2';
			switch (d.result) {
				case 'accept':
					return { id: pc.id, result: ContextResult.acceptance, transferSyntax: d.transferSyntax };
				case 'abstract-syntax-not-supported':
					return { id: pc.id, result: ContextResult.abstractSyntaxNotSupported, transferSyntax: fallback };
				case 'transfer-syntaxes-not-supported':
					return { id: pc.id, result: ContextResult.transferSyntaxesNotSupported, transferSyntax: fallback };
				default:
					return d satisfies never;
			}
		});
		for (const [i, pc] of rq.contexts.entries()) {
			if (contexts[i].result !== ContextResult.transferSyntaxesNotSupported) continue;
			// Visible on the Ingest page: a sender proposing only what we refuse (e.g. big endian) cannot store.
			emit('contextRejected', {
				associationId: this.id,
				callingAe,
				remoteAddress: this.remoteAddress,
				abstractSyntax: pc.abstractSyntax,
				transferSyntaxes: pc.transferSyntaxes,
				reason: 'transfer_syntaxes_not_supported'
			});
		}
		// PS3.8 allows accepting with every context rejected; the peer then releases.
		return { accept: true, contexts };
	}

	private opened(rq: AssociateRequest, contexts: readonly ContextAnswer[]): void {
		const { counters, emit, deps, options } = this.h;
		this.info = { id: this.id, callingAe: rq.callingAe, calledAe: rq.calledAe, remoteAddress: this.remoteAddress, tls: this.sock instanceof tls.TLSSocket };
		this.openedAt = Date.now();
		counters.associationsOpen++;
		counters.associationsTotal++;
		const acceptedContexts = contexts.filter((c) => c.result === ContextResult.acceptance).length;
		// The A-ASSOCIATE-AC carries the largest PDU *we* receive (PS3.8 D.1); our responses are tiny.
		emit('associationOpened', { ...this.info, acceptedContexts, maxPduLength: options.maxPduLength });
		deps.log({ level: 'debug', msg: 'association accepted', associationId: this.id, callingAe: rq.callingAe, remoteAddress: this.remoteAddress, acceptedContexts });
	}

	private beginStore(cmd: DimseCommand, transferSyntaxUid: string, resume: () => void): DatasetReceiver {
		const { options, deps } = this.h;
		return new IncomingObject({
			stage: () => deps.blobStore.stage(),
			sopClassUid: cmd.affectedSopClassUid,
			sopInstanceUid: cmd.affectedSopInstanceUid,
			transferSyntaxUid,
			callingAe: this.info?.callingAe ?? '',
			maxObjectBytes: options.maxObjectBytes,
			headerCaptureBytes: options.headerCaptureBytes ?? 4 * 1024 * 1024,
			onDrain: resume
		});
	}

	/** Far beyond the cap, draining the rest of the object is not worth the bandwidth: abort. */
	private mustAbort(incoming: IncomingObject): string | null {
		const cap = this.h.options.maxObjectBytes;
		if (incoming.received <= cap + OVERSIZE_DRAIN_BYTES) return null;
		this.reportFailure(new StoreFailure(FailureReason.tooLarge, DimseStatus.outOfResources, `object exceeds ${cap} bytes; association aborted`), null);
		return `object exceeds ${cap} bytes`;
	}

	/** Never throws: every outcome is a status. */
	private async store(cmd: DimseCommand, incoming: IncomingObject, transferSyntaxUid: string): Promise<{ status: DimseStatus; comment?: string }> {
		const { options, deps, counters, emit } = this.h;
		const affectedSop = cmd.affectedSopInstanceUid;
		const callingAe = this.info?.callingAe ?? '';
		try {
			// The attributes come from the captured prefix: parsed while the last bytes of a large object are written.
			const written = incoming.end();
			const parsed = incoming.tooLarge ? null : parseAttributes(incoming.headerPrefix(), transferSyntaxUid);
			await written;
			if (incoming.tooLarge) {
				throw new StoreFailure(FailureReason.tooLarge, DimseStatus.outOfResources, `object exceeds ${options.maxObjectBytes} bytes`);
			}
			if (incoming.failure) {
				throw new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, 'storage write failed', { cause: incoming.failure });
			}
			if (parsed instanceof StoreFailure) throw parsed;
			const attributes = parsed!;
			if (attributes.sopInstanceUid !== affectedSop || attributes.sopClassUid !== cmd.affectedSopClassUid) {
				throw new StoreFailure(FailureReason.sopMismatch, DimseStatus.datasetMismatch, 'dataset SOP Class/Instance UID differs from the command');
			}
			let placed: PlacedBlob;
			try {
				placed = await incoming.place(blobKey(attributes));
			} catch (e) {
				throw new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, 'storage commit failed', { cause: e });
			}
			const { flush, filed } = await fileDurably(
				deps.sink,
				{
					attributes,
					blobPath: placed.path,
					size: placed.size,
					transferSyntaxUid,
					sopClassUid: attributes.sopClassUid,
					replaced: !placed.created,
					callingAe,
					calledAe: this.info?.calledAe ?? '',
					remoteAddress: this.remoteAddress,
					associationId: this.id
				},
				placed,
				options.flushBeforeDatabase === false
			);
			if (flush.status === 'rejected') {
				throw new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, 'storage flush failed', { cause: flush.reason });
			}
			if (filed.status === 'rejected') throw sinkFailure(filed.reason);
			this.instances++;
			this.bytes += placed.size;
			counters.instancesStored++;
			counters.bytesStored += placed.size;
			emit('instanceStored', {
				associationId: this.id,
				sopInstanceUid: attributes.sopInstanceUid,
				studyInstanceUid: attributes.studyInstanceUid,
				bytes: placed.size,
				transferSyntaxUid,
				replaced: !placed.created
			});
			return { status: DimseStatus.success };
		} catch (e) {
			const f =
				e instanceof StoreFailure
					? e
					: new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, (e as Error).message, { cause: e });
			this.reportFailure(f, affectedSop);
			return { status: f.status, comment: f.message };
		} finally {
			await incoming.abort();
		}
	}

	private reportFailure(f: StoreFailure, sopInstanceUid: string | null): void {
		const { deps, counters, emit } = this.h;
		this.failures++;
		counters.failedObjects[f.reason]++;
		const cause = f.cause instanceof Error ? f.cause.message : undefined;
		emit('rejected', {
			associationId: this.id,
			reason: f.reason,
			status: f.status,
			sopInstanceUid: sopInstanceUid || null,
			callingAe: this.info?.callingAe ?? '',
			remoteAddress: this.remoteAddress,
			message: f.message
		});
		deps.log({ level: 'warn', msg: 'c-store failed', associationId: this.id, reason: f.reason, status: f.status, error: f.message, cause });
	}

	private closed(how: { released: boolean; dataset: DatasetReceiver | null; error: string | null }): void {
		void (how.dataset as IncomingObject | null)?.abort();
		const { counters, emit, deps } = this.h;
		// A connection-level problem (bad PDU, timeout, abort mid-object) is visible, never silent.
		if (how.error && !how.released) {
			counters.connectionErrors++;
			emit('connectionError', { remoteAddress: this.remoteAddress, message: how.error, associationId: this.info ? this.id : null, callingAe: this.info?.callingAe ?? null });
			deps.log({ level: 'warn', msg: 'connection error', associationId: this.id, remoteAddress: this.remoteAddress, error: how.error });
		}
		if (!this.info) return;
		counters.associationsOpen--;
		emit('associationClosed', {
			...this.info,
			instances: this.instances,
			bytes: this.bytes,
			failures: this.failures,
			durationMs: Date.now() - this.openedAt,
			released: how.released
		});
		this.info = null;
	}
}

/** Starts a receiver from the environment with the filesystem blob store (CLI entry). */
export async function startFromEnv(sink: InstanceSink, dataDir: string): Promise<DicomServer> {
	const server = new DicomServer(optionsFromEnv(), { blobStore: new FileBlobStore(dataDir, blobStoreOptionsFromEnv(process.env)), sink });
	await server.start();
	return server;
}
