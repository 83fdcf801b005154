/**
 * Routing policy: versioned data that an administrator edits and every decision
 * records. Weights, SLA targets, the wait cap and queue caps live here so that
 * a candidate policy can be replayed against history before it goes live.
 */
import {
	PATIENT_CLASSES,
	PRIORITIES,
	PatientClass,
	Priority,
	SUBSPECIALTIES,
	Subspecialty,
	type Modality
} from '../study/model';

/** Relative weight of each score term (all non-negative). */
export interface RoutingWeights {
	/** Closeness to the SLA deadline. */
	urgency: number;
	/** AI critical flag, pending or confirmed. */
	critical: number;
	/** Reader holds the study's subspecialty (versus a general fallback). */
	subspecialtyMatch: number;
	/** Reader has room in their RVU queue. */
	loadBalance: number;
	/** Reader already holds a study of the same patient. */
	continuity: number;
	/** Time waited, ramping up toward the wait cap. */
	aging: number;
}

/** Report turnaround targets in minutes, per priority (HL7 0027) and patient class (HL7 0004). */
export type SlaTargets = Record<Priority, Record<PatientClass, number>>;

export interface RoutingPolicy {
	version: string;
	weights: RoutingWeights;
	slaTargetsMinutes: SlaTargets;
	/** Per-modality exceptions, e.g. MG screening gets longer targets. */
	modalitySlaOverrides?: Partial<Record<Modality, Partial<Record<Priority, Partial<Record<PatientClass, number>>>>>>;
	/** Nothing may wait longer than this for a reader to open it; past it a study outranks all non-critical work. */
	waitCapMinutes: number;
	/** The wait-cap boost starts this long before the cap, so a reader finishing a study opens it in time. */
	agingLeadMinutes: number;
	/** Queue cap for readers without their own `maxQueuedRvu`. */
	maxQueuedRvuDefault: number;
	/** Subspecialties a reader credentialed as `general` may read when no better match is free. */
	generalFallback: readonly Subspecialty[];
	/** A critical study may go past a reader's RVU cap rather than wait in the pool. */
	criticalBypassesCap: boolean;
	/** Urgency is half its maximum this many minutes before the deadline. */
	urgencyScaleMinutes: number;
	/** A rebalance leaves a study where it is unless another reader fits by more than this many points. */
	rebalanceHysteresis: number;
	/** SLA risk is `watch` when expected slack falls under this fraction of the target. */
	riskWatchFraction: number;
}

/** The policy Radflow ships with. Critical outweighs any mix of other terms by design. */
export const DEFAULT_POLICY: RoutingPolicy = {
	version: 'default-1',
	weights: { urgency: 50, critical: 600, subspecialtyMatch: 15, loadBalance: 10, continuity: 8, aging: 40 },
	slaTargetsMinutes: {
		stat: { E: 30, I: 60, O: 60 },
		asap: { E: 90, I: 180, O: 240 },
		routine: { E: 180, I: 720, O: 1440 }
	},
	modalitySlaOverrides: { MG: { routine: { O: 2880 } } },
	waitCapMinutes: 480,
	agingLeadMinutes: 30,
	maxQueuedRvuDefault: 6,
	generalFallback: [Subspecialty.body, Subspecialty.chest, Subspecialty.msk, Subspecialty.neuro],
	criticalBypassesCap: true,
	urgencyScaleMinutes: 30,
	rebalanceHysteresis: 5,
	riskWatchFraction: 0.25
};

/** A policy that failed validation; `errors` are the human-readable findings. */
export class PolicyError extends Error {
	readonly code = 'invalid_policy';
	constructor(
		readonly errors: string[],
		options?: { cause?: unknown }
	) {
		super(`invalid routing policy: ${errors.join('; ')}`, options);
		this.name = 'PolicyError';
	}
}

