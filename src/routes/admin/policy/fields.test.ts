import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, validatePolicy } from '../../../lib/domain/routing/policy';
import { errorsByField, fieldOf, parseDays } from './fields';

describe('policy editor fields', () => {
	it('puts every validation message of a thoroughly broken policy next to a field the editor shows', () => {
		const broken = {
			...DEFAULT_POLICY,
			version: '',
			weights: { ...DEFAULT_POLICY.weights, urgency: -1, aging: 'x' },
			slaTargetsMinutes: { stat: { E: 0, I: 60, O: 60 }, asap: { E: 20, I: 180, O: 240 }, routine: { E: 180, I: 720, O: 1440 } },
			modalitySlaOverrides: { MG: { routine: { O: -3 } } },
			waitCapMinutes: 10,
			agingLeadMinutes: 20,
			maxQueuedRvuDefault: 0,
			generalFallback: ['general'],
			criticalBypassesCap: 'yes',
			urgencyScaleMinutes: 0,
			rebalanceHysteresis: -1,
			riskWatchFraction: 2
		};
		const messages = validatePolicy(broken);
		expect(messages.length).toBeGreaterThanOrEqual(12);
		for (const m of messages) expect(fieldOf(m), m).not.toBe('_');
		const by = errorsByField(messages);
		expect(by['weights.urgency']).toHaveLength(1);
		expect(by['weights.aging']).toHaveLength(1);
		expect(by['sla.stat.E']).toEqual([expect.stringContaining('stat/E must be a positive')]);
		for (const k of ['version', 'modalitySlaOverrides', 'agingLeadMinutes', 'maxQueuedRvuDefault', 'generalFallback', 'criticalBypassesCap', 'urgencyScaleMinutes', 'rebalanceHysteresis', 'riskWatchFraction']) {
			expect(by[k], k).toBeDefined();
		}
	});

	it('accepts 1 to 35 whole days to replay', () => {
		expect(parseDays('7')).toEqual({ days: 7 });
		expect(parseDays('35')).toEqual({ days: 35 });
		for (const bad of ['0', '36', '2.5', '', 'x', null]) expect(parseDays(bad)).toHaveProperty('error');
	});
});
