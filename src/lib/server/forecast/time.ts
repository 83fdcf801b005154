/**
 * Site-local wall time ↔ UTC for the forecast and the shift planner. Shifts
 * are planned in the site's own time zone (`sites.timezone`, an IANA name);
 * the database stores UTC instants.
 *
 * @see https://tc39.es/ecma402/#sec-datetimeformat-abstracts (Intl time zones)
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat | null {
	let f = formatters.get(timeZone);
	if (!f) {
		try {
			f = new Intl.DateTimeFormat('en-US', {
				timeZone,
				hourCycle: 'h23',
				year: 'numeric',
				month: '2-digit',
				day: '2-digit',
				hour: '2-digit',
				minute: '2-digit',
				second: '2-digit'
			});
		} catch {
			return null;
		}
		formatters.set(timeZone, f);
	}
	return f;
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
	return formatter(timeZone) !== null;
}

/** Local time minus UTC in minutes at instant `ms` (0 for an unknown zone). */
export function tzOffsetMinutes(timeZone: string, ms: number): number {
	const f = formatter(timeZone);
	if (!f) return 0;
	const p: Record<string, number> = {};
	for (const part of f.formatToParts(new Date(ms))) if (part.type !== 'literal') p[part.type] = Number(part.value);
	const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
	return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000);
}

const LOCAL_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::\d{2})?$/;

/**
 * A `datetime-local` value (`YYYY-MM-DDTHH:mm`) read as wall time in
 * `timeZone`, as UTC epoch ms; null when it is not such a value. In a DST gap
 * the later offset wins.
 */
export function localInputToUtc(value: string, timeZone: string): number | null {
	const m = LOCAL_RE.exec(value.trim());
	if (!m) return null;
	const [y, mo, d, h, mi] = m.slice(1).map(Number);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59) return null;
	const wall = Date.UTC(y, mo - 1, d, h, mi);
	if (new Date(wall).getUTCDate() !== d) return null;
	const first = wall - tzOffsetMinutes(timeZone, wall) * 60_000;
	const second = wall - tzOffsetMinutes(timeZone, first) * 60_000;
	return second;
}

/** UTC epoch ms as a `datetime-local` value in `timeZone`. */
export function utcToLocalInput(ms: number, timeZone: string): string {
	return new Date(ms + tzOffsetMinutes(timeZone, ms) * 60_000).toISOString().slice(0, 16);
}
