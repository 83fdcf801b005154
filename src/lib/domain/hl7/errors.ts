/**
 * HL7 v2 error vocabulary shared by the pure mapping code and the MLLP edge.
 *
 * @see HL7 v2.5.1 Ch. 2.15.5 (ERR segment) and table 0357 (message error condition codes)
 */

/** HL7 table 0357 codes Radflow emits in ERR-3. */
export const Hl7ErrorCode = {
	segmentSequenceError: '100',
	requiredFieldMissing: '101',
	dataTypeError: '102',
	tableValueNotFound: '103',
	valueTooLong: '104',
	unsupportedMessageType: '200',
	unsupportedEventCode: '201',
	unsupportedProcessingId: '202',
	unsupportedVersionId: '203',
	unknownKeyIdentifier: '204',
	duplicateKeyIdentifier: '205',
	applicationRecordLocked: '206',
	applicationInternalError: '207'
} as const;
export type Hl7ErrorCode = (typeof Hl7ErrorCode)[keyof typeof Hl7ErrorCode];

/** Display text for table 0357, sent in ERR-3.2. */
export function hl7ErrorText(code: Hl7ErrorCode): string {
	switch (code) {
		case Hl7ErrorCode.segmentSequenceError:
			return 'Segment sequence error';
		case Hl7ErrorCode.requiredFieldMissing:
			return 'Required field missing';
		case Hl7ErrorCode.dataTypeError:
			return 'Data type error';
		case Hl7ErrorCode.tableValueNotFound:
			return 'Table value not found';
		case Hl7ErrorCode.valueTooLong:
			return 'Value too long';
		case Hl7ErrorCode.unsupportedMessageType:
			return 'Unsupported message type';
		case Hl7ErrorCode.unsupportedEventCode:
			return 'Unsupported event code';
		case Hl7ErrorCode.unsupportedProcessingId:
			return 'Unsupported processing id';
		case Hl7ErrorCode.unsupportedVersionId:
			return 'Unsupported version id';
		case Hl7ErrorCode.unknownKeyIdentifier:
			return 'Unknown key identifier';
		case Hl7ErrorCode.duplicateKeyIdentifier:
			return 'Duplicate key identifier';
		case Hl7ErrorCode.applicationRecordLocked:
			return 'Application record locked';
		case Hl7ErrorCode.applicationInternalError:
			return 'Application internal error';
		default:
			return code satisfies never;
	}
}

/**
 * Where an error sits, as ERR-2 (ERL) names it: segment id, segment sequence
 * (1-based occurrence of that segment in the message), field position, and optionally
 * field repetition, component and sub-component (all 1-based).
 */
export interface Hl7ErrorLocation {
	segment: string;
	sequence: number;
	field?: number;
	repetition?: number;
	component?: number;
	subcomponent?: number;
}

/** Acknowledgment code the error should produce in original mode. */
export type Hl7NackCode = 'AE' | 'AR';

/** Codes that mean "we do not take this kind of message" rather than "this message is wrong". */
const REJECT_CODES: ReadonlySet<Hl7ErrorCode> = new Set([
	Hl7ErrorCode.unsupportedMessageType,
	Hl7ErrorCode.unsupportedEventCode,
	Hl7ErrorCode.unsupportedProcessingId,
	Hl7ErrorCode.unsupportedVersionId
]);

/**
 * A semantic HL7 error: the mapping code and the lead's handler throw it, the MLLP
 * edge turns it into AE (or AR for codes 200–203) with an ERR segment.
 * The message must not contain PHI: it goes to logs and to ERR-8.
 */
export class Hl7ApplicationError extends Error {
	readonly code: Hl7ErrorCode;
	readonly location: Hl7ErrorLocation | undefined;
	readonly ack: Hl7NackCode;
	constructor(
		code: Hl7ErrorCode,
		message: string,
		options: { location?: Hl7ErrorLocation; ack?: Hl7NackCode; cause?: unknown } = {}
	) {
		super(message, { cause: options.cause });
		this.name = 'Hl7ApplicationError';
		this.code = code;
		this.location = options.location;
		this.ack = options.ack ?? (REJECT_CODES.has(code) ? 'AR' : 'AE');
	}
}

/** Render an ERL as HL7 text with the standard delimiters, e.g. `OBR^1^18`. */
export function formatErrorLocation(loc: Hl7ErrorLocation, componentSeparator = '^'): string {
	const parts = [loc.segment, String(loc.sequence)];
	const rest = [loc.field, loc.repetition, loc.component, loc.subcomponent];
	let last = -1;
	rest.forEach((v, i) => {
		if (v !== undefined) last = i;
	});
	for (let i = 0; i <= last; i++) parts.push(rest[i] === undefined ? '' : String(rest[i]));
	return parts.join(componentSeparator);
}
