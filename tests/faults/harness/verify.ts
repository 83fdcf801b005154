/**
 * The comparison the fault tests end with: every acknowledgment a sender got
 * against the database and the blob store.
 *
 * - lost: acknowledged, but no row (or no AA message row), or the blob is
 *   missing, short, or not the bytes that were sent;
 * - duplicates: something applied twice: two image_received events for one
 *   SOP Instance UID, a study or series counter above its rows, two
 *   order_placed events for one order, two completions (or two triages) with
 *   no new image (completion) in between;
 * - corrupt: an instance row whose blob is missing or of another size (acked or not).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Sql } from '../../../src/lib/server/db/client';
import type { Ledger } from './senders';
import { datasetOf, sha256 } from './traffic';

export interface Figures {
	/** Objects + messages sent / acknowledged / stored (acknowledged and found intact) / lost. */
	sent: number;
	acked: number;
	stored: number;
	lost: number;
	duplicates: number;
	dicom: { sent: number; acked: number; stored: number; lost: number; duplicates: number; attempts: number; refusals: number; noAnswer: number };
	hl7: { sent: number; acked: number; stored: number; lost: number; duplicates: number; attempts: number; refusals: number; noAnswer: number };
	corrupt: number;
	/** Blob files under the store with no instance row (unacknowledged, or cut between file and commit). */
	orphanBlobs: number;
	/** Temp files left in the blob store's .tmp folder. */
	orphanTempFiles: number;
	/** What went wrong, one line each (first 20). */
	problems: string[];
}

/** The figures every scenario reports (the fault JSON line's shared fields). */
export function ledgerFigures(f: Figures) {
	return { sent: f.sent, acked: f.acked, stored: f.stored, lost: f.lost, duplicates: f.duplicates, dicom: f.dicom, hl7: f.hl7, corrupt: f.corrupt };
}

function walk(dir: string, out: string[] = []): string[] {
	if (!fs.existsSync(dir)) return out;
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) walk(p, out);
		else out.push(p);
	}
	return out;
}

