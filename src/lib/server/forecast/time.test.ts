import { describe, expect, it } from 'vitest';
import { localInputToUtc, tzOffsetMinutes, utcToLocalInput } from './time';

describe('site-local shift times', () => {
	it('reads a datetime-local value in the site zone, across DST', () => {
		expect(localInputToUtc('2025-07-01T08:00', 'America/New_York')).toBe(Date.UTC(2025, 6, 1, 12));
		expect(localInputToUtc('2025-12-01T08:00', 'America/New_York')).toBe(Date.UTC(2025, 11, 1, 13));
		expect(localInputToUtc('2025-12-01T08:00', 'Etc/GMT+5')).toBe(Date.UTC(2025, 11, 1, 13));
		expect(tzOffsetMinutes('Asia/Kolkata', Date.UTC(2025, 0, 1))).toBe(330);
		expect(utcToLocalInput(Date.UTC(2025, 6, 1, 12), 'America/New_York')).toBe('2025-07-01T08:00');
	});
	it('rejects values that are not dates', () => {
		expect(localInputToUtc('2025-02-30T08:00', 'UTC')).toBeNull();
		expect(localInputToUtc('tomorrow', 'UTC')).toBeNull();
	});
});
