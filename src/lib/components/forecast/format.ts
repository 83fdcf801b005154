/**
 * Time formatting for forecast views. Always with an explicit time zone, so
 * the server render and the browser agree (no hydration flicker).
 */
const cache = new Map<string, Intl.DateTimeFormat>();

function fmt(timeZone: string, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
	const key = `${timeZone}|${JSON.stringify(opts)}`;
	let f = cache.get(key);
	if (!f) {
		try {
			f = new Intl.DateTimeFormat('en-GB', { timeZone, ...opts });
		} catch {
			f = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', ...opts });
		}
		cache.set(key, f);
	}
	return f;
}

/** "Tue 14 Oct 08:00" in `timeZone`. */
export function fmtHour(ms: number, timeZone = 'UTC'): string {
	return fmt(timeZone, { weekday: 'short', day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
}

/** "08:00" in `timeZone`. */
export function fmtTime(ms: number, timeZone = 'UTC'): string {
	return fmt(timeZone, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
}

/** A window "Tue 14 Oct 08:00 – 16:00" (end date repeated when it differs). */
export function fmtWindow(from: number, to: number, timeZone = 'UTC'): string {
	const sameDay = fmt(timeZone, { dateStyle: 'short' }).format(new Date(from)) === fmt(timeZone, { dateStyle: 'short' }).format(new Date(to - 1));
	return `${fmtHour(from, timeZone)} – ${sameDay ? fmtTime(to, timeZone) : fmtHour(to, timeZone)}`;
}