export async function compareWithStore(sql: Sql, ledger: Ledger, blobRoot: string): Promise<Figures> {
	const problems: string[] = [];
	const note = (s: string) => problems.length < 20 && problems.push(s);
	const c = ledger.counts();

	// DICOM: every acknowledged instance has its row, its study, and its exact bytes.
	const rows = new Map(
		(
			await sql<{ sop: string; studyUid: string; blobPath: string; size: number }[]>`
				SELECT i.sop_instance_uid AS sop, s.study_instance_uid AS "studyUid", i.blob_path AS "blobPath", i.size_bytes AS size
				FROM instances i JOIN studies s ON s.id = i.study_id`
		).map((r) => [r.sop, r])
	);
	let dicomStored = 0;
	let dicomLost = 0;
	for (const [sop, e] of ledger.dicom) {
		if (e.acks === 0) continue;
		const row = rows.get(sop);
		let why: string | null = null;
		if (!row) why = 'no instance row';
		else if (row.studyUid !== e.study.studyInstanceUid) why = `filed under study ${row.studyUid}`;
		else if (!fs.existsSync(row.blobPath)) why = 'blob missing';
		else {
			const bytes = fs.readFileSync(row.blobPath);
			if (bytes.length !== row.size) why = `blob is ${bytes.length} bytes, row says ${row.size}`;
			else if (sha256(datasetOf(bytes)) !== e.instance.datasetSha256) why = 'blob bytes differ from what was sent';
		}
		if (why) {
			dicomLost++;
			note(`lost dicom ${sop} (${e.study.accession}): ${why}`);
		} else dicomStored++;
	}

	let corrupt = 0;
	for (const row of rows.values()) {
		const st = fs.existsSync(row.blobPath) ? fs.statSync(row.blobPath) : null;
		if (!st || st.size !== row.size) {
			corrupt++;
			note(`corrupt: instance ${row.sop} blob ${st ? `${st.size} bytes, row ${row.size}` : 'missing'}`);
		}
	}
	const known = new Set([...rows.values()].map((r) => path.resolve(r.blobPath)));
	const files = walk(blobRoot);
	const orphanTempFiles = files.filter((f) => f.includes(`${path.sep}.tmp${path.sep}`)).length;
	const orphanBlobs = files.filter((f) => f.endsWith('.dcm') && !known.has(path.resolve(f))).length;

	// Applied twice: events keyed by SOP Instance UID, counters above their rows.
	const [ev] = await sql<{ n: number }[]>`
		SELECT coalesce(sum(n - 1), 0)::int AS n FROM (
			SELECT count(*) AS n FROM study_events WHERE kind = 'image_received' GROUP BY idempotency_key HAVING count(*) > 1) d`;
	const [studyCounters] = await sql<{ n: number }[]>`
		SELECT coalesce(sum(greatest(s.instance_count - coalesce(i.n, 0), 0)), 0)::int AS n
		FROM studies s LEFT JOIN (SELECT study_id, count(*) AS n FROM instances GROUP BY study_id) i ON i.study_id = s.id`;
	const [seriesCounters] = await sql<{ n: number }[]>`
		SELECT coalesce(sum(greatest(se.instance_count - coalesce(i.n, 0), 0)), 0)::int AS n
		FROM series se LEFT JOIN (SELECT series_id, count(*) AS n FROM instances GROUP BY series_id) i ON i.series_id = se.id`;
	const [imageEvents] = await sql<{ n: number }[]>`
		SELECT coalesce(sum(greatest(e.n - coalesce(i.n, 0), 0)), 0)::int AS n
		FROM (SELECT study_id, count(*) AS n FROM study_events WHERE kind = 'image_received' GROUP BY study_id) e
		LEFT JOIN (SELECT study_id, count(*) AS n FROM instances GROUP BY study_id) i ON i.study_id = e.study_id`;
	const dicomDuplicates = ev.n + studyCounters.n + seriesCounters.n + imageEvents.n;
	if (ev.n) note(`${ev.n} image_received events repeat an idempotency key`);
	if (studyCounters.n) note(`study instance counters exceed their rows by ${studyCounters.n}`);
	if (seriesCounters.n) note(`series instance counters exceed their rows by ${seriesCounters.n}`);
	if (imageEvents.n) note(`${imageEvents.n} image_received events more than instance rows`);

	// HL7: every acknowledged message is on file as accepted (AA, or CA in enhanced mode and applied since), its order exists.
	const messages = new Map(
		(await sql<{ controlId: string; ackCode: string; pending: boolean; n: number }[]>`
			SELECT control_id AS "controlId", min(ack_code) AS "ackCode", bool_or(pending) AS pending, count(*)::int AS n FROM hl7_messages GROUP BY control_id`).map((r) => [r.controlId, r])
	);
	const orders = new Set((await sql<{ a: string }[]>`SELECT accession_number AS a FROM orders`).map((r) => r.a));
	let hl7Stored = 0;
	let hl7Lost = 0;
	let hl7Duplicates = 0;
	for (const [id, e] of ledger.hl7) {
		const m = messages.get(id);
		if (m && m.n > 1) hl7Duplicates += m.n - 1;
		if (e.acks === 0) continue;
		let why: string | null = null;
		if (!m) why = 'no hl7_messages row';
		else if (m.ackCode !== 'AA' && m.ackCode !== 'CA') why = `on file as ${m.ackCode}`;
		else if (m.pending) why = 'accepted (CA) but never applied';
		else if (e.message.kind === 'ORM' && !orders.has(e.study.accession)) why = 'order missing';
		if (why) {
			hl7Lost++;
			note(`lost hl7 ${id}: ${why}`);
		} else hl7Stored++;
	}
	const [placed] = await sql<{ n: number }[]>`
		SELECT coalesce(sum(n - 1), 0)::int AS n FROM (
			SELECT count(*) AS n FROM study_events WHERE kind = 'order_placed' GROUP BY study_id HAVING count(*) > 1) d`;
	if (placed.n) note(`${placed.n} extra order_placed events`);
	hl7Duplicates += placed.n;

	// Lifecycle applied twice: complete…complete with no image between, triaged…triaged with no completion between.
	const seq = await sql<{ studyId: number; kinds: string[] }[]>`
		SELECT study_id AS "studyId", array_agg(kind ORDER BY id) AS kinds FROM study_events
		WHERE study_id IS NOT NULL AND kind IN ('image_received', 'complete', 'triaged') GROUP BY study_id`;
	let lifecycleDuplicates = 0;
	for (const { studyId, kinds } of seq) {
		let lastComplete = false;
		let lastTriaged = false;
		for (const k of kinds) {
			if (k === 'image_received') lastComplete = lastTriaged = false;
			else if (k === 'complete') {
				if (lastComplete) {
					lifecycleDuplicates++;
					note(`study ${studyId} completed twice with no image between`);
				}
				lastComplete = true;
				lastTriaged = false;
			} else if (k === 'triaged') {
				if (lastTriaged) {
					lifecycleDuplicates++;
					note(`study ${studyId} triaged twice for one completion`);
				}
				lastTriaged = true;
			}
		}
	}

	const dicomDup = dicomDuplicates + lifecycleDuplicates;
	return {
		sent: c.dicom.sent + c.hl7.sent,
		acked: c.dicom.acked + c.hl7.acked,
		stored: dicomStored + hl7Stored,
		lost: dicomLost + hl7Lost,
		duplicates: dicomDup + hl7Duplicates,
		dicom: { ...c.dicom, stored: dicomStored, lost: dicomLost, duplicates: dicomDup },
		hl7: { ...c.hl7, stored: hl7Stored, lost: hl7Lost, duplicates: hl7Duplicates },
		corrupt,
		orphanBlobs,
		orphanTempFiles,
		problems
	};
}

/**
 * Studies that did not reach their final state: every study with images must
 * be triaged (complete, then triaged, with one AI result per model that ran).
 */
export async function studiesNotFinal(sql: Sql, accessions: string[]): Promise<string[]> {
	const rows = await sql<{ accession: string; status: string; instances: number; results: number; models: number }[]>`
		SELECT s.accession_number AS accession, s.status, s.instance_count AS instances,
			(SELECT count(*)::int FROM ai_results r WHERE r.study_id = s.id) AS results,
			coalesce((SELECT jsonb_array_length(e.payload->'models') FROM study_events e
				WHERE e.study_id = s.id AND e.kind = 'triaged' ORDER BY e.id DESC LIMIT 1), -1) AS models
		FROM studies s WHERE s.accession_number = ANY(${accessions})`;
	const bad: string[] = [];
	const seen = new Set(rows.map((r) => r.accession));
	for (const a of accessions) if (!seen.has(a)) bad.push(`${a}: no study`);
	for (const r of rows) {
		if (r.instances === 0) bad.push(`${r.accession}: no images filed (${r.status})`);
		else if (r.status !== 'triaged') bad.push(`${r.accession}: ${r.status}`);
		else if (r.results !== r.models) bad.push(`${r.accession}: ${r.results} AI results for ${r.models} models in the triaged event`);
	}
	return bad;
}
