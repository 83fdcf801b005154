/**
 * Calendar helpers shared by forecasting and simulation: hour-of-week in a
 * site's local time and holiday dates. Pure; every instant is a parameter.
 *
 * Assumption: a site's local time is UTC plus a fixed offset. Daylight saving
 * shifts are not modelled (a one-hour phase error twice a year, which the
 * forecasting models absorb within a week).
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Hours in a day and in a week: the two seasonal periods of hourly volume. */
export const DAILY_PERIOD = 24;
export const WEEKLY_PERIOD = 168;

/** Start of the UTC hour containing `ms`. */
export function floorHour(ms: number): number {
	return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

/** Local hour of day 0–23. */
export function localHour(ms: number, utcOffsetMinutes = 0): number {
	return new Date(ms + utcOffsetMinutes * 60_000).getUTCHours();
}

/** Local ISO weekday index with Monday = 0 … Sunday = 6. */
export function localWeekday(ms: number, utcOffsetMinutes = 0): number {
	return (new Date(ms + utcOffsetMinutes * 60_000).getUTCDay() + 6) % 7;
}

/** Local hour of week, 0 = Monday 00:00 … 167 = Sunday 23:00. */
export function hourOfWeek(ms: number, utcOffsetMinutes = 0): number {
	const d = new Date(ms + utcOffsetMinutes * 60_000);
	return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours();
}

/** Local calendar date as `YYYY-MM-DD`. */
export function localDateKey(ms: number, utcOffsetMinutes = 0): string {
	return new Date(ms + utcOffsetMinutes * 60_000).toISOString().slice(0, 10);
}

function ymd(year: number, month: number, day: number): string {
	return new Date(Date.UTC(year, month - 1, day)).toISOString().slice(0, 10);
}

/** n-th (1-based) given weekday (0 = Sunday, JS convention) of a month; n = -1 for the last. */
function nthWeekday(year: number, month: number, weekday: number, n: number): string {
	if (n > 0) {
		const first = new Date(Date.UTC(year, month - 1, 1)).getUTCDay();
		return ymd(year, month, 1 + ((weekday - first + 7) % 7) + 7 * (n - 1));
	}
	const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
	const last = new Date(Date.UTC(year, month - 1, lastDay)).getUTCDay();
	return ymd(year, month, lastDay - ((last - weekday + 7) % 7));
}

/** A fixed-date holiday moved to Friday / Monday when it falls on a weekend (US observance rule). */
function observed(year: number, month: number, day: number): string {
	const dow = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
	if (dow === 6) return ymd(year, month, day - 1);
	if (dow === 0) return ymd(year, month, day + 1);
	return ymd(year, month, day);
}

/**
 * The US holidays on which outpatient imaging typically closes (observed dates):
 * New Year, Martin Luther King Jr. Day, Memorial Day, Independence Day,
 * Labor Day, Thanksgiving, Christmas.
 * @see 5 U.S.C. § 6103 (federal holidays and the weekend observance rule)
 */
export function usImagingHolidays(year: number): string[] {
	return [
		observed(year, 1, 1),
		nthWeekday(year, 1, 1, 3),
		nthWeekday(year, 5, 1, -1),
		observed(year, 7, 4),
		nthWeekday(year, 9, 1, 1),
		nthWeekday(year, 11, 4, 4),
		observed(year, 12, 25)
	];
}

/** Holidays for a range of years, inclusive. */
export function usImagingHolidaysBetween(fromYear: number, toYear: number): string[] {
	const out: string[] = [];
	for (let y = fromYear; y <= toYear; y++) out.push(...usImagingHolidays(y));
	return out;
}
