/**
 * Bulk history: days of simulated studies written straight into the database,
 * one transaction per day, with the rows the live path would have produced.
 * The lifecycle is replayed through the pure state machine (applyStudyEvent),
 * the events go through the event store (insertEvents) with the same payload
 * rules as applyStudyCommand (status after the event, tat_minutes on
 * 'reported'), so the hourly rollups read exactly as they would live.
 *
 * Idempotent: studies and orders are keyed by accession number; a study that
 * already exists is skipped with its events, and every event carries a key.
 */
import { applyStudyEvent, emptyStudyState, StudyEventKind, type StudyEvent } from '../../src/lib/domain/study/lifecycle';
import type { StudyState } from '../../src/lib/domain/study/model';
import type { Sql, SqlLike } from '../../src/lib/server/db/client';
import { insertEvents, type NewEvent } from '../../src/lib/server/events/store';
import type { SimNetwork } from './network';
import { HOUR, readerFor, studiesForHour, type StudyPlan } from './plan';
import type { RosterIds } from './roster';

const MIN = 60_000;

export interface BackfillOptions {
	seed: string | number;
	fromMs: number;
	/** Exclusive end; events after it are left for the live path (open worklist). */
	toMs: number;
	ids: RosterIds;
	/** Hours per transaction. Default 24. */
	batchHours?: number;
	onProgress?: (p: BackfillProgress) => void;
	signal?: AbortSignal;
}

export interface BackfillProgress {
	hoursDone: number;
	hoursTotal: number;
	studies: number;
	skipped: number;
	events: number;
	elapsedMs: number;
}

export interface BackfillResult extends BackfillProgress {
	orders: number;
}

/** Turnaround as transition.ts computes it: complete (or first image) → report, minutes, one decimal. */
function turnaroundMinutes(s: StudyState): number | null {
	const start = s.completeAt ?? s.firstImageAt;
	if (!start || !s.reportedAt) return null;
	return Math.round(((Date.parse(s.reportedAt) - Date.parse(start)) / 60000) * 10) / 10;
}

interface Replayed {
	plan: StudyPlan;
	state: StudyState;
	events: (Omit<NewEvent, 'studyId'> & { kind: string })[];
	readerId: number | null;
	readerName: string | null;
	assignedAt: number | null;
	version: number;
}

/** Replay one plan's lifecycle up to `untilMs` through the pure state machine. */
export function replayStudy(net: SimNetwork, plan: StudyPlan, ids: RosterIds, untilMs: number): Replayed {
	const { radiologist } = readerFor(net, plan, plan.completeAt);
	const readMin = plan.exam.expectedReadMinutes * radiologist.pace;
	const openedAt = Math.max(plan.completeAt + MIN, plan.reportedAt - Math.round(readMin * MIN));
	const assignedAt = Math.max(plan.completeAt + MIN / 2, openedAt - 2 * MIN);
	const reportedAt = Math.max(plan.reportedAt, openedAt + MIN);
	const iso = (ms: number) => new Date(ms).toISOString();
	const steps: [StudyEvent, string, Record<string, unknown>][] = [
		[{ kind: StudyEventKind.orderPlaced, at: iso(plan.orderedAt), priority: plan.priority }, 'hl7', { accession: plan.accession }],
		[{ kind: StudyEventKind.imageReceived, at: iso(plan.firstImageAt) }, 'dicom', { calling_ae: plan.callingAe }],
		[{ kind: StudyEventKind.complete, at: iso(plan.completeAt) }, 'dicom', { instances: plan.seriesPlan.reduce((a, s) => a + s.instances, 0) }],
		[{ kind: StudyEventKind.assigned, at: iso(assignedAt) }, 'simulator', { radiologist_id: ids.get(radiologist.key) ?? null, reason: 'simulated history' }],
		[{ kind: StudyEventKind.opened, at: iso(openedAt) }, `radiologist:${ids.get(radiologist.key) ?? radiologist.key}`, {}],
		[{ kind: StudyEventKind.reported, at: iso(reportedAt) }, 'hl7', { reader: radiologist.npi }]
	];
	let state = emptyStudyState(plan.priority);
	const events: Replayed['events'] = [];
	let assigned: number | null = null;
	for (const [event, actor, payload] of steps) {
		if (Date.parse(event.at) >= untilMs) break;
		const r = applyStudyEvent(state, event);
		if (!r.ok) break;
		state = r.state;
		if (event.kind === StudyEventKind.assigned) assigned = Date.parse(event.at);
		const tat = event.kind === StudyEventKind.reported ? turnaroundMinutes(state) : null;
		events.push({
			time: event.at,
			kind: event.kind,
			actor,
			siteId: plan.site.id,
			subspecialty: plan.exam.subspecialty,
			modality: plan.exam.modality,
			priority: state.priority,
			patientClass: plan.patientClass,
			payload: { ...payload, status: state.status, ...(r.note ? { note: r.note } : {}), ...(tat !== null ? { tat_minutes: tat } : {}) },
			idempotencyKey: `sim:${plan.accession}:${event.kind}`
		});
	}
	return {
		plan,
		state,
		events,
		readerId: assigned !== null ? (ids.get(radiologist.key) ?? null) : null,
		readerName: state.reportedAt ? radiologist.name : null,
		assignedAt: assigned,
		version: events.length
	};
}

