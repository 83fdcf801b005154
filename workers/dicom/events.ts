/**
 * Typed events and counters of the DICOM receiver, for logs and the Ingest page.
 * One interface shared by the server and whoever listens.
 */
import { EventEmitter } from 'node:events';

/** Why an object or association was refused; stable codes for the dashboard. */
export const FailureReason = {
	tooLarge: 'too_large',
	cannotUnderstand: 'cannot_understand',
	sopMismatch: 'sop_mismatch',
	storageFailed: 'storage_failed',
	sinkFailed: 'sink_failed'
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

export const AssociationRejectReason = {
	callingAeNotRecognized: 'calling_ae_not_recognized',
	calledAeNotRecognized: 'called_ae_not_recognized',
	applicationContextNotSupported: 'application_context_not_supported',
	protocolVersionNotSupported: 'protocol_version_not_supported'
} as const;
export type AssociationRejectReason = (typeof AssociationRejectReason)[keyof typeof AssociationRejectReason];

export interface AssociationInfo {
	id: number;
	callingAe: string;
	calledAe: string;
	remoteAddress: string;
	tls: boolean;
}

export interface DicomServerEventMap {
	listening: [{ port: number; host: string; tls: boolean }];
	associationOpened: [AssociationInfo & { acceptedContexts: number; maxPduLength: number }];
	associationClosed: [AssociationInfo & { instances: number; bytes: number; failures: number; durationMs: number; released: boolean }];
	associationRejected: [{ callingAe: string; calledAe: string; remoteAddress: string; reason: AssociationRejectReason }];
	instanceStored: [{
		associationId: number;
		sopInstanceUid: string;
		studyInstanceUid: string;
		bytes: number;
		transferSyntaxUid: string;
		replaced: boolean;
	}];
	/** A C-STORE answered with a failure status. */
	rejected: [{
		associationId: number;
		reason: FailureReason;
		status: number;
		sopInstanceUid: string | null;
		callingAe: string;
		remoteAddress: string;
		message: string;
	}];
	/** A presentation context refused because none of its transfer syntaxes is accepted (e.g. big endian only). */
	contextRejected: [{
		associationId: number;
		callingAe: string;
		remoteAddress: string;
		abstractSyntax: string;
		transferSyntaxes: string[];
		reason: 'transfer_syntaxes_not_supported';
	}];
	/** A connection-level problem (bad PDU, idle timeout, abort, TLS); the server carries on. */
	connectionError: [{ remoteAddress: string; message: string; associationId?: number | null; callingAe?: string | null }];
}

/** EventEmitter whose on/emit are checked against an event map. */
export class TypedEmitter<M extends { [K in keyof M]: unknown[] }> {
	private readonly ee = new EventEmitter();
	on<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
		this.ee.on(event, listener as (...args: unknown[]) => void);
		return this;
	}
	once<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
		this.ee.once(event, listener as (...args: unknown[]) => void);
		return this;
	}
	off<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
		this.ee.off(event, listener as (...args: unknown[]) => void);
		return this;
	}
	protected emit<K extends keyof M & string>(event: K, ...args: M[K]): void {
		// A throwing listener must never break the protocol handling that emitted.
		for (const l of this.ee.listeners(event)) {
			try {
				(l as (...a: M[K]) => void)(...args);
			} catch {
				/* listener bugs are the listener's problem */
			}
		}
	}
}

/** Counters since start, for the Ingest page. */
export interface DicomServerStats {
	associationsOpen: number;
	associationsTotal: number;
	associationsRejected: number;
	instancesStored: number;
	bytesStored: number;
	failedObjects: Record<FailureReason, number>;
	connectionErrors: number;
}

export function emptyStats(): DicomServerStats {
	return {
		associationsOpen: 0,
		associationsTotal: 0,
		associationsRejected: 0,
		instancesStored: 0,
		bytesStored: 0,
		failedObjects: { too_large: 0, cannot_understand: 0, sop_mismatch: 0, storage_failed: 0, sink_failed: 0 },
		connectionErrors: 0
	};
}
