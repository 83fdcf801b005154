/**
 * The DICOM receive edge: a Storage SCP (C-STORE for every Storage SOP Class)
 * and Verification SCP (C-ECHO), over TCP or TLS, built on dcmjs-dimse.
 *
 * An object is acknowledged with Success only after its bytes are fsynced in
 * the blob store AND the sink (the database) accepted it; any failure becomes
 * a DIMSE failure status and the association carries on.
 *
 * Large objects: dcmjs-dimse's default C-STORE path accumulates the dataset
 * in memory and parses it whole with dcmjs. We override its two store hooks so
 * fragments stream into the blob store and only a bounded prefix is parsed.
 *
 * @see docs/dicom-conformance.md
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part07.html#sect_9.1.1 PS3.7 9.1.1 C-STORE
 */
import net from 'node:net';
import tls from 'node:tls';
import dcmjs from 'dcmjs';
import dimse from 'dcmjs-dimse';
import type { Socket } from 'node:net';
import { FileBlobStore, type BlobStore } from './storage';
import { IncomingObject, parseDatasetPrefix, DatasetParseError } from './receive';
import { PduGuard, abortPdu } from './pdu-guard';
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
import { tlsOptionsFromEnv, type DicomTlsOptions } from './tls';
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

const { Scp, Dataset, Implementation, constants, responses } = dimse;
const { CStoreResponse, CEchoResponse } = responses;
const { PresentationContextResult } = constants;

// The libraries log every PDU to the console; Radflow logs for itself.
dimse.log.setLevel('silent');
dcmjs.log.setLevel('error');

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
	store(obj: ReceivedInstance): Promise<void>;
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

/** The dataset object dcmjs-dimse passes to cStoreRequest → the object we streamed. */
const incomingByDataset = new WeakMap<object, IncomingObject>();

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
		// The library advertises min(requested, its global max); lift the global to ours.
		if (Implementation.getMaxPduLength() < this.options.maxPduLength) Implementation.setMaxPduLength(this.options.maxPduLength);
		const onSocket = (socket: Socket) => this.accept(socket);
		const t = this.options.tls;
		const server = t
			? tls.createServer(
					{ key: t.key, cert: t.cert, ca: t.ca, requestCert: !!t.requestCert, rejectUnauthorized: !!t.requestCert, minVersion: 'TLSv1.2' },
					onSocket
				)
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
		socket.setNoDelay(true);
		this.sockets.add(socket);
		socket.once('close', () => this.sockets.delete(socket));
		const guard = new PduGuard(this.options.maxPduLength);
		socket.on('data', (chunk: Buffer) => {
			const problem = guard.feed(chunk);
			if (problem) {
				this.connectionError(socket, problem);
				socket.end(abortPdu());
				socket.destroySoon?.();
				setTimeout(() => socket.destroy(), 1000).unref();
			}
		});
		const scp = new RadflowScp(socket, this, this.nextAssociationId++);
		scp.on('networkError', (e: Error) => {
			this.connectionError(socket, e.message);
			socket.end();
		});
	}

	/** @internal used by RadflowScp */
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
type LibAssociation = InstanceType<typeof dimse.association.Association>;
type LibContext = InstanceType<typeof dimse.association.PresentationContext>;
type LibStoreRequest = InstanceType<typeof dimse.requests.CStoreRequest>;

/** One association (one TCP/TLS connection), as dcmjs-dimse's Scp. */
class RadflowScp extends Scp {
	private readonly h: Hooks;
	private readonly id: number;
	private readonly sock: Socket;
	private readonly remoteAddress: string;
	private info: AssociationInfo | null = null;
	private openedAt = 0;
	private instances = 0;
	private bytes = 0;
	private failures = 0;
	private released = false;
	private current: IncomingObject | null = null;
	private assoc: LibAssociation | null = null;

	constructor(socket: Socket, server: DicomServer, id: number) {
		const o = server.options;
		super(socket, { connectTimeout: o.idleTimeoutMs, associationTimeout: o.idleTimeoutMs, pduTimeout: o.idleTimeoutMs });
		this.h = server.hooks();
		this.id = id;
		this.sock = socket;
		this.remoteAddress = normalizeAddress(socket.remoteAddress);
		this.on('close', () => this.closed());
	}

	override associationRequested(association: LibAssociation): void {
		this.decide(association).catch((e: Error) => {
			this.h.deps.log({ level: 'error', msg: 'association handling failed', error: e.message });
			this.sendAssociationReject(RejectResult.transient, RejectSource.serviceUser, RejectReason.noReasonGiven);
			this.sock.end();
		});
	}

