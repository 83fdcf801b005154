import { describe, expect, it } from 'vitest';
import { deadlinePhrase, explainNoReader, formatMinutes } from './explain';

describe('formatMinutes', () => {
	it('reads like a person would say it', () => {
		expect(formatMinutes(0.4)).toBe('<1 min');
		expect(formatMinutes(12.2)).toBe('12 min');
		expect(formatMinutes(59.7)).toBe('1 h');
		expect(formatMinutes(125)).toBe('2 h 05 min');
		expect(formatMinutes(1439.8)).toBe('1 d');
		expect(formatMinutes(1440 + 190)).toBe('1 d 3 h');
		expect(formatMinutes(Infinity)).toBe('unknown');
	});

	it('phrases time left and time overdue', () => {
		expect(deadlinePhrase(12)).toBe('12 min to deadline');
		expect(deadlinePhrase(-5)).toBe('overdue by 5 min');
	});
});

describe('explainNoReader', () => {
	it('orders mixed causes by count, then by the order checks run in', () => {
		const text = explainNoReader({
			subspecialty: 'chest',
			site: 'NORTH',
			candidates: 6,
			counts: { at_cap: 1, site_not_credentialed: 2, paused: 1, not_on_shift: 2 },
			nextShiftInMinutes: 90
		});
		expect(text).toBe(
			'no eligible reader: 6 chest readers — 2 not credentialed for NORTH, 2 not on shift, 1 paused, 1 at RVU cap (next starts in 1 h 30 min)'
		);
	});
});
