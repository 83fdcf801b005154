/**
 * The model manifest: what a triage model is, what it accepts, when it runs
 * and where it runs. One `manifest.json` sits next to each model's weights
 * (models/<id>/<version>/manifest.json) or describes a remote model.
 *
 * Pure: validation and eligibility matching do no I/O.
 */
import type { PreprocessSpec } from './preprocess';

/** How a model's output is used. */
export const ModelMode = {
	/** not run */
	off: 'off',
	/** run and recorded, never changes priority (silent evaluation) */
	shadow: 'shadow',
	/** run; a critical result raises priority for human confirmation */
	active: 'active'
} as const;
export type ModelMode = (typeof ModelMode)[keyof typeof ModelMode];
export const MODEL_MODES = Object.values(ModelMode);

/** Where inference happens. */
export const RuntimeKind = { local: 'local', remote: 'remote' } as const;
export type RuntimeKind = (typeof RuntimeKind)[keyof typeof RuntimeKind];

/** Remote inference protocols. @see https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/ */
export const RemoteProtocol = { kserveV2: 'kserve-v2' } as const;
export type RemoteProtocol = (typeof RemoteProtocol)[keyof typeof RemoteProtocol];

/** How pixels are normalised to [0, 1]. */
export const InputNormalization = { window: 'window', minmax: 'minmax' } as const;
export type InputNormalization = (typeof InputNormalization)[keyof typeof InputNormalization];

export type ModelRuntime =
	| { kind: typeof RuntimeKind.local; /** folder with model.json, relative to the manifest */ path: string }
	| { kind: typeof RuntimeKind.remote; url: string; protocol: RemoteProtocol; modelName: string; timeoutMs?: number };

export interface ModelManifest {
	id: string;
	version: string;
	/** What the model does, e.g. "ich-detection". */
	task: string;
	description?: string;
	/** Output classes, in the order of the model's output vector. */
	labels: string[];
	/** The label whose probability is the critical score. */
	criticalLabel: string;
	input: {
		width: number;
		height: number;
		channels: 1;
		/** VOI window in modality units (HU for CT); used when normalization is "window". */
		window?: { center: number; width: number };
		/** Default: "window" when a window is given, else "minmax". */
		normalization?: InputNormalization;
	};
	eligibility: {
		/** DICOM Modality (0008,0060) values, e.g. ["CT"]. */
		modality: string[];
		/** Body Part Examined (0018,0015) values, e.g. ["HEAD", "BRAIN"]. */
		bodyPart?: string[];
		/** Case-insensitive regular expressions tried on study and series descriptions. */
		descriptionMatches?: string[];
	};
	/** For CT series: how many slices to run; the study score is the maximum. */
	slices?: number;
	thresholds: { critical: number };
	mode: ModelMode;
	runtime: ModelRuntime;
}

/** Thrown for a manifest that fails validation. */
export class ManifestError extends Error {
	readonly code = 'invalid_manifest';
	constructor(
		readonly errors: string[],
		options?: { cause?: unknown }
	) {
		super(`invalid model manifest: ${errors.join('; ')}`, options);
		this.name = 'ManifestError';
	}
}

