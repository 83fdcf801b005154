/**
 * The read-only view of a parsed HL7 v2 message that the pure mapping code needs.
 * The MLLP worker implements it over its parser (workers/hl7/message.ts); tests can
 * implement it over anything. Values are already unescaped (\F\, \S\, … decoded).
 *
 * @see HL7 v2.5.1 Ch. 2.5 (message construction rules)
 */
export interface Hl7SegmentView {
	/** Segment id, e.g. `PID`, `ZDS`. */
	readonly name: string;
	/** 1-based occurrence of this segment id within the message (ERR-2.2). */
	readonly sequence: number;
	/**
	 * Decoded value of field `field`, component `component` (1-based), repetition
	 * `repetition` (0-based), optionally one sub-component (1-based). '' when absent.
	 * For MSH, field numbers follow the standard (MSH-1 is the field separator).
	 */
	get(field: number, component?: number, repetition?: number, subcomponent?: number): string;
	/** Number of repetitions present in a field (0 when the field is empty or absent). */
	repetitions(field: number): number;
}

export interface Hl7MessageView {
	readonly segments: readonly Hl7SegmentView[];
}
