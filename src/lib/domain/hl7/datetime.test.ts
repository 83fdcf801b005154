import { describe, expect, it } from 'vitest';
import { formatHl7DateTime, parseHl7DateTime } from './datetime';
import { formatErrorLocation } from './errors';

describe('parseHl7DateTime', () => {
	it.each([
		['2024', '2024-01-01T00:00:00.000Z'],
		['202403', '2024-03-01T00:00:00.000Z'],
		['20240312', '2024-03-12T00:00:00.000Z'],
		['202403120830', '2024-03-12T08:30:00.000Z'],
		['20240312083015.1234', '2024-03-12T08:30:15.123Z'],
		['20240312083015-0500', '2024-03-12T13:30:15.000Z'],
		['20240312083015+0130', '2024-03-12T07:00:15.000Z']
	])('%s → %s', (input, iso) => {
		expect(parseHl7DateTime(input)).toBe(iso);
	});

	it('applies the sender offset only when the value has none', () => {
		expect(parseHl7DateTime('202403120830', 60)).toBe('2024-03-12T07:30:00.000Z');
		expect(parseHl7DateTime('202403120830+0000', 60)).toBe('2024-03-12T08:30:00.000Z');
	});

	it('returns null for empty and undefined for invalid values', () => {
		expect(parseHl7DateTime('')).toBeNull();
		for (const bad of ['2024-03-12', '20240231', '20241301', '2024031225', 'abc']) expect(parseHl7DateTime(bad)).toBeUndefined();
	});

	it('formats UTC with an explicit offset', () => {
		expect(formatHl7DateTime(new Date('2024-03-12T08:30:15.007Z'))).toBe('20240312083015.007+0000');
	});
});

describe('formatErrorLocation', () => {
	it('renders ERL components without trailing empties', () => {
		expect(formatErrorLocation({ segment: 'OBR', sequence: 1, field: 18 })).toBe('OBR^1^18');
		expect(formatErrorLocation({ segment: 'OBR', sequence: 2, field: 27, component: 6 })).toBe('OBR^2^27^^6');
		expect(formatErrorLocation({ segment: 'PID', sequence: 1 })).toBe('PID^1');
	});
});
