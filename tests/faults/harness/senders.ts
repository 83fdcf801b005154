/**
 * Senders that keep a ledger of every acknowledgment they received.
 * DICOM: dcmtk's storescu (a real third-party SCU), one association per try,
 * its per-file C-STORE-RSP status read from its verbose output. HL7: one
 * message per MLLP connection (the simulator's framing and ACK parser), so each
 * try's outcome is known exactly: ACK, NACK or no answer.
 */
import { spawn } from 'node:child_process';
import { parseAck, frame, MllpReader } from '../../../workers/simulator/mllp';
import net from 'node:net';
import type { PlannedInstance, PlannedMessage, PlannedStudy } from './traffic';

/** What the sender saw for one object or message. */
export interface LedgerEntry {
	attempts: number;
	/** Positive acknowledgments received (C-STORE Success/Warning, HL7 AA/CA). */
	acks: number;
	/** Failure answers received (DICOM failure status, HL7 AE/AR). */
	refusals: number;
	/** Tries that got no answer at all (connection refused, closed, aborted, timed out). */
	noAnswer: number;
	/** When each ack arrived (ms since epoch). */
	ackedAt: number[];
	lastFailure: string | null;
}

const entry = (): LedgerEntry => ({ attempts: 0, acks: 0, refusals: 0, noAnswer: 0, ackedAt: [], lastFailure: null });

/** Exchanges in flight right now: the fault tests kill a role while it is busy. */
export const inFlight = { dicom: 0, hl7: 0 };

export type AttemptOutcome = 'ack' | 'refusal' | 'none';

export class Ledger {
	/** Every try in time order: when its answer came and what it was. */
	readonly tries: { at: number; protocol: 'dicom' | 'hl7'; outcome: AttemptOutcome }[] = [];
	readonly dicom = new Map<string, LedgerEntry & { instance: PlannedInstance; study: PlannedStudy }>();
	readonly hl7 = new Map<string, LedgerEntry & { message: PlannedMessage; study: PlannedStudy }>();

	instance(study: PlannedStudy, instance: PlannedInstance) {
		let e = this.dicom.get(instance.sopInstanceUid);
		if (!e) this.dicom.set(instance.sopInstanceUid, (e = { ...entry(), instance, study }));
		return e;
	}

	message(study: PlannedStudy, message: PlannedMessage) {
		let e = this.hl7.get(message.controlId);
		if (!e) this.hl7.set(message.controlId, (e = { ...entry(), message, study }));
		return e;
	}

	/** Tries answered in [from, to] (ms since epoch), by protocol and outcome. */
	triesBetween(from: number, to: number) {
		const out = { dicom: { ack: 0, refusal: 0, none: 0 }, hl7: { ack: 0, refusal: 0, none: 0 } };
		for (const t of this.tries) if (t.at >= from && t.at <= to) out[t.protocol][t.outcome]++;
		return out;
	}

	/** First acknowledgment at or after `from`, per protocol (null: none yet). */
	firstAckAfter(from: number): { dicom: number | null; hl7: number | null } {
		const first = (p: 'dicom' | 'hl7') => this.tries.find((t) => t.protocol === p && t.outcome === 'ack' && t.at >= from)?.at ?? null;
		return { dicom: first('dicom'), hl7: first('hl7') };
	}

	counts() {
		const sum = (m: Map<string, LedgerEntry>) => {
			let sent = 0, acked = 0, attempts = 0, refusals = 0, noAnswer = 0;
			for (const e of m.values()) {
				sent++;
				if (e.acks > 0) acked++;
				attempts += e.attempts;
				refusals += e.refusals;
				noAnswer += e.noAnswer;
			}
			return { sent, acked, attempts, refusals, noAnswer };
		};
		return { dicom: sum(this.dicom), hl7: sum(this.hl7) };
	}
}

export interface StoreAttempt {
	/** Status text per file storescu reported a C-STORE-RSP for ("Success", "Out of Resources", …). */
	statuses: Map<string, string>;
	/** When each response was read from storescu's output. */
	answeredAt: Map<string, number>;
	exitCode: number | null;
	output: string;
}

