/**
 * One DICOM association on the acceptor side: the upper-layer state machine
 * (PS3.8 9.2) over one TCP or TLS connection, and the DIMSE messages it
 * carries (C-ECHO, C-STORE). Datasets stream from the socket into the storage
 * hook fragment by fragment; responses are written as single P-DATA-TF PDUs.
 *
 * Timers (ARTIM, PS3.8 9.1.5): the A-ASSOCIATE-RQ must arrive, and an open
 * association must send something, within `idleTimeoutMs`, else the
 * association is aborted and its resources freed. Time spent waiting on our
 * own storage does not count as the peer's idleness.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.2 PS3.8 9.2 DICOM UL protocol
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part07.html#sect_9.3.1 PS3.7 9.3.1 C-STORE
 */
import type { Socket } from 'node:net';
import { PduReader } from './pdu-reader';
import {
	AbortReason,
	CommandField,
	PduFormatError,
	PduType,
	abortPdu,
	associateAccept,
	associateReject,
	decodeAssociateRequest,
	decodeCommand,
	pDataFragments,
	releaseResponse,
	responseCommand,
	type AssociateRequest,
	type ContextAnswer,
	type DimseCommand
} from './pdu';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from './part10';

/** The acceptor's answer to an A-ASSOCIATE-RQ. */
export type AssociateDecision =
	| { accept: true; contexts: ContextAnswer[] }
	| { accept: false; result: number; source: number; reason: number };

/** A dataset being received for one C-STORE. */
export interface DatasetReceiver {
	/** False asks the association to pause the socket until `resume` is called. */
	push(piece: Buffer): boolean;
}

/** What the association asks of the server. Hooks never throw into the socket. */
export interface AssociationHooks {
	associate(rq: AssociateRequest): Promise<AssociateDecision>;
	/** The association is established (A-ASSOCIATE-AC sent). */
	opened(rq: AssociateRequest, contexts: readonly ContextAnswer[]): void;
	/** A C-STORE-RQ announced a dataset; `resume` restarts a paused socket. */
	beginStore(cmd: DimseCommand, transferSyntaxUid: string, resume: () => void): DatasetReceiver;
	/** The whole dataset arrived: store it and answer with a status. */
	completeStore(cmd: DimseCommand, dataset: DatasetReceiver, transferSyntaxUid: string): Promise<{ status: number; comment?: string }>;
	/** The connection ended; `dataset` is a store that never completed (to be dropped). */
	closed(how: { released: boolean; dataset: DatasetReceiver | null; error: string | null }): void;
	/** Decides whether a dataset that is still arriving must end the association (e.g. far over the size cap). */
	mustAbort?(dataset: DatasetReceiver): string | null;
}

export interface AssociationOptions {
	/** Largest P-DATA-TF we receive (advertised in the A-ASSOCIATE-AC). */
	maxPduLength: number;
	idleTimeoutMs: number;
}

type Phase = 'awaiting-request' | 'deciding' | 'established' | 'releasing' | 'closed';

/** A DIMSE message being received: its command, then (for C-STORE) its dataset. */
interface Inbound {
	contextId: number;
	command: Buffer[];
	cmd: DimseCommand | null;
	dataset: DatasetReceiver | null;
}

export class Association {
	private phase: Phase = 'awaiting-request';
	private readonly reader: PduReader;
	private accepted = new Map<number, string>();
	private peerMaxPdu = 0;
	private inbound: Inbound | null = null;
	/** Stores in flight, in order: responses go out in request order. */
	private tail: Promise<void> = Promise.resolve();
	private busy = 0;
	private timer: NodeJS.Timeout | null = null;
	private released = false;
	private error: string | null = null;

	constructor(
		private readonly socket: Socket,
		private readonly o: AssociationOptions,
		private readonly hooks: AssociationHooks
	) {
		socket.setNoDelay(true);
		this.reader = new PduReader({ pdu: (t, b) => this.onPdu(t, b), pdv: (c, cmd, last, piece, end) => this.onPdv(c, cmd, last, piece, end) }, o.maxPduLength);
		socket.on('data', (chunk: Buffer) => this.onData(chunk));
		socket.on('error', (e) => (this.error ??= e.message));
		socket.on('close', () => this.onClose());
		this.arm();
	}

