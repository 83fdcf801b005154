/**
 * The two demonstration models this repository trains and ships, as
 * manifests (less the fields training fills in: the threshold).
 */
import type { ModelManifest } from '../../src/lib/domain/triage/manifest';
import type { Task } from './dataset';

export interface CatalogEntry {
	task: Task;
	/** Sensitivity the operating threshold is chosen for on the validation set. */
	targetSensitivity: number;
	manifest: Omit<ModelManifest, 'thresholds'>;
}

export const CATALOG: Record<Task, CatalogEntry> = {
	ich: {
		task: 'ich',
		targetSensitivity: 0.9,
		manifest: {
			id: 'ich-ct-demo',
			version: '1.0.0',
			task: 'ich-detection',
			description: 'Intracranial hemorrhage on non-contrast head CT (axial slices). Demonstration model, synthetic data, not for clinical use.',
			labels: ['no_hemorrhage', 'hemorrhage'],
			criticalLabel: 'hemorrhage',
			input: { width: 64, height: 64, channels: 1, window: { center: 40, width: 80 }, normalization: 'window' },
			eligibility: { modality: ['CT'], bodyPart: ['HEAD', 'BRAIN', 'SKULL'], descriptionMatches: ['\\bhead\\b', '\\bbrain\\b', 'cranial', '\\bCTH\\b'] },
			slices: 12,
			mode: 'shadow',
			runtime: { kind: 'local', path: '.' }
		}
	},
	ptx: {
		task: 'ptx',
		targetSensitivity: 0.9,
		manifest: {
			id: 'ptx-cxr-demo',
			version: '1.0.0',
			task: 'pneumothorax-detection',
			description: 'Pneumothorax on frontal chest radiographs. Demonstration model, synthetic data, not for clinical use.',
			labels: ['no_pneumothorax', 'pneumothorax'],
			criticalLabel: 'pneumothorax',
			input: { width: 64, height: 64, channels: 1, normalization: 'minmax' },
			eligibility: { modality: ['CR', 'DX'], bodyPart: ['CHEST', 'THORAX'], descriptionMatches: ['chest', 'thorax', '\\bCXR\\b', 'lung'] },
			mode: 'shadow',
			runtime: { kind: 'local', path: '.' }
		}
	}
};

export function parseTaskArg(argv: string[]): Task {
	const i = argv.indexOf('--model');
	const v = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--model='))?.slice(8);
	if (v === 'ich' || v === 'ptx') return v;
	throw new Error(`usage: --model ich|ptx (got ${v ?? 'nothing'})`);
}

export function numArg(argv: string[], name: string, fallback: number): number {
	const i = argv.indexOf(`--${name}`);
	const v = i >= 0 ? Number(argv[i + 1]) : NaN;
	return Number.isFinite(v) ? v : fallback;
}
