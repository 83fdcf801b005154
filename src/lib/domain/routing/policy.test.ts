import { describe, expect, it } from 'vitest';
import { assertValidPolicy, computeDeadline, DEFAULT_POLICY, PolicyError, slaTargetMinutes, validatePolicy } from './policy';
import { T0, MIN } from './testing';

const clone = () => structuredClone(DEFAULT_POLICY) as unknown as Record<string, any>;

describe('validatePolicy', () => {
	it('accepts the shipped default policy', () => {
		expect(validatePolicy(DEFAULT_POLICY)).toEqual([]);
	});

	it('rejects something that is not a policy at all', () => {
		expect(validatePolicy(null)).toEqual(['policy must be an object']);
		expect(validatePolicy('x')).toEqual(['policy must be an object']);
	});

	it('names a negative or missing weight', () => {
		const p = clone();
		p.weights.urgency = -1;
		delete p.weights.aging;
		const errors = validatePolicy(p);
		expect(errors).toContain('weights.urgency must be a number ≥ 0 (got -1)');
		expect(errors.some((e) => e.startsWith('weights.aging'))).toBe(true);
	});

	it('refuses all-zero weights', () => {
		const p = clone();
		for (const k of Object.keys(p.weights)) p.weights[k] = 0;
		expect(validatePolicy(p)).toEqual(['at least one weight must be above 0']);
	});

	it('names a missing SLA target and a stat target longer than routine', () => {
		const p = clone();
		delete p.slaTargetsMinutes.asap.E;
		p.slaTargetsMinutes.stat.I = 2000;
		const errors = validatePolicy(p);
		expect(errors).toContain('SLA target for asap/E must be a positive number of minutes');
		expect(errors).toContain('SLA target for stat/I (2000 min) is longer than for asap/I (180 min)');
	});

	it('checks modality overrides', () => {
		const p = clone();
		p.modalitySlaOverrides = { MR: { urgent: { O: 5 }, routine: { X: 10, O: -3 } } };
		const errors = validatePolicy(p);
		expect(errors).toContain('modalitySlaOverrides.MR: unknown priority "urgent"');
		expect(errors).toContain('modalitySlaOverrides.MR.routine: unknown patient class "X"');
		expect(errors).toContain('SLA override for MR routine/O must be a positive number of minutes');
	});

	it('checks the wait cap, queue cap, fallback list and risk threshold', () => {
		const p = clone();
		p.waitCapMinutes = 20;
		p.agingLeadMinutes = 30;
		p.maxQueuedRvuDefault = 0;
		p.generalFallback = ['neuro', 'general', 'cardiac'];
		p.riskWatchFraction = 1.5;
		p.version = '';
		const errors = validatePolicy(p);
		expect(errors).toEqual(
			expect.arrayContaining([
				'version must be a non-empty string',
				'agingLeadMinutes (30) must be shorter than waitCapMinutes (20)',
				'maxQueuedRvuDefault must be a positive number of RVU',
				'generalFallback must not list "general" itself',
				'generalFallback: unknown subspecialty "cardiac"',
				'riskWatchFraction must be between 0 and 1'
			])
		);
	});

	it('assertValidPolicy throws a coded error listing every problem', () => {
		const p = clone();
		p.waitCapMinutes = -1;
		p.urgencyScaleMinutes = 0;
		try {
			assertValidPolicy(p);
			expect.unreachable();
		} catch (e) {
			expect(e).toBeInstanceOf(PolicyError);
			expect((e as PolicyError).code).toBe('invalid_policy');
			expect((e as PolicyError).errors).toHaveLength(2);
		}
	});
});

describe('deadlines', () => {
	it('adds the SLA target for priority and patient class to the arrival time', () => {
		const exam = { arrivedAt: T0, priority: 'stat', patientClass: 'E', modality: 'CT' } as const;
		expect(computeDeadline(exam, DEFAULT_POLICY)).toBe(T0 + DEFAULT_POLICY.slaTargetsMinutes.stat.E * MIN);
	});

	it('prefers a modality override where one exists', () => {
		const mg = { priority: 'routine', patientClass: 'O', modality: 'MG' } as const;
		expect(slaTargetMinutes(mg, DEFAULT_POLICY)).toBe(DEFAULT_POLICY.modalitySlaOverrides!.MG!.routine!.O);
		expect(slaTargetMinutes({ ...mg, patientClass: 'I' }, DEFAULT_POLICY)).toBe(DEFAULT_POLICY.slaTargetsMinutes.routine.I);
	});
});