async function writeBatch(tx: SqlLike, replayed: Replayed[]): Promise<{ studies: number; skipped: number; events: number; orders: number }> {
	if (replayed.length === 0) return { studies: 0, skipped: 0, events: 0, orders: 0 };
	// Patients: last registration in the batch wins (class and location move with the visit).
	const patients = new Map<string, { mrn: string; issuer: string; patient_class: string; location: string }>();
	for (const r of replayed) {
		patients.set(`${r.plan.site.facility}^${r.plan.mrn}`, { mrn: r.plan.mrn, issuer: r.plan.site.facility, patient_class: r.plan.patientClass, location: r.plan.location });
	}
	const pRows = await tx.unsafe<{ id: number; issuer: string; mrn: string }[]>(
		`INSERT INTO patients (mrn, issuer, patient_class, location)
		 SELECT mrn, issuer, patient_class, location FROM json_to_recordset($1::text::json) AS x(mrn text, issuer text, patient_class text, location text)
		 ON CONFLICT (issuer, mrn) DO UPDATE SET patient_class = EXCLUDED.patient_class, location = EXCLUDED.location, updated_at = now()
		 RETURNING id, issuer, mrn`,
		[JSON.stringify([...patients.values()])]
	);
	const patientId = new Map(pRows.map((p) => [`${p.issuer}^${p.mrn}`, p.id]));
	const orders = replayed.map((r) => ({
		accession_number: r.plan.accession,
		patient_id: patientId.get(`${r.plan.site.facility}^${r.plan.mrn}`),
		site_id: r.plan.site.id,
		placer_order_number: r.plan.placerOrder,
		filler_order_number: r.plan.accession,
		procedure_code: r.plan.exam.code,
		procedure_text: r.plan.exam.description,
		exam_code: r.plan.exam.code,
		modality: r.plan.exam.modality,
		priority: r.plan.priority,
		patient_class: r.plan.patientClass,
		ordering_location: r.plan.location.split('^')[0],
		expected_series: r.plan.seriesPlan.length,
		ordered_at: new Date(r.plan.orderedAt).toISOString()
	}));
	const oRows = await tx.unsafe<{ id: number; accession_number: string }[]>(
		`INSERT INTO orders (accession_number, patient_id, site_id, placer_order_number, filler_order_number, procedure_code,
			procedure_text, exam_code, modality, priority, patient_class, ordering_location, expected_series, ordered_at)
		 SELECT * FROM json_to_recordset($1::text::json) AS x(accession_number text, patient_id bigint, site_id text,
			placer_order_number text, filler_order_number text, procedure_code text, procedure_text text, exam_code text,
			modality text, priority text, patient_class text, ordering_location text, expected_series integer, ordered_at timestamptz)
		 ON CONFLICT (accession_number) DO NOTHING
		 RETURNING id, accession_number`,
		[JSON.stringify(orders)]
	);
	const orderId = new Map(oRows.map((o) => [o.accession_number, o.id]));
	const studies = replayed.map((r) => {
		const s = r.state;
		const p = r.plan;
		return {
			study_instance_uid: p.studyUid,
			accession_number: p.accession,
			order_id: orderId.get(p.accession) ?? null,
			patient_id: patientId.get(`${p.site.facility}^${p.mrn}`),
			site_id: p.site.id,
			description: p.exam.description,
			exam_code: p.exam.code,
			exam_name: p.exam.examName,
			modality: p.exam.modality,
			body_region: p.exam.bodyRegion,
			subspecialty: p.exam.subspecialty,
			rvu: p.exam.rvu,
			expected_read_minutes: p.exam.expectedReadMinutes,
			priority: s.priority,
			patient_class: p.patientClass,
			status: s.status,
			assigned_to: r.readerId,
			series_count: s.firstImageAt ? p.seriesPlan.length : 0,
			instance_count: s.firstImageAt ? p.seriesPlan.reduce((a, x) => a + x.instances, 0) : 0,
			ordered_at: s.orderedAt,
			first_image_at: s.firstImageAt,
			last_image_at: s.completeAt,
			complete_at: s.completeAt,
			assigned_at: s.assignedAt,
			opened_at: s.openedAt,
			reported_at: s.reportedAt,
			reported_by: r.readerName,
			version: r.version
		};
	});
	const sRows = await tx.unsafe<{ id: number; accession_number: string }[]>(
		`INSERT INTO studies (study_instance_uid, accession_number, order_id, patient_id, site_id, description, exam_code, exam_name,
			modality, body_region, subspecialty, rvu, expected_read_minutes, priority, patient_class, status, assigned_to,
			series_count, instance_count, ordered_at, first_image_at, last_image_at, complete_at, assigned_at, opened_at,
			reported_at, reported_by, version)
		 SELECT * FROM json_to_recordset($1::text::json) AS x(study_instance_uid text, accession_number text, order_id bigint,
			patient_id bigint, site_id text, description text, exam_code text, exam_name text, modality text, body_region text,
			subspecialty text, rvu numeric, expected_read_minutes numeric, priority text, patient_class text, status text,
			assigned_to bigint, series_count integer, instance_count integer, ordered_at timestamptz, first_image_at timestamptz,
			last_image_at timestamptz, complete_at timestamptz, assigned_at timestamptz, opened_at timestamptz,
			reported_at timestamptz, reported_by text, version integer)
		 ON CONFLICT DO NOTHING
		 RETURNING id, accession_number`,
		[JSON.stringify(studies)]
	);
	const studyId = new Map(sRows.map((s) => [s.accession_number, s.id]));
	const events: NewEvent[] = [];
	const assignments: Record<string, unknown>[] = [];
	for (const r of replayed) {
		const id = studyId.get(r.plan.accession);
		if (id === undefined) continue;
		for (const e of r.events) events.push({ ...e, studyId: id });
		if (r.readerId !== null && r.assignedAt !== null) {
			assignments.push({
				study_id: id,
				radiologist_id: r.readerId,
				assigned_at: new Date(r.assignedAt).toISOString(),
				released_at: r.state.reportedAt,
				actor: 'simulator',
				explanation: 'simulated history (backfill)'
			});
		}
	}
	if (assignments.length > 0) {
		await tx.unsafe(
			`INSERT INTO assignments (study_id, radiologist_id, assigned_at, released_at, actor, explanation)
			 SELECT * FROM json_to_recordset($1::text::json) AS x(study_id bigint, radiologist_id bigint, assigned_at timestamptz,
				released_at timestamptz, actor text, explanation text)`,
			[JSON.stringify(assignments)]
		);
	}
	let inserted = 0;
	for (let i = 0; i < events.length; i += 20_000) inserted += (await insertEvents(tx, events.slice(i, i + 20_000))).inserted.length;
	return { studies: sRows.length, skipped: replayed.length - sRows.length, events: inserted, orders: oRows.length };
}

