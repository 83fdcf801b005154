/**
 * Seed helpers for triage tests: a complete study whose phantom DICOM files
 * lie on disk with `instances` / `series` rows pointing at them, as the
 * DICOM role would have left it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chestXr, headCtSeries } from '../../domain/triage/phantom';
import type { SqlLike } from '../db/client';
import { phantomToPart10 } from '../../../../workers/triage/part10';
import { TransferSyntax } from '../../../../workers/triage/dicom';

export interface PhantomStudySeed {
	dir: string;
	accession: string;
	kind: 'head-ct' | 'chest-xr';
	seed: number;
	positive: boolean;
	/** Transfer syntax written into the files (default Explicit VR Little Endian). */
	transferSyntaxUid?: string;
	/** Extra junk files appended to the series (not DICOM at all). */
	junkFiles?: number;
	/** How long before now the last image arrived. */
	lastImageMsAgo?: number;
	priority?: 'stat' | 'asap' | 'routine';
	status?: 'complete' | 'arriving' | 'assigned';
	modality?: string;
	description?: string;
	site?: string;
}

/** Phantom files for a head CT (16 axial slices, 128 px) or one chest radiograph. */
export function phantomFiles(kind: PhantomStudySeed['kind'], seed: number, positive: boolean, opts: { transferSyntaxUid?: string; studyUid?: string; seriesUid?: string } = {}): Uint8Array[] {
	const ts = opts.transferSyntaxUid ?? TransferSyntax.explicitLittle;
	if (kind === 'head-ct') {
		const s = headCtSeries(seed, { size: 128, slices: 16, hemorrhage: positive });
		return s.slices.map(
			(img, i) =>
				new Uint8Array(
					phantomToPart10(img, {
						transferSyntaxUid: ts,
						studyInstanceUid: opts.studyUid,
						seriesInstanceUid: opts.seriesUid,
						imagePositionPatient: [-115, -115, s.positions[i]],
						instanceNumber: i + 1
					})
				)
		);
	}
	return [new Uint8Array(phantomToPart10(chestXr(seed, { size: 128, pneumothorax: positive }), { transferSyntaxUid: ts, studyInstanceUid: opts.studyUid, seriesInstanceUid: opts.seriesUid }))];
}

/** Insert a study (+ series + instances) with its phantom files written under `dir`. Returns the study id. */
export async function seedPhantomStudy(sql: SqlLike, s: PhantomStudySeed): Promise<number> {
	const studyUid = `2.25.${s.seed}${Math.floor(Math.random() * 1e6)}`;
	const seriesUid = `${studyUid}.1`;
	const files = phantomFiles(s.kind, s.seed, s.positive, { transferSyntaxUid: s.transferSyntaxUid, studyUid, seriesUid });
	for (let j = 0; j < (s.junkFiles ?? 0); j++) files.push(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
	const folder = join(s.dir, studyUid);
	mkdirSync(folder, { recursive: true });
	const paths = files.map((f, i) => {
		const path = join(folder, `${seriesUid}.${i + 1}.dcm`);
		writeFileSync(path, f);
		return { path, size: f.byteLength };
	});
	return insertStudyRows(sql, { ...s, studyUid, seriesUid, files: paths });
}

/**
 * The rows the DICOM role leaves for a received study whose files already lie
 * on disk (`files`, in instance order). Returns the study id.
 */
export async function insertStudyRows(
	sql: SqlLike,
	s: Omit<PhantomStudySeed, 'dir' | 'seed' | 'positive' | 'junkFiles'> & { studyUid: string; seriesUid: string; files: { path: string; size: number }[] }
): Promise<number> {
	const ct = s.kind === 'head-ct';
	const { files, studyUid, seriesUid } = s;
	const now = Date.now();
	const last = new Date(now - (s.lastImageMsAgo ?? 2_000));
	const status = s.status ?? 'complete';
	const modality = s.modality ?? (ct ? 'CT' : 'DX');
	const [st] = await sql`INSERT INTO studies (study_instance_uid, accession_number, site_id, modality, description, exam_name, body_region,
			subspecialty, priority, patient_class, status, first_image_at, last_image_at, complete_at, sla_deadline, instance_count, series_count)
		VALUES (${studyUid}, ${s.accession}, ${s.site ?? 'main'}, ${modality}, ${s.description ?? (ct ? 'CT HEAD WO CONTRAST' : 'XR CHEST 1 VIEW')},
			${ct ? 'CT head without contrast' : 'XR chest 1 view'}, ${ct ? 'head' : 'chest'}, ${ct ? 'neuro' : 'chest'}, ${s.priority ?? 'routine'}, 'E',
			${status}, ${new Date(last.getTime() - 5_000)}, ${last}, ${status === 'arriving' ? null : last}, ${new Date(now + 6 * 3_600_000)},
			${files.length}, 1)
		RETURNING id`;
	const [se] = await sql`INSERT INTO series (study_id, series_instance_uid, modality, description, body_part, series_number, instance_count)
		VALUES (${st.id}, ${seriesUid}, ${modality}, ${ct ? 'AXIAL 5MM BRAIN' : 'PA'}, ${ct ? 'HEAD' : 'CHEST'}, 1, ${files.length}) RETURNING id`;
	const rows = files.map((f, i) => ({
		sop: `${seriesUid}.${i + 1}`,
		path: f.path,
		size: f.size
	}));
	await sql`INSERT INTO instances (sop_instance_uid, series_id, study_id, sop_class_uid, transfer_syntax_uid, blob_path, size_bytes, received_at)
		SELECT sop, ${se.id}, ${st.id}, ${ct ? '1.2.840.10008.5.1.4.1.1.2' : '1.2.840.10008.5.1.4.1.1.1.1'}, ${s.transferSyntaxUid ?? TransferSyntax.explicitLittle}, path, size, ${last}
		FROM json_to_recordset(${JSON.stringify(rows)}::text::json) AS x(sop text, path text, size bigint)`;
	return st.id as number;
}
