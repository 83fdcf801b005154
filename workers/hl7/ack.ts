/**
 * Acknowledgment messages: original mode (AA/AE/AR) and enhanced mode accept
 * acknowledgments (CA/CE/CR) with an ERR segment on errors.
 *
 * @see HL7 v2.5.1 Ch. 2.9 (acknowledgment rules), 2.14.1 (ACK), 2.15.5 (ERR), 2.15.8 (MSA)
 */
import { formatHl7DateTime } from '../../src/lib/domain/hl7/datetime';
import { formatErrorLocation, hl7ErrorText, type Hl7ErrorCode, type Hl7ErrorLocation } from '../../src/lib/domain/hl7/errors';
import { DEFAULT_DELIMITERS, escapeHl7, isSupportedCharset, type MshHeader } from './message';

export const AckCode = {
	AA: 'AA',
	AE: 'AE',
	AR: 'AR',
	CA: 'CA',
	CE: 'CE',
	CR: 'CR'
} as const;
export type AckCode = (typeof AckCode)[keyof typeof AckCode];

/** Table 0155 values for MSH-15 / MSH-16. */
export const AckCondition = {
	always: 'AL',
	never: 'NE',
	error: 'ER',
	success: 'SU'
} as const;
export type AckCondition = (typeof AckCondition)[keyof typeof AckCondition];

export function isPositive(code: AckCode): boolean {
	return code === AckCode.AA || code === AckCode.CA;
}

/** Does MSH-15/16 condition `cond` ask for an ack with outcome `positive`? Empty means AL. */
export function wantsAck(cond: string, positive: boolean): boolean {
	switch (cond || AckCondition.always) {
		case AckCondition.always:
			return true;
		case AckCondition.never:
			return false;
		case AckCondition.error:
			return !positive;
		case AckCondition.success:
			return positive;
		default:
			return true;
	}
}

export interface AckError {
	code: Hl7ErrorCode;
	location?: Hl7ErrorLocation;
	/** Diagnostic for ERR-8; must contain no PHI. */
	text: string;
}

export interface AckIdentity {
	/** MSH-3 / MSH-4 used when the inbound message named no receiving application. */
	application: string;
	facility: string;
}

export interface BuildAckInput {
	/** Header of the message being acknowledged; null when it could not be read. */
	header: MshHeader | null;
	code: AckCode;
	/** MSH-10 of the ACK itself. */
	controlId: string;
	now: Date;
	error?: AckError;
	identity?: AckIdentity;
	/** Application ack in enhanced mode: set MSH-15/16 to NE so the peer does not ack the ack. */
	noFurtherAck?: boolean;
}

const ACK_TEXT: Record<AckCode, string> = {
	AA: 'Message accepted',
	AE: 'Application error',
	AR: 'Application reject',
	CA: 'Commit accept',
	CE: 'Commit error',
	CR: 'Commit reject'
};

function versionAtLeast(version: string, major: number, minor: number): boolean {
	const m = /^(\d+)\.(\d+)/.exec(version);
	if (!m) return true;
	const a = Number(m[1]);
	const b = Number(m[2]);
	return a > major || (a === major && b >= minor);
}

/**
 * Build an ACK as HL7 text (segments joined by CR, no MLLP framing), using the
 * delimiters of the inbound message. MSH-3..6 are the inbound ones swapped.
 * ERR carries ERR-2/3/4/8 for v2.5+; older versions get ERR-1 (ELD) instead.
 */
export function buildAck(input: BuildAckInput): string {
	const h = input.header;
	const d = h?.delimiters ?? DEFAULT_DELIMITERS;
	const c = d.component;
	const s = d.subcomponent || '&';
	const version = h?.version || '2.5.1';
	const esc = (t: string) => escapeHl7(t, d);
	const event = h?.triggerEvent ?? '';
	// v2.3.1+ defines MSG with a structure component; older versions send ACK^event.
	const type = event ? (versionAtLeast(version, 2, 4) ? `ACK${c}${esc(event)}${c}ACK` : `ACK${c}${esc(event)}`) : 'ACK';
	const msh = [
		'MSH',
		d.component + d.repetition + d.escape + (d.subcomponent || '') + d.truncation,
		h?.rawReceivingApplication || esc(input.identity?.application ?? 'RADFLOW'),
		h?.rawReceivingFacility || esc(input.identity?.facility ?? ''),
		h?.rawSendingApplication ?? '',
		h?.rawSendingFacility ?? '',
		formatHl7DateTime(input.now),
		'',
		type,
		esc(input.controlId),
		esc(h?.processingId || 'P'),
		esc(version),
		'',
		'',
		input.noFurtherAck ? 'NE' : '',
		input.noFurtherAck ? 'NE' : '',
		'',
		// An unsupported MSH-18 is why we refuse the message: the NACK must not declare it too (found by radflow fuzz).
		h?.charset && isSupportedCharset(h.charset) ? esc(h.charset) : ''
	];
	while (msh.length > 12 && msh[msh.length - 1] === '') msh.pop();
	const msa = ['MSA', input.code, h?.rawControlId ?? '', esc(input.error ? `${ACK_TEXT[input.code]}: ${input.error.text}` : ACK_TEXT[input.code])];
	const segments = [msh.join(d.field), msa.join(d.field)];
	const e = input.error;
	if (e) {
		const codeText = hl7ErrorText(e.code);
		if (versionAtLeast(version, 2, 5)) {
			const err = [
				'ERR',
				'',
				e.location ? formatErrorLocation(e.location, c) : '',
				`${e.code}${c}${esc(codeText)}${c}HL70357`,
				'E',
				'',
				'',
				'',
				esc(e.text)
			];
			segments.push(err.join(d.field));
		} else {
			const l = e.location;
			const eld = [l?.segment ?? '', l ? String(l.sequence) : '', l?.field !== undefined ? String(l.field) : '', `${e.code}${s}${esc(codeText)}${s}HL70357`];
			segments.push(['ERR', eld.join(c)].join(d.field));
		}
	}
	return segments.join('\r') + '\r';
}

/** Generates ACK control ids unique per process: a time-based prefix plus a counter (≤ 20 chars). */
export function ackIdGenerator(now: () => number = Date.now): () => string {
	const prefix = `RF${now().toString(36).toUpperCase()}`;
	let n = 0;
	return () => `${prefix}${(n++).toString(36).toUpperCase()}`;
}
