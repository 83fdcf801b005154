import { describe, expect, it } from 'vitest';
import { hourOfWeek, localDateKey, usImagingHolidays } from './calendar';

describe('usImagingHolidays', () => {
	it('gives the 2025 dates', () => {
		expect(usImagingHolidays(2025)).toEqual([
			'2025-01-01', '2025-01-20', '2025-05-26', '2025-07-04', '2025-09-01', '2025-11-27', '2025-12-25'
		]);
	});
	it('moves weekend fixed-date holidays to the observed weekday', () => {
		// 4 July 2021 was a Sunday, Christmas 2021 a Saturday.
		const y2021 = usImagingHolidays(2021);
		expect(y2021).toContain('2021-07-05');
		expect(y2021).toContain('2021-12-24');
		expect(y2021).toContain('2021-05-31'); // last Monday of May
	});
});

describe('hourOfWeek', () => {
	it('counts from Monday 00:00 local time', () => {
		expect(hourOfWeek(Date.parse('2025-03-10T00:00:00Z'))).toBe(0);
		expect(hourOfWeek(Date.parse('2025-03-16T23:00:00Z'))).toBe(167);
		// 04:00 UTC Monday is still Sunday 23:00 at UTC−5.
		expect(hourOfWeek(Date.parse('2025-03-10T04:00:00Z'), -300)).toBe(167);
		expect(localDateKey(Date.parse('2025-03-10T04:00:00Z'), -300)).toBe('2025-03-09');
	});
});