	private onData(chunk: Buffer): void {
		if (this.phase === 'closed') return;
		this.arm();
		try {
			this.reader.feed(chunk);
		} catch (e) {
			this.abort(e instanceof PduFormatError ? e.message : `internal error: ${(e as Error).message}`, AbortReason.invalidPduParameterValue);
		}
	}

	/** ARTIM / idle timer: restarted by every received chunk; storage waits do not count. */
	private arm(): void {
		if (this.timer) this.timer.refresh();
		else {
			this.timer = setTimeout(() => this.idle(), this.o.idleTimeoutMs);
			this.timer.unref();
		}
	}

	private idle(): void {
		if (this.phase === 'closed') return;
		if (this.busy > 0) return this.arm();
		const what = this.phase === 'awaiting-request' ? 'no A-ASSOCIATE-RQ' : this.phase === 'releasing' ? 'release not completed' : 'peer idle';
		this.abort(`${what} within ${this.o.idleTimeoutMs} ms`, AbortReason.notSpecified);
	}

	/** Sends A-ABORT and closes; the `closed` hook reports `reason`. */
	abort(reason: string, abortReason: number = AbortReason.notSpecified): void {
		if (this.phase === 'closed') return;
		this.error ??= reason;
		this.phase = 'closed';
		this.socket.pause();
		this.socket.end(abortPdu(2, abortReason));
		setTimeout(() => this.socket.destroy(), 1000).unref();
	}

	private onPdu(type: number, body: Buffer): void {
		switch (type) {
			case PduType.associateRq:
				if (this.phase !== 'awaiting-request') return this.abort('unexpected A-ASSOCIATE-RQ', AbortReason.unexpectedPdu);
				this.phase = 'deciding';
				// Nothing else may arrive before our answer; hold the socket while deciding.
				this.socket.pause();
				void this.decide(decodeAssociateRequest(body));
				return;
			case PduType.releaseRq:
				if (this.phase !== 'established') return this.abort('unexpected A-RELEASE-RQ', AbortReason.unexpectedPdu);
				this.phase = 'releasing';
				// Answer after the responses still owed (they go out first).
				void this.tail.then(() => {
					if (this.phase !== 'releasing') return;
					this.released = true;
					this.socket.end(releaseResponse());
				});
				return;
			case PduType.abort:
				this.error ??= 'aborted by the peer';
				this.phase = 'closed';
				this.socket.destroy();
				return;
			default:
				return this.abort(`unexpected PDU type ${type}`, AbortReason.unexpectedPdu);
		}
	}

	private async decide(rq: AssociateRequest): Promise<void> {
		let d: AssociateDecision;
		try {
			d = await this.hooks.associate(rq);
		} catch (e) {
			d = { accept: false, result: 2, source: 1, reason: 1 };
			this.error ??= `association handling failed: ${(e as Error).message}`;
		}
		if (this.phase !== 'deciding') return;
		if (!d.accept) {
			this.phase = 'closed';
			this.socket.end(associateReject(d.result, d.source, d.reason));
			setTimeout(() => this.socket.destroy(), 1000).unref();
			return;
		}
		for (const c of d.contexts) if (c.result === 0) this.accepted.set(c.id, c.transferSyntax);
		this.peerMaxPdu = rq.maxPduLength;
		this.phase = 'established';
		this.socket.write(associateAccept(rq, d.contexts, this.o.maxPduLength, { classUid: IMPLEMENTATION_CLASS_UID, version: IMPLEMENTATION_VERSION }));
		this.hooks.opened(rq, d.contexts);
		this.socket.resume();
	}

