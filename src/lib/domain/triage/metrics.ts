/**
 * Binary classification metrics for model evaluation: ROC AUC, sensitivity
 * and specificity at a threshold, and threshold choice. Pure.
 */

/**
 * Area under the ROC curve via the Mann-Whitney U statistic (ties count half).
 * Returns NaN when either class is empty.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
	const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
	let pos = 0;
	let neg = 0;
	let rankSumPos = 0;
	for (let i = 0; i < idx.length; ) {
		let j = i;
		while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
		const avgRank = (i + j) / 2 + 1;
		for (let k = i; k <= j; k++) {
			if (labels[idx[k]]) {
				pos++;
				rankSumPos += avgRank;
			} else neg++;
		}
		i = j + 1;
	}
	if (pos === 0 || neg === 0) return NaN;
	return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

export interface Confusion {
	tp: number;
	fp: number;
	tn: number;
	fn: number;
	sensitivity: number;
	specificity: number;
}

/** Counts and rates when score >= threshold is called positive. */
export function confusionAt(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): Confusion {
	let tp = 0;
	let fp = 0;
	let tn = 0;
	let fn = 0;
	for (let i = 0; i < scores.length; i++) {
		const called = scores[i] >= threshold;
		if (labels[i]) called ? tp++ : fn++;
		else called ? fp++ : tn++;
	}
	return { tp, fp, tn, fn, sensitivity: tp / (tp + fn || 1), specificity: tn / (tn + fp || 1) };
}

/**
 * The highest threshold whose sensitivity reaches `minSensitivity` (a triage
 * model should rather over-call); among thresholds that tie, the one with
 * the best specificity.
 */
export function thresholdForSensitivity(scores: ArrayLike<number>, labels: ArrayLike<number>, minSensitivity: number): number {
	const positives = Array.from(scores).filter((_, i) => labels[i]).sort((a, b) => b - a);
	if (positives.length === 0) return 0.5;
	const k = Math.max(1, Math.ceil(minSensitivity * positives.length));
	return positives[k - 1];
}
