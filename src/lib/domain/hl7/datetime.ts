/**
 * HL7 v2 DTM / TS parsing. Pure: no clock.
 *
 * @see HL7 v2.5.1 Ch. 2A.22 (DTM): YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]
 */

const DTM = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$/;

/**
 * Parse an HL7 timestamp into an ISO-8601 UTC string.
 * A value without an offset is local time of the sender: `defaultOffsetMinutes`
 * (east of UTC, e.g. +60 for CET) says which. Returns null for '' and undefined for
 * a value that is not a valid DTM.
 */
export function parseHl7DateTime(value: string, defaultOffsetMinutes = 0): string | null | undefined {
	const v = value.trim();
	if (v === '') return null;
	const m = DTM.exec(v);
	if (!m) return undefined;
	const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', tz] = m;
	const month = Number(mo);
	const day = Number(d);
	const hour = Number(h);
	const minute = Number(mi);
	const second = Number(s);
	if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
	const ms = frac === '' ? 0 : Math.round(Number(`0.${frac}`) * 1000);
	let offset = defaultOffsetMinutes;
	if (tz) {
		const sign = tz[0] === '-' ? -1 : 1;
		const oh = Number(tz.slice(1, 3));
		const om = Number(tz.slice(3, 5));
		if (oh > 14 || om > 59) return undefined;
		offset = sign * (oh * 60 + om);
	}
	const utc = Date.UTC(Number(y), month - 1, day, hour, minute, second, ms) - offset * 60_000;
	const date = new Date(utc);
	// Reject 20240231 and the like, which Date.UTC would roll over.
	const local = new Date(utc + offset * 60_000);
	if (local.getUTCDate() !== day || local.getUTCMonth() !== month - 1) return undefined;
	return date.toISOString();
}

/** Format a Date as an HL7 DTM in UTC with an explicit +0000 offset (for ACK MSH-7). */
export function formatHl7DateTime(date: Date): string {
	const p = (n: number, w = 2) => String(n).padStart(w, '0');
	return (
		`${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
		`${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}` +
		`.${p(date.getUTCMilliseconds(), 3)}+0000`
	);
}