	private onPdv(contextId: number, isCommand: boolean, last: boolean, piece: Buffer, pdvEnd: boolean): void {
		if (this.phase !== 'established') return this.abort('P-DATA-TF outside an established association', AbortReason.unexpectedPdu);
		if (!this.accepted.has(contextId)) return this.abort(`P-DATA-TF on presentation context ${contextId}, which was not accepted`, AbortReason.unexpectedPduParameter);
		let m = this.inbound;
		if (isCommand) {
			if (m?.cmd) return this.abort('command fragment while a dataset was expected', AbortReason.unexpectedPdu);
			m ??= this.inbound = { contextId, command: [], cmd: null, dataset: null };
			if (m.contextId !== contextId) return this.abort('command fragments on two presentation contexts', AbortReason.unexpectedPduParameter);
			m.command.push(piece);
			if (pdvEnd && last) this.commandComplete(m);
			return;
		}
		if (!m?.cmd || !m.dataset) return this.abort('dataset fragment without a C-STORE-RQ announcing it', AbortReason.unexpectedPdu);
		if (m.contextId !== contextId) return this.abort('dataset on another presentation context than its command', AbortReason.unexpectedPduParameter);
		if (piece.length > 0 && !m.dataset.push(piece)) this.socket.pause();
		const stop = this.hooks.mustAbort?.(m.dataset);
		if (stop) return this.abort(stop, AbortReason.notSpecified);
		if (pdvEnd && last) {
			this.inbound = null;
			const { cmd, dataset } = m;
			this.respondInOrder(contextId, cmd, () => this.hooks.completeStore(cmd, dataset, this.accepted.get(contextId)!));
		}
	}

	private commandComplete(m: Inbound): void {
		const cmd = decodeCommand(m.command.length === 1 ? m.command[0] : Buffer.concat(m.command));
		m.command = [];
		m.cmd = cmd;
		const ts = this.accepted.get(m.contextId)!;
		if (cmd.commandField === CommandField.cStoreRq && cmd.hasDataset) {
			m.dataset = this.hooks.beginStore(cmd, ts, () => this.socket.resume());
			return;
		}
		this.inbound = null;
		if (cmd.hasDataset) return this.abort(`command 0x${cmd.commandField.toString(16)} with a dataset is not supported`, AbortReason.unexpectedPduParameter);
		if (cmd.commandField === CommandField.cEchoRq) return this.respondInOrder(m.contextId, cmd, async () => ({ status: 0x0000 }));
		// A C-STORE-RQ without a dataset cannot be stored; other commands are not ours (PS3.7 C.5.1: 0x0211).
		const status = cmd.commandField === CommandField.cStoreRq ? 0xc000 : 0x0211;
		this.respondInOrder(m.contextId, cmd, async () => ({ status, comment: 'not supported by this SCP' }));
	}

	private respondInOrder(contextId: number, cmd: DimseCommand, work: () => Promise<{ status: number; comment?: string }>): void {
		this.busy++;
		const result = work().catch((e: Error) => ({ status: 0xa700, comment: e.message }));
		this.tail = this.tail.then(async () => {
			const r = await result;
			this.busy--;
			if (this.phase === 'closed') return;
			const rsp = responseCommand({
				commandField: cmd.commandField | 0x8000,
				messageIdBeingRespondedTo: cmd.messageId,
				affectedSopClassUid: cmd.affectedSopClassUid,
				affectedSopInstanceUid: cmd.affectedSopInstanceUid || undefined,
				status: r.status,
				errorComment: r.comment
			});
			const pdus = pDataFragments(contextId, rsp, true, this.peerMaxPdu);
			this.socket.write(pdus.length === 1 ? pdus[0] : Buffer.concat(pdus));
		});
	}

	private onClose(): void {
		const wasOpen = this.phase !== 'closed' || this.error !== null;
		this.phase = 'closed';
		if (this.timer) clearTimeout(this.timer);
		const dataset = this.inbound?.dataset ?? null;
		this.inbound = null;
		if (!this.released && !this.error && wasOpen) this.error = 'connection closed without release';
		this.hooks.closed({ released: this.released, dataset, error: this.released ? null : this.error });
	}
}
