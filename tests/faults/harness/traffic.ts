/**
 * Traffic for the fault tests: simulator study plans (ADT + ORM over MLLP,
 * then the images over DIMSE), shifted to wall-clock time, with every image
 * written as a Part 10 file for dcmtk's storescu and its dataset hash kept
 * for the blob-store comparison.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildNetwork } from '../../../workers/simulator/network';
import { HOUR, studiesForHour, type StudyPlan } from '../../../workers/simulator/plan';
import { buildStudyInstances, datasetOffset } from '../../../workers/simulator/dicom';
import { withMshField } from '../../../workers/hl7/samples';
import { buildAdt, buildOrm, controlId } from '../../../workers/simulator/hl7';

export interface PlannedInstance {
	sopInstanceUid: string;
	seriesInstanceUid: string;
	file: string;
	/** SHA-256 and length of the dataset (what the SCP stores after its own file meta). */
	datasetSha256: string;
	datasetBytes: number;
}

export interface PlannedMessage {
	controlId: string;
	kind: 'ADT' | 'ORM';
	text: string;
}

export interface PlannedStudy {
	accession: string;
	studyInstanceUid: string;
	callingAe: string;
	modality: string;
	messages: PlannedMessage[];
	instances: PlannedInstance[];
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The dataset part of a Part 10 file. */
export function datasetOf(part10: Buffer): Buffer {
	return part10.subarray(datasetOffset(part10));
}

/**
 * `count` studies from the simulated network (seeded, so a seed reproduces a
 * run), real-time stamped, files under `dir`. `maxInstances` caps each study.
 */
export function planStudies(seed: string, count: number, dir: string, options: { maxInstances?: number; imageSize?: number } = {}): PlannedStudy[] {
	const net = buildNetwork();
	const now = Date.now();
	const plans: StudyPlan[] = [];
	for (let h = 0; plans.length < count && h < 200; h++) plans.push(...studiesForHour(net, seed, Math.floor(now / HOUR) * HOUR - h * HOUR));
	return plans.slice(0, count).map((plan, index) => {
		// Real-time stamps: the order just now, the images right after.
		const shift = now - plan.orderedAt;
		const p: StudyPlan = { ...plan, registeredAt: plan.registeredAt + shift, orderedAt: now, firstImageAt: now + 1000, completeAt: now + 2000 };
		const studyDir = path.join(dir, p.accession);
		fs.mkdirSync(studyDir, { recursive: true });
		const encoded = options.maxInstances === 0 ? [] : buildStudyInstances(p, { size: options.imageSize });
		const instances = encoded.slice(0, options.maxInstances ?? Infinity).map((inst, i) => {
			const file = path.join(studyDir, `${String(i).padStart(3, '0')}.dcm`);
			fs.writeFileSync(file, inst.part10);
			const ds = datasetOf(inst.part10);
			return { sopInstanceUid: inst.sopInstanceUid, seriesInstanceUid: inst.seriesInstanceUid, file, datasetSha256: sha256(ds), datasetBytes: ds.length };
		});
		return {
			accession: p.accession,
			studyInstanceUid: p.studyUid,
			callingAe: p.callingAe,
			modality: p.exam.modality,
			messages: [
				{ controlId: controlId(p, 'ADT'), kind: 'ADT' as const, text: buildAdt(p) },
				// Every other order in enhanced mode: answered CA once stored, applied after (and after a crash, at the restart).
				{ controlId: controlId(p, 'ORM'), kind: 'ORM' as const, text: index % 2 ? withMshField(withMshField(buildOrm(p), 15, 'AL'), 16, 'NE') : buildOrm(p) }
			],
			instances
		};
	});
}