/**
 * Write simulated history for [fromMs, toMs) (hour-aligned start). Each batch
 * of hours commits on its own, so an interrupted backfill resumes where it stopped.
 */
export async function backfill(sql: Sql, net: SimNetwork, options: BackfillOptions): Promise<BackfillResult> {
	const started = Date.now();
	const from = Math.floor(options.fromMs / HOUR) * HOUR;
	const hoursTotal = Math.ceil((options.toMs - from) / HOUR);
	const batch = options.batchHours ?? 24;
	const total: BackfillResult = { hoursDone: 0, hoursTotal, studies: 0, skipped: 0, events: 0, orders: 0, elapsedMs: 0 };
	for (let h = 0; h < hoursTotal; h += batch) {
		if (options.signal?.aborted) break;
		const replayed: Replayed[] = [];
		const end = Math.min(hoursTotal, h + batch);
		for (let k = h; k < end; k++) {
			for (const plan of studiesForHour(net, options.seed, from + k * HOUR)) {
				if (plan.orderedAt >= options.toMs) continue;
				replayed.push(replayStudy(net, plan, options.ids, options.toMs));
			}
		}
		const r = await sql.begin((tx) => writeBatch(tx, replayed));
		total.studies += r.studies;
		total.skipped += r.skipped;
		total.events += r.events;
		total.orders += r.orders;
		total.hoursDone = end;
		total.elapsedMs = Date.now() - started;
		options.onProgress?.({ ...total });
	}
	total.elapsedMs = Date.now() - started;
	return total;
}
