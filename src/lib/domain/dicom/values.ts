/**
 * Value-level normalization of DICOM attributes: UIDs, dates and times, person names.
 *
 * Pure: no I/O, no clock.
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#sect_6.2 PS3.5 6.2 Value Representation
 */

/** A DICOM value could not be interpreted. Stable `code` for the edge that maps it to a status. */
export class DicomValueError extends Error {
	readonly code: 'invalid_uid' | 'invalid_date' | 'invalid_time' | 'missing_attribute';
	constructor(code: DicomValueError['code'], message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'DicomValueError';
		this.code = code;
	}
}

const UID_RE = /^(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*$/;

/**
 * True when `uid` is a syntactically valid UID: dot-separated numeric components,
 * no leading zeros (except a lone 0), at most 64 characters.
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#chapter_9 PS3.5 9.1
 */
export function isValidUid(uid: string | null | undefined): uid is string {
	return typeof uid === 'string' && uid.length > 0 && uid.length <= 64 && UID_RE.test(uid);
}

/** Trims the trailing NUL/space padding a UI value may carry; returns null when empty. */
export function cleanUid(raw: string | null | undefined): string | null {
	const v = (raw ?? '').replace(/[\0\s]+$/g, '').trim();
	return v.length ? v : null;
}

/**
 * DA (YYYYMMDD, also the ACR-NEMA "YYYY.MM.DD") → ISO "YYYY-MM-DD"; null when empty.
 * @throws DicomValueError('invalid_date') for a malformed or impossible date
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#table_6.2-1 PS3.5 Table 6.2-1 DA
 */
export function daToIso(da: string | null | undefined): string | null {
	const v = (da ?? '').trim();
	if (!v) return null;
	const m = /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(v);
	if (!m) throw new DicomValueError('invalid_date', `invalid DA value "${v}"`);
	const [, y, mo, d] = m;
	const date = new Date(Date.UTC(+y, +mo - 1, +d));
	if (date.getUTCFullYear() !== +y || date.getUTCMonth() !== +mo - 1 || date.getUTCDate() !== +d) {
		throw new DicomValueError('invalid_date', `impossible DA value "${v}"`);
	}
	return `${y}-${mo}-${d}`;
}

/**
 * TM (HH[MM[SS[.F{1,6}]]], also "HH:MM:SS") → ISO "HH:MM:SS[.ffffff]"; null when empty.
 * Missing components are zero; fractions are kept as given.
 * @throws DicomValueError('invalid_time')
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#table_6.2-1 PS3.5 Table 6.2-1 TM
 */
export function tmToIso(tm: string | null | undefined): string | null {
	const v = (tm ?? '').trim();
	if (!v) return null;
	const m = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$/.exec(v);
	if (!m) throw new DicomValueError('invalid_time', `invalid TM value "${v}"`);
	const [, h, mi = '00', s = '00', frac] = m;
	// 60 is allowed for leap seconds.
	if (+h > 23 || +mi > 59 || +s > 60) throw new DicomValueError('invalid_time', `out of range TM "${v}"`);
	return `${h}:${mi}:${s}${frac ? '.' + frac : ''}`;
}

/**
 * Timezone Offset From UTC (0008,0201), "+HHMM"/"-HHMM" → "+HH:MM"; null when absent or malformed.
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part03.html#sect_C.12.1.1.8 PS3.3 C.12.1.1.8
 */
export function tzOffsetToIso(offset: string | null | undefined): string | null {
	const m = /^([+-])(\d{2})(\d{2})$/.exec((offset ?? '').trim());
	return m ? `${m[1]}${m[2]}:${m[3]}` : null;
}

/**
 * Combines a DA and a TM (and optional offset) into an ISO 8601 local date-time.
 * Without an offset the result has no zone designator: DICOM times are local to the modality.
 */
export function daTmToIso(da: string | null | undefined, tm?: string | null, offset?: string | null): string | null {
	const d = daToIso(da);
	if (!d) return null;
	const t = tmToIso(tm) ?? '00:00:00';
	return `${d}T${t}${tzOffsetToIso(offset) ?? ''}`;
}

/** One person name, split into its PN components (PS3.5 6.2.1). */
export interface PersonName {
	family: string;
	given: string;
	middle: string;
	prefix: string;
	suffix: string;
	/** Ideographic / phonetic groups when present (ISO 2022 names). */
	ideographic: string | null;
	phonetic: string | null;
	/** "Family, Given Middle" for display, without prefix/suffix noise. */
	display: string;
}

/**
 * Parses a PN value ("Family^Given^Middle^Prefix^Suffix=Ideographic=Phonetic")
 * or a DICOM JSON PN object (`{Alphabetic, Ideographic, Phonetic}`).
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#sect_6.2.1 PS3.5 6.2.1
 */
export function parsePersonName(
	value: string | { Alphabetic?: string; Ideographic?: string; Phonetic?: string } | null | undefined
): PersonName | null {
	if (value == null) return null;
	let alphabetic: string;
	let ideographic: string | undefined;
	let phonetic: string | undefined;
	if (typeof value === 'string') {
		[alphabetic = '', ideographic, phonetic] = value.replace(/[\0\s]+$/, '').split('=');
	} else {
		({ Alphabetic: alphabetic = '', Ideographic: ideographic, Phonetic: phonetic } = value);
	}
	const [family = '', given = '', middle = '', prefix = '', suffix = ''] = alphabetic
		.split('^')
		.map((p) => p.trim().replace(/\s+/g, ' '));
	if (!family && !given && !middle && !ideographic && !phonetic) return null;
	const rest = [given, middle].filter(Boolean).join(' ');
	return {
		family,
		given,
		middle,
		prefix,
		suffix,
		ideographic: ideographic?.trim() || null,
		phonetic: phonetic?.trim() || null,
		display: family && rest ? `${family}, ${rest}` : family || rest || ideographic?.trim() || phonetic?.trim() || ''
	};
}