const WEIGHT_KEYS = ['urgency', 'critical', 'subspecialtyMatch', 'loadBalance', 'continuity', 'aging'] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
	return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPositive(v: unknown): v is number {
	return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/**
 * Check a policy as it arrives from an editor or a file.
 * Returns one human-readable sentence per problem; an empty list means valid.
 */
export function validatePolicy(p: unknown): string[] {
	const errors: string[] = [];
	if (!isRecord(p)) return ['policy must be an object'];
	if (typeof p.version !== 'string' || p.version.trim() === '') errors.push('version must be a non-empty string');

	const w = p.weights;
	if (!isRecord(w)) {
		errors.push('weights must be an object');
	} else {
		let anyPositive = false;
		for (const k of WEIGHT_KEYS) {
			const v = w[k];
			if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
				errors.push(`weights.${k} must be a number ≥ 0 (got ${JSON.stringify(v)})`);
			} else if (v > 0) anyPositive = true;
		}
		if (anyPositive === false && errors.length === 0) errors.push('at least one weight must be above 0');
	}

	const t = p.slaTargetsMinutes;
	if (!isRecord(t)) {
		errors.push('slaTargetsMinutes must be an object');
	} else {
		for (const pr of PRIORITIES) {
			const row = t[pr];
			if (!isRecord(row)) {
				errors.push(`slaTargetsMinutes.${pr} is missing`);
				continue;
			}
			for (const pc of PATIENT_CLASSES) {
				if (!isPositive(row[pc])) errors.push(`SLA target for ${pr}/${pc} must be a positive number of minutes`);
			}
		}
		// A more urgent priority with a longer target is almost always a typo.
		for (const pc of PATIENT_CLASSES) {
			for (let i = 1; i < PRIORITIES.length; i++) {
				const a = PRIORITIES[i - 1];
				const b = PRIORITIES[i];
				const ra = t[a];
				const rb = t[b];
				if (!isRecord(ra) || !isRecord(rb)) continue;
				const va = ra[pc];
				const vb = rb[pc];
				if (isPositive(va) && isPositive(vb) && va > vb) {
					errors.push(`SLA target for ${a}/${pc} (${va} min) is longer than for ${b}/${pc} (${vb} min)`);
				}
			}
		}
	}

	if (p.modalitySlaOverrides !== undefined) {
		if (!isRecord(p.modalitySlaOverrides)) errors.push('modalitySlaOverrides must be an object');
		else {
			for (const [mod, byPriority] of Object.entries(p.modalitySlaOverrides)) {
				if (!isRecord(byPriority)) {
					errors.push(`modalitySlaOverrides.${mod} must be an object`);
					continue;
				}
				for (const [pr, byClass] of Object.entries(byPriority)) {
					if (!(PRIORITIES as string[]).includes(pr)) {
						errors.push(`modalitySlaOverrides.${mod}: unknown priority "${pr}"`);
						continue;
					}
					if (!isRecord(byClass)) {
						errors.push(`modalitySlaOverrides.${mod}.${pr} must be an object`);
						continue;
					}
					for (const [pc, v] of Object.entries(byClass)) {
						if (!(PATIENT_CLASSES as string[]).includes(pc)) errors.push(`modalitySlaOverrides.${mod}.${pr}: unknown patient class "${pc}"`);
						else if (!isPositive(v)) errors.push(`SLA override for ${mod} ${pr}/${pc} must be a positive number of minutes`);
					}
				}
			}
		}
	}

	if (!isPositive(p.waitCapMinutes)) errors.push('waitCapMinutes must be a positive number of minutes');
	if (typeof p.agingLeadMinutes !== 'number' || !Number.isFinite(p.agingLeadMinutes) || p.agingLeadMinutes < 0) {
		errors.push('agingLeadMinutes must be a number of minutes ≥ 0');
	} else if (isPositive(p.waitCapMinutes) && p.agingLeadMinutes >= p.waitCapMinutes) {
		errors.push(`agingLeadMinutes (${p.agingLeadMinutes}) must be shorter than waitCapMinutes (${p.waitCapMinutes})`);
	}
	if (!isPositive(p.maxQueuedRvuDefault)) errors.push('maxQueuedRvuDefault must be a positive number of RVU');
	if (!Array.isArray(p.generalFallback)) errors.push('generalFallback must be a list of subspecialties');
	else {
		for (const s of p.generalFallback) {
			if (!(SUBSPECIALTIES as unknown[]).includes(s)) errors.push(`generalFallback: unknown subspecialty ${JSON.stringify(s)}`);
			else if (s === Subspecialty.general) errors.push('generalFallback must not list "general" itself');
		}
	}
	if (typeof p.criticalBypassesCap !== 'boolean') errors.push('criticalBypassesCap must be true or false');
	if (!isPositive(p.urgencyScaleMinutes)) errors.push('urgencyScaleMinutes must be a positive number of minutes');
	if (typeof p.rebalanceHysteresis !== 'number' || !Number.isFinite(p.rebalanceHysteresis) || p.rebalanceHysteresis < 0) {
		errors.push('rebalanceHysteresis must be a number ≥ 0');
	}
	if (typeof p.riskWatchFraction !== 'number' || !(p.riskWatchFraction > 0 && p.riskWatchFraction < 1)) {
		errors.push('riskWatchFraction must be between 0 and 1');
	}
	return errors;
}

/** Throw a `PolicyError` listing every problem, or return the policy typed. */
export function assertValidPolicy(p: unknown): RoutingPolicy {
	const errors = validatePolicy(p);
	if (errors.length > 0) throw new PolicyError(errors);
	return p as RoutingPolicy;
}

/** SLA target in minutes for one exam, modality override first. */
export function slaTargetMinutes(
	exam: { priority: Priority; patientClass: PatientClass; modality: Modality },
	policy: RoutingPolicy
): number {
	const override = policy.modalitySlaOverrides?.[exam.modality]?.[exam.priority]?.[exam.patientClass];
	return override ?? policy.slaTargetsMinutes[exam.priority][exam.patientClass];
}

/** Report deadline, epoch ms: the time the study became readable plus its SLA target. */
export function computeDeadline(
	exam: { arrivedAt: number; priority: Priority; patientClass: PatientClass; modality: Modality },
	policy: RoutingPolicy
): number {
	return exam.arrivedAt + slaTargetMinutes(exam, policy) * 60_000;
}

/** Reader queue cap in RVU. */
export function queueCapRvu(reader: { maxQueuedRvu?: number }, policy: RoutingPolicy): number {
	return reader.maxQueuedRvu ?? policy.maxQueuedRvuDefault;
}

// Re-exported so callers building policies need one import.
export { PatientClass, Priority };
