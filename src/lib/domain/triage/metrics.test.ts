import { describe, it, expect } from 'vitest';
import { confusionAt, rocAuc, thresholdForSensitivity } from './metrics';

describe('metrics', () => {
	it('computes ROC AUC as the probability a positive outranks a negative', () => {
		expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
		expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
		expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
		// pairs (pos, neg): (0.4 > 0.3, 0.4 < 0.6, 0.8 > 0.3, 0.8 > 0.6) → 3/4
		expect(rocAuc([0.3, 0.4, 0.6, 0.8], [0, 1, 0, 1])).toBe(0.75);
		expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
	});

	it('counts a confusion matrix at a threshold (score >= threshold is positive)', () => {
		const c = confusionAt([0.1, 0.5, 0.7, 0.4, 0.9], [0, 0, 1, 1, 1], 0.5);
		expect(c).toMatchObject({ tp: 2, fn: 1, tn: 1, fp: 1 });
		expect(c.sensitivity).toBeCloseTo(2 / 3);
		expect(c.specificity).toBe(0.5);
	});

	it('chooses the highest threshold that reaches a sensitivity', () => {
		const scores = [0.95, 0.9, 0.8, 0.6, 0.3, 0.2, 0.85, 0.1];
		const labels = [1, 1, 1, 1, 1, 0, 0, 0];
		const t = thresholdForSensitivity(scores, labels, 0.8);
		expect(t).toBe(0.6);
		expect(confusionAt(scores, labels, t).sensitivity).toBeGreaterThanOrEqual(0.8);
	});
});