/** One storescu association for `files`. */
export function storescu(port: number, callingAe: string, files: string[], timeoutS = 15): Promise<StoreAttempt> {
	return new Promise((resolve) => {
		const args = ['-v', '-aet', callingAe, '-aec', 'RADFLOW', '-to', String(timeoutS), '-ta', String(timeoutS), '-td', String(timeoutS), '127.0.0.1', String(port), ...files];
		const p = spawn('storescu', args, { env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		const statuses = new Map<string, string>();
		const answeredAt = new Map<string, number>();
		let current: string | null = null;
		const parse = (line: string) => {
			const sending = /Sending file: (.+)$/.exec(line);
			if (sending) current = sending[1].trim();
			const rsp = /Received Store Response \(([^)]*)\)/.exec(line);
			if (rsp && current) {
				statuses.set(current, rsp[1]);
				answeredAt.set(current, Date.now());
				current = null;
			}
		};
		// Line by line, each stream on its own (dcmtk logs to stderr, progress dots go to stdout).
		const reader = () => {
			let partial = '';
			return {
				push: (d: Buffer) => {
					out = (out + d).slice(-20_000);
					const lines = (partial + d).split('\n');
					partial = lines.pop() ?? '';
					lines.forEach(parse);
				},
				end: () => parse(partial)
			};
		};
		const [o, e] = [reader(), reader()];
		p.stdout.on('data', o.push);
		p.stderr.on('data', e.push);
		const killer = setTimeout(() => p.kill('SIGKILL'), (timeoutS * 3 + 10) * 1000);
		p.on('close', (code) => {
			clearTimeout(killer);
			o.end();
			e.end();
			resolve({ statuses, answeredAt, exitCode: code, output: out.slice(-2000) });
		});
	});
}

export const isStoreAck = (status: string) => /^(Success|Warning)/i.test(status);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A deadline: fixed, or read at each retry (a test that stops its traffic moves it). */
export type Deadline = number | (() => number);
const passed = (until: Deadline) => Date.now() > (typeof until === 'function' ? until() : until);

/**
 * Send a study's images until every one is acknowledged or `until` passes.
 * Only the instances not yet acknowledged are resent (a modality's resend).
 */
export async function sendStudyImages(ledger: Ledger, study: PlannedStudy, port: number, until: Deadline, retryMs = 700): Promise<boolean> {
	for (;;) {
		if (study.instances.every((i) => ledger.instance(study, i).acks > 0)) return true;
		if (passed(until)) return false;
		if (!(await sendStudyImagesOnce(ledger, study, port))) await sleep(retryMs);
	}
}

/** One association for the study's instances not yet acknowledged; true when all are acknowledged after it. */
export async function sendStudyImagesOnce(ledger: Ledger, study: PlannedStudy, port: number): Promise<boolean> {
	const pending = study.instances.filter((i) => ledger.instance(study, i).acks === 0);
	if (pending.length === 0) return true;
	inFlight.dicom++;
	const r = await storescu(port, study.callingAe, pending.map((i) => i.file)).finally(() => inFlight.dicom--);
	for (const i of pending) {
		const e = ledger.instance(study, i);
		e.attempts++;
		const status = r.statuses.get(i.file);
		const outcome: AttemptOutcome = status === undefined ? 'none' : isStoreAck(status) ? 'ack' : 'refusal';
		ledger.tries.push({ at: r.answeredAt.get(i.file) ?? Date.now(), protocol: 'dicom', outcome });
		if (outcome === 'none') e.noAnswer++;
		else if (outcome === 'ack') {
			e.acks++;
			e.ackedAt.push(Date.now());
		} else {
			e.refusals++;
			e.lastFailure = status!;
		}
	}
	if (process.env.FAULTS_DEBUG && pending.some((i) => !r.statuses.has(i.file))) process.stderr.write(`storescu ${study.accession} exit ${r.exitCode}:\n${r.output}\n`);
	return pending.every((i) => ledger.instance(study, i).acks > 0);
}

/**
 * Send one HL7 message once over a fresh connection and classify the answer:
 * 'ack' (AA/CA), 'nack' (AE/AR/CE/CR), or 'none' (refused, closed, timed out).
 */
export function sendHl7Once(port: number, text: string, timeoutMs = 10_000): Promise<{ outcome: 'ack' | 'nack' | 'none'; code: string; detail: string }> {
	return new Promise((resolve) => {
		const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
		s.setNoDelay(true);
		const reader = new MllpReader();
		let settled = false;
		const done = (r: { outcome: 'ack' | 'nack' | 'none'; code: string; detail: string }) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			s.destroy();
			resolve(r);
		};
		const timer = setTimeout(() => done({ outcome: 'none', code: '', detail: 'timeout' }), timeoutMs);
		s.on('connect', () => s.write(frame(text)));
		s.on('data', (chunk: Buffer) => {
			for (const payload of reader.push(chunk)) {
				const a = parseAck(payload);
				done({ outcome: a.code === 'AA' || a.code === 'CA' ? 'ack' : 'nack', code: a.code, detail: a.text });
			}
		});
		s.on('error', (err) => done({ outcome: 'none', code: '', detail: err.message }));
		s.on('close', () => done({ outcome: 'none', code: '', detail: 'closed before the ACK' }));
	});
}

/**
 * Send a study's messages in order, each until acknowledged or `until` passes
 * (a resend keeps its MSH-10: the receiver must answer it as a duplicate).
 */
export async function sendStudyMessages(ledger: Ledger, study: PlannedStudy, port: number, until: Deadline, retryMs = 500): Promise<boolean> {
	for (const m of study.messages) {
		const e = ledger.message(study, m);
		while (e.acks === 0) {
			if (passed(until)) return false;
			e.attempts++;
			inFlight.hl7++;
			const r = await sendHl7Once(port, m.text).finally(() => inFlight.hl7--);
			ledger.tries.push({ at: Date.now(), protocol: 'hl7', outcome: r.outcome === 'ack' ? 'ack' : r.outcome === 'nack' ? 'refusal' : 'none' });
			if (r.outcome === 'ack') {
				e.acks++;
				e.ackedAt.push(Date.now());
			} else {
				if (r.outcome === 'nack') e.refusals++;
				else e.noAnswer++;
				e.lastFailure = `${r.code} ${r.detail}`.trim();
				await sleep(retryMs);
			}
		}
	}
	return true;
}