export type ManifestValidation = { ok: true; manifest: ModelManifest } | { ok: false; errors: string[] };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrArr = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0);
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Check an untrusted (parsed JSON) manifest and say everything wrong with it. */
export function validateManifest(raw: unknown): ManifestValidation {
	const errors: string[] = [];
	if (!isObj(raw)) return { ok: false, errors: ['manifest must be a JSON object'] };
	const m = raw;
	for (const k of ['id', 'version', 'task'] as const) {
		if (typeof m[k] !== 'string' || !(m[k] as string).trim()) errors.push(`${k} must be a non-empty string`);
	}
	if (typeof m.id === 'string' && !/^[a-z0-9][a-z0-9._-]*$/.test(m.id)) errors.push('id must be lowercase letters, digits, ".", "_" or "-"');
	if (!isStrArr(m.labels) || m.labels.length < 2) errors.push('labels must list at least two class names');
	else if (new Set(m.labels).size !== m.labels.length) errors.push('labels must be unique');
	if (typeof m.criticalLabel !== 'string' || !(isStrArr(m.labels) && m.labels.includes(m.criticalLabel))) errors.push('criticalLabel must be one of labels');

	if (!isObj(m.input)) errors.push('input must be an object');
	else {
		const inp = m.input;
		if (!isPosInt(inp.width) || !isPosInt(inp.height)) errors.push('input.width and input.height must be positive integers');
		if (inp.channels !== 1) errors.push('input.channels must be 1 (greyscale)');
		if (inp.normalization !== undefined && !Object.values(InputNormalization).includes(inp.normalization as InputNormalization))
			errors.push(`input.normalization must be one of ${Object.values(InputNormalization).join(', ')}`);
		if (inp.window !== undefined) {
			if (!isObj(inp.window) || typeof inp.window.center !== 'number' || typeof inp.window.width !== 'number' || !(inp.window.width >= 1))
				errors.push('input.window must be {center: number, width: number >= 1}');
		} else if (inp.normalization === InputNormalization.window) errors.push('input.normalization "window" needs input.window');
	}

	if (!isObj(m.eligibility)) errors.push('eligibility must be an object');
	else {
		const e = m.eligibility;
		if (!isStrArr(e.modality) || e.modality.length === 0) errors.push('eligibility.modality must list at least one modality');
		if (e.bodyPart !== undefined && !isStrArr(e.bodyPart)) errors.push('eligibility.bodyPart must be a list of strings');
		if (e.descriptionMatches !== undefined) {
			if (!isStrArr(e.descriptionMatches)) errors.push('eligibility.descriptionMatches must be a list of strings');
			else
				for (const p of e.descriptionMatches) {
					try {
						new RegExp(p, 'i');
					} catch {
						errors.push(`eligibility.descriptionMatches: invalid regular expression ${JSON.stringify(p)}`);
					}
				}
		}
	}
	if (m.slices !== undefined && !isPosInt(m.slices)) errors.push('slices must be a positive integer');

	if (!isObj(m.thresholds) || typeof m.thresholds.critical !== 'number' || !(m.thresholds.critical >= 0 && m.thresholds.critical <= 1))
		errors.push('thresholds.critical must be a number in [0, 1]');
	if (!MODEL_MODES.includes(m.mode as ModelMode)) errors.push(`mode must be one of ${MODEL_MODES.join(', ')}`);

	if (!isObj(m.runtime)) errors.push('runtime must be an object');
	else {
		const r = m.runtime;
		if (r.kind === RuntimeKind.local) {
			if (typeof r.path !== 'string' || !r.path) errors.push('runtime.path must name the model folder');
		} else if (r.kind === RuntimeKind.remote) {
			if (typeof r.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(r.url)) errors.push('runtime.url must be an http(s) URL');
			if (r.protocol !== RemoteProtocol.kserveV2) errors.push(`runtime.protocol must be ${RemoteProtocol.kserveV2}`);
			if (typeof r.modelName !== 'string' || !r.modelName) errors.push('runtime.modelName must be a non-empty string');
			if (r.timeoutMs !== undefined && !isPosInt(r.timeoutMs)) errors.push('runtime.timeoutMs must be a positive integer');
		} else errors.push(`runtime.kind must be ${RuntimeKind.local} or ${RuntimeKind.remote}`);
	}
	return errors.length ? { ok: false, errors } : { ok: true, manifest: raw as unknown as ModelManifest };
}

/** Validate or throw ManifestError. */
export function parseManifest(raw: unknown): ModelManifest {
	const v = validateManifest(raw);
	if (!v.ok) throw new ManifestError(v.errors);
	return v.manifest;
}

/** The preprocessing a manifest asks for. */
export function preprocessSpec(m: Pick<ModelManifest, 'input'>): PreprocessSpec {
	const { width, height, window, normalization } = m.input;
	const kind = normalization ?? (window ? InputNormalization.window : InputNormalization.minmax);
	switch (kind) {
		case InputNormalization.window:
			if (!window) throw new ManifestError(['input.normalization "window" needs input.window']);
			return { width, height, normalization: { kind: 'window', center: window.center, width: window.width } };
		case InputNormalization.minmax:
			return { width, height, normalization: { kind: 'minmax' } };
		default:
			return kind satisfies never;
	}
}

/** The study (and series) attributes eligibility looks at. */
export interface StudyAttributes {
	/** Modality of the series, or ModalitiesInStudy. */
	modalities: string[];
	bodyPart?: string;
	studyDescription?: string;
	seriesDescription?: string;
}

export interface Eligibility {
	eligible: boolean;
	reason: string;
}

const norm = (s: string) => s.trim().toUpperCase();

/**
 * Does a model apply to this study? The modality must match; then, where the
 * manifest names body parts or description patterns, at least one of them
 * must match (Body Part Examined is often missing or site-specific, so a
 * description match is enough). A model in mode "off" is never eligible.
 */
export function matchEligibility(m: Pick<ModelManifest, 'eligibility' | 'mode'>, study: StudyAttributes): Eligibility {
	if (m.mode === ModelMode.off) return { eligible: false, reason: 'model is off' };
	const mods = new Set(study.modalities.map(norm));
	const modality = m.eligibility.modality.find((x) => mods.has(norm(x)));
	if (!modality) return { eligible: false, reason: `modality ${[...mods].join('/') || '(none)'} not in ${m.eligibility.modality.join('/')}` };
	const parts = m.eligibility.bodyPart ?? [];
	const patterns = m.eligibility.descriptionMatches ?? [];
	if (parts.length === 0 && patterns.length === 0) return { eligible: true, reason: `modality ${modality}` };
	if (study.bodyPart && parts.some((p) => norm(p) === norm(study.bodyPart!)))
		return { eligible: true, reason: `modality ${modality}, body part ${norm(study.bodyPart)}` };
	for (const p of patterns) {
		const re = new RegExp(p, 'i');
		for (const d of [study.studyDescription, study.seriesDescription]) {
			if (d && re.test(d)) return { eligible: true, reason: `modality ${modality}, description matches /${p}/` };
		}
	}
	return {
		eligible: false,
		reason: `modality ${modality} but body part ${study.bodyPart ?? '(none)'} and descriptions do not match`
	};
}