	private async decide(association: LibAssociation): Promise<void> {
		const { options, counters, emit, deps } = this.h;
		this.assoc = association;
		const callingAe = association.getCallingAeTitle().trim();
		const calledAe = association.getCalledAeTitle().trim();
		const reject = (reason: AssociationRejectReason, code: number) => {
			counters.associationsRejected++;
			emit('associationRejected', { callingAe, calledAe, remoteAddress: this.remoteAddress, reason });
			deps.log({ level: 'warn', msg: 'association rejected', callingAe, calledAe, remoteAddress: this.remoteAddress, reason });
			this.sendAssociationReject(RejectResult.permanent, RejectSource.serviceUser, code);
			this.sock.end();
		};
		if (calledAe !== options.aeTitle) return reject(AssociationRejectReason.calledAeNotRecognized, RejectReason.calledAeNotRecognized);
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
			return reject(AssociationRejectReason.callingAeNotRecognized, RejectReason.callingAeNotRecognized);
		}

		const extra = new Set(options.extraSopClasses ?? []);
		let accepted = 0;
		for (const { id } of association.getPresentationContexts()) {
			const ctx = association.getPresentationContext(id);
			const d = negotiateContext(ctx.getAbstractSyntaxUid(), ctx.getTransferSyntaxUids(), extra);
			switch (d.result) {
				case 'accept':
					ctx.setResult(PresentationContextResult.Accept, d.transferSyntax);
					accepted++;
					break;
				case 'abstract-syntax-not-supported':
					ctx.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
					break;
				case 'transfer-syntaxes-not-supported':
					ctx.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
					break;
				default:
					d satisfies never;
			}
		}
		// The A-ASSOCIATE-AC carries the largest PDU *we* receive (PS3.8 D.1); our responses are tiny.
		association.setMaxPduLength(options.maxPduLength);
		// PS3.8 allows accepting with every context rejected; the peer then releases.
		this.sendAssociationAccept();
		this.info = { id: this.id, callingAe, calledAe, remoteAddress: this.remoteAddress, tls: this.sock instanceof tls.TLSSocket };
		this.openedAt = Date.now();
		counters.associationsOpen++;
		counters.associationsTotal++;
		emit('associationOpened', { ...this.info, acceptedContexts: accepted, maxPduLength: association.getMaxPduLength() });
		deps.log({ level: 'debug', msg: 'association accepted', associationId: this.id, callingAe, remoteAddress: this.remoteAddress, acceptedContexts: accepted });
	}

	override associationReleaseRequested(): void {
		this.released = true;
		this.sendAssociationReleaseResponse();
	}

	override abort(): void {
		this.current?.staged?.abort().catch(() => {});
	}

	override cEchoRequest(request: InstanceType<typeof dimse.requests.CEchoRequest>, callback: (r: InstanceType<typeof CEchoResponse>) => void): void {
		const response = CEchoResponse.fromRequest(request);
		response.setStatus(DimseStatus.success);
		callback(response);
	}

	override createStoreWritableStream(context: LibContext, request: LibStoreRequest) {
		const { options, deps } = this.h;
		const incoming = new IncomingObject({
			stage: () => deps.blobStore.stage(),
			sopClassUid: request.getAffectedSopClassUid(),
			sopInstanceUid: request.getAffectedSopInstanceUid(),
			transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
			callingAe: this.info?.callingAe ?? '',
			maxObjectBytes: options.maxObjectBytes,
			headerCaptureBytes: options.headerCaptureBytes ?? 4 * 1024 * 1024,
			onBackpressure: (paused) => (paused ? this.sock.pause() : this.sock.resume())
		});
		this.current = incoming;
		return incoming;
	}

	override createDatasetFromStoreWritableStream(writable: unknown, context: LibContext, callback: (dataset: InstanceType<typeof Dataset>) => void): void {
		const incoming = writable as IncomingObject;
		void incoming.finished().then(() => {
			const ds = new Dataset({}, context.getAcceptedTransferSyntaxUid() ?? '');
			incomingByDataset.set(ds, incoming);
			callback(ds);
		});
	}

	override cStoreRequest(request: LibStoreRequest, callback: (response: InstanceType<typeof CStoreResponse>) => void): void {
		void this.store(request).then(({ status, comment }) => {
			const response = CStoreResponse.fromRequest(request);
			response.setStatus(status);
			if (comment) response.setErrorComment(comment.slice(0, 64));
			callback(response);
		});
	}

	/** Never throws: every outcome is a status. */
	private async store(request: LibStoreRequest): Promise<{ status: DimseStatus; comment?: string }> {
		const { options, deps, counters, emit } = this.h;
		const ds = request.getDataset();
		const incoming = ds ? incomingByDataset.get(ds) : undefined;
		const affectedSop = request.getAffectedSopInstanceUid();
		const context = this.assoc?.getAcceptedPresentationContextFromRequest(request);
		const transferSyntaxUid = context?.getAcceptedTransferSyntaxUid() ?? '';
		const callingAe = this.info?.callingAe ?? '';
		try {
			if (!incoming) throw new StoreFailure(FailureReason.cannotUnderstand, DimseStatus.cannotUnderstand, 'no dataset received');
			if (incoming.tooLarge) {
				throw new StoreFailure(FailureReason.tooLarge, DimseStatus.outOfResources, `object exceeds ${options.maxObjectBytes} bytes`);
			}
			if (incoming.failure || !incoming.staged) {
				throw new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, 'storage write failed', { cause: incoming.failure });
			}
			let attributes: InstanceAttributes;
			try {
				attributes = extractInstanceAttributes(parseDatasetPrefix(incoming.headerPrefix(), transferSyntaxUid));
			} catch (e) {
				if (e instanceof DatasetParseError || e instanceof DicomValueError) {
					throw new StoreFailure(FailureReason.cannotUnderstand, DimseStatus.cannotUnderstand, e.message, { cause: e });
				}
				throw e;
			}
			if (attributes.sopInstanceUid !== affectedSop || attributes.sopClassUid !== request.getAffectedSopClassUid()) {
				throw new StoreFailure(FailureReason.sopMismatch, DimseStatus.datasetMismatch, 'dataset SOP Class/Instance UID differs from the command');
			}
			let stored;
			try {
				stored = await incoming.staged.commit({
					studyUid: attributes.studyInstanceUid,
					seriesUid: attributes.seriesInstanceUid,
					sopUid: attributes.sopInstanceUid
				});
			} catch (e) {
				throw new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, 'storage commit failed', { cause: e });
			}
			try {
				await deps.sink.store({
					attributes,
					blobPath: stored.path,
					size: stored.size,
					transferSyntaxUid,
					sopClassUid: attributes.sopClassUid,
					replaced: !stored.created,
					callingAe,
					calledAe: this.info?.calledAe ?? '',
					remoteAddress: this.remoteAddress,
					associationId: this.id
				});
			} catch (e) {
				if (e instanceof InstanceRejectedError) {
					const map = {
						out_of_resources: [FailureReason.sinkFailed, DimseStatus.outOfResources],
						dataset_mismatch: [FailureReason.sopMismatch, DimseStatus.datasetMismatch],
						cannot_understand: [FailureReason.cannotUnderstand, DimseStatus.cannotUnderstand]
					} as const;
					const [reason, status] = map[e.code];
					throw new StoreFailure(reason, status, e.message, { cause: e });
				}
				throw new StoreFailure(FailureReason.sinkFailed, DimseStatus.outOfResources, 'sink refused the instance', { cause: e });
			}
			this.instances++;
			this.bytes += stored.size;
			counters.instancesStored++;
			counters.bytesStored += stored.size;
			emit('instanceStored', {
				associationId: this.id,
				sopInstanceUid: attributes.sopInstanceUid,
				studyInstanceUid: attributes.studyInstanceUid,
				bytes: stored.size,
				transferSyntaxUid,
				replaced: !stored.created
			});
			return { status: DimseStatus.success };
		} catch (e) {
			const f =
				e instanceof StoreFailure
					? e
					: new StoreFailure(FailureReason.storageFailed, DimseStatus.outOfResources, (e as Error).message, { cause: e });
			this.failures++;
			counters.failedObjects[f.reason]++;
			const cause = f.cause instanceof Error ? f.cause.message : undefined;
			emit('rejected', {
				associationId: this.id,
				reason: f.reason,
				status: f.status,
				sopInstanceUid: affectedSop || null,
				callingAe,
				remoteAddress: this.remoteAddress,
				message: f.message
			});
			deps.log({ level: 'warn', msg: 'c-store failed', associationId: this.id, reason: f.reason, status: f.status, error: f.message, cause });
			return { status: f.status, comment: f.message };
		} finally {
			await incoming?.staged?.abort().catch(() => {});
			if (this.current === incoming) this.current = null;
		}
	}

	private closed(): void {
		this.current?.destroy();
		void this.current?.staged?.abort().catch(() => {});
		this.current = null;
		if (!this.info) return;
		const { counters, emit } = this.h;
		counters.associationsOpen--;
		emit('associationClosed', {
			...this.info,
			instances: this.instances,
			bytes: this.bytes,
			failures: this.failures,
			durationMs: Date.now() - this.openedAt,
			released: this.released
		});
		this.info = null;
	}
}

/** Starts a receiver from the environment with the filesystem blob store (CLI entry). */
export async function startFromEnv(sink: InstanceSink, dataDir: string): Promise<DicomServer> {
	const server = new DicomServer(optionsFromEnv(), { blobStore: new FileBlobStore(dataDir), sink });
	await server.start();
	return server;
}
