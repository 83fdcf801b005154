import { describe, it, expect } from 'vitest';
import { ManifestError, matchEligibility, parseManifest, preprocessSpec, validateManifest, type ModelManifest } from './manifest';

const good = (): ModelManifest => ({
	id: 'ich-ct-demo',
	version: '1.0.0',
	task: 'ich-detection',
	labels: ['no_hemorrhage', 'hemorrhage'],
	criticalLabel: 'hemorrhage',
	input: { width: 64, height: 64, channels: 1, window: { center: 40, width: 80 } },
	eligibility: { modality: ['CT'], bodyPart: ['HEAD', 'BRAIN'], descriptionMatches: ['\\bhead\\b', 'brain'] },
	slices: 12,
	thresholds: { critical: 0.6 },
	mode: 'shadow',
	runtime: { kind: 'local', path: '.' }
});

describe('manifest validation', () => {
	it('accepts a complete local manifest and a remote KServe one', () => {
		expect(validateManifest(good())).toEqual({ ok: true, manifest: good() });
		const remote = { ...good(), runtime: { kind: 'remote', url: 'http://triton:8000', protocol: 'kserve-v2', modelName: 'ich', timeoutMs: 2000 } };
		expect(validateManifest(remote).ok).toBe(true);
	});

	it('lists every problem, not only the first', () => {
		const bad = {
			...good(),
			id: 'Bad Id',
			labels: ['only'],
			criticalLabel: 'other',
			input: { width: 0, height: 64, channels: 3 },
			eligibility: { modality: [], descriptionMatches: ['(unclosed'] },
			thresholds: { critical: 1.5 },
			mode: 'on',
			runtime: { kind: 'remote', url: 'ftp://x', protocol: 'grpc', modelName: '' }
		};
		const v = validateManifest(bad);
		expect(v.ok).toBe(false);
		const errors = v.ok ? [] : v.errors.join('\n');
		for (const needle of ['id must', 'labels must', 'criticalLabel', 'input.width', 'input.channels', 'eligibility.modality', 'invalid regular expression', 'thresholds.critical', 'mode must', 'runtime.url', 'runtime.protocol', 'runtime.modelName'])
			expect(errors).toContain(needle);
	});

	it('rejects non-objects and throws ManifestError from parseManifest', () => {
		expect(validateManifest(null).ok).toBe(false);
		expect(validateManifest([]).ok).toBe(false);
		expect(() => parseManifest({ ...good(), mode: 'loud' })).toThrow(ManifestError);
		try {
			parseManifest({});
		} catch (e) {
			expect((e as ManifestError).code).toBe('invalid_manifest');
		}
	});

	it('derives the preprocessing: window when given, else min-max', () => {
		expect(preprocessSpec(good())).toEqual({ width: 64, height: 64, normalization: { kind: 'window', center: 40, width: 80 } });
		expect(preprocessSpec({ input: { width: 32, height: 48, channels: 1 } })).toEqual({ width: 32, height: 48, normalization: { kind: 'minmax' } });
		expect(validateManifest({ ...good(), input: { width: 8, height: 8, channels: 1, normalization: 'window' } }).ok).toBe(false);
	});
});

describe('eligibility', () => {
	const m = good();
	it('requires the modality', () => {
		const e = matchEligibility(m, { modalities: ['MR'], bodyPart: 'HEAD' });
		expect(e.eligible).toBe(false);
		expect(e.reason).toContain('MR');
	});

	it('matches on body part, case-insensitively', () => {
		expect(matchEligibility(m, { modalities: ['ct'], bodyPart: 'head' })).toEqual({ eligible: true, reason: 'modality CT, body part HEAD' });
	});

	it('falls back to the study or series description when the body part is missing or odd', () => {
		expect(matchEligibility(m, { modalities: ['CT'], studyDescription: 'CT HEAD WO CONTRAST' }).eligible).toBe(true);
		expect(matchEligibility(m, { modalities: ['CT'], bodyPart: 'SKULLBASE', seriesDescription: 'Brain 5mm' }).eligible).toBe(true);
		// "headache" must not match \bhead\b, and a chest CT is not eligible
		expect(matchEligibility(m, { modalities: ['CT'], bodyPart: 'CHEST', studyDescription: 'CT CHEST headache protocol' }).eligible).toBe(false);
	});

	it('takes modality alone when no body part or pattern is configured, and never runs an "off" model', () => {
		const open = { ...m, eligibility: { modality: ['CR', 'DX'] } };
		expect(matchEligibility(open, { modalities: ['DX'] }).eligible).toBe(true);
		expect(matchEligibility({ ...m, mode: 'off' }, { modalities: ['CT'], bodyPart: 'HEAD' })).toEqual({ eligible: false, reason: 'model is off' });
	});
});
