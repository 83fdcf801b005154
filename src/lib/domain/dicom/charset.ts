/**
 * Specific Character Set (0008,0005) handling: maps DICOM defined terms to
 * WHATWG encoding labels and decodes byte strings, including the ISO 2022
 * code extension techniques used for Japanese, Korean and Chinese names.
 *
 * Pure: TextDecoder is a computation, not I/O.
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part03.html#sect_C.12.1.1.2 PS3.3 C.12.1.1.2
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part05.html#chapter_6 PS3.5 6.1
 */

/** Defined terms (single-byte without extensions, ISO 2022 with extensions, multi-byte) → WHATWG label. */
const TERMS: Record<string, string> = {
	'': 'windows-1252', // default repertoire (ISO-IR 6) is ASCII; windows-1252 decodes it and survives stray Latin-1 bytes
	ISO_IR_6: 'windows-1252',
	ISO_IR_100: 'windows-1252',
	ISO_IR_101: 'iso-8859-2',
	ISO_IR_109: 'iso-8859-3',
	ISO_IR_110: 'iso-8859-4',
	ISO_IR_144: 'iso-8859-5',
	ISO_IR_127: 'iso-8859-6',
	ISO_IR_126: 'iso-8859-7',
	ISO_IR_138: 'iso-8859-8',
	ISO_IR_148: 'windows-1254',
	ISO_IR_203: 'iso-8859-15',
	ISO_IR_13: 'shift_jis',
	ISO_IR_166: 'windows-874',
	ISO_IR_192: 'utf-8',
	GB18030: 'gb18030',
	GBK: 'gbk',
	'ISO_2022_IR_6': 'windows-1252',
	'ISO_2022_IR_100': 'windows-1252',
	'ISO_2022_IR_101': 'iso-8859-2',
	'ISO_2022_IR_109': 'iso-8859-3',
	'ISO_2022_IR_110': 'iso-8859-4',
	'ISO_2022_IR_144': 'iso-8859-5',
	'ISO_2022_IR_127': 'iso-8859-6',
	'ISO_2022_IR_126': 'iso-8859-7',
	'ISO_2022_IR_138': 'iso-8859-8',
	'ISO_2022_IR_148': 'windows-1254',
	'ISO_2022_IR_203': 'iso-8859-15',
	'ISO_2022_IR_13': 'shift_jis',
	'ISO_2022_IR_166': 'windows-874',
	'ISO_2022_IR_87': 'iso-2022-jp',
	'ISO_2022_IR_159': 'iso-2022-jp',
	'ISO_2022_IR_149': 'euc-kr',
	'ISO_2022_IR_58': 'gb18030'
};

/** The interpretation of a Specific Character Set value. */
export interface CharacterSet {
	/** The defined terms as received, normalized (upper case, "_" separators). */
	terms: string[];
	/** WHATWG label for the first (default) repertoire. */
	encoding: string;
	/** True when code extensions (ESC sequences) may switch repertoires mid-value. */
	iso2022: boolean;
	/** Terms we do not know; text is decoded with the default and the object flagged. */
	unsupported: string[];
}

function normalizeTerm(t: string): string {
	return t.trim().toUpperCase().replace(/[\s-]+/g, '_');
}

/**
 * Interprets (0008,0005). Accepts the multi-valued form as an array or a
 * backslash-separated string; an empty first value means the default repertoire.
 */
export function resolveCharacterSet(value: string | readonly string[] | null | undefined): CharacterSet {
	const raw = value == null ? [] : typeof value === 'string' ? value.split('\\') : [...value];
	const terms = raw.map(normalizeTerm);
	if (terms.length === 0) terms.push('');
	const unsupported = terms.filter((t) => !(t in TERMS));
	const first = terms[0];
	return {
		terms,
		encoding: TERMS[first] ?? 'windows-1252',
		iso2022: terms.length > 1 || first.startsWith('ISO_2022'),
		unsupported
	};
}

// ESC sequences (PS3.5 Table 6.2-1 / PS3.3 C.12.1.1.2) → WHATWG label for the bytes that follow.
const ESCAPES: Array<[number[], string]> = [
	[[0x28, 0x42], 'ascii'], // ESC ( B  ISO-IR 6 in G0
	[[0x28, 0x4a], 'shift_jis'], // ESC ( J  JIS X 0201 Romaji
	[[0x29, 0x49], 'shift_jis'], // ESC ) I  JIS X 0201 Katakana
	[[0x24, 0x42], 'iso-2022-jp'], // ESC $ B  JIS X 0208
	[[0x24, 0x28, 0x44], 'iso-2022-jp'], // ESC $ ( D JIS X 0212
	[[0x24, 0x29, 0x43], 'euc-kr'], // ESC $ ) C KS X 1001 in G1
	[[0x24, 0x29, 0x41], 'gb18030'], // ESC $ ) A GB 2312 in G1
	[[0x2d, 0x41], 'windows-1252'], // ESC - A  ISO-IR 100 in G1
	[[0x2d, 0x42], 'iso-8859-2'],
	[[0x2d, 0x4c], 'iso-8859-5'],
	[[0x2d, 0x46], 'iso-8859-7']
];

function decodeWith(label: string, bytes: Uint8Array): string {
	if (label === 'ascii') return String.fromCharCode(...bytes);
	try {
		return new TextDecoder(label).decode(bytes);
	} catch {
		return new TextDecoder('windows-1252').decode(bytes);
	}
}

/**
 * Decodes a text value's bytes under a Specific Character Set.
 * For ISO 2022 sets, each ESC-introduced segment is decoded with its repertoire;
 * iso-2022-jp segments keep their escapes because that decoder interprets them.
 */
export function decodeDicomText(bytes: Uint8Array, charset: CharacterSet): string {
	if (!charset.iso2022 || !bytes.includes(0x1b)) return decodeWith(charset.encoding, bytes);
	let out = '';
	let label = charset.encoding;
	let start = 0;
	const flush = (end: number) => {
		if (end > start) out += decodeWith(label, bytes.subarray(start, end));
	};
	for (let i = 0; i < bytes.length; i++) {
		if (bytes[i] !== 0x1b) continue;
		const esc = ESCAPES.find(([seq]) => seq.every((b, k) => bytes[i + 1 + k] === b));
		if (!esc) continue;
		flush(i);
		const [seq, next] = esc;
		label = next;
		// iso-2022-jp decodes its own escapes; strip them for every other repertoire.
		start = next === 'iso-2022-jp' ? i : i + 1 + seq.length;
		i += seq.length;
	}
	flush(bytes.length);
	return out;
}
