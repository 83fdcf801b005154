/**
 * Seed helpers for routing tests (service, API and browser tests): sites,
 * readers with shifts, and studies in a readable state.
 */
import type { SqlLike } from '../db/client';

const MINUTE = 60_000;

export async function seedSites(sql: SqlLike, ids: string[] = ['main', 'north']): Promise<void> {
	for (const id of ids) await sql`INSERT INTO sites (id, name) VALUES (${id}, ${id.toUpperCase() + ' Hospital'}) ON CONFLICT DO NOTHING`;
}

export interface ReaderSeed {
	name: string;
	subspecialties: string[];
	sites?: string[];
	status?: 'reading' | 'paused' | 'off';
	maxQueuedRvu?: number;
	/** Shift around `now`: minutes before and after (default 4 h either side); null for no shift. */
	shift?: { beforeMin: number; afterMin: number } | null;
}

export async function seedReader(sql: SqlLike, now: number, r: ReaderSeed): Promise<number> {
	const [row] = await sql`INSERT INTO radiologists (name, subspecialties, status, max_queued_rvu)
		VALUES (${r.name}, ${r.subspecialties}, ${r.status ?? 'reading'}, ${r.maxQueuedRvu ?? 40}) RETURNING id`;
	for (const s of r.sites ?? ['main']) await sql`INSERT INTO radiologist_sites (radiologist_id, site_id) VALUES (${row.id}, ${s})`;
	const shift = r.shift === undefined ? { beforeMin: 240, afterMin: 240 } : r.shift;
	if (shift) {
		await sql`INSERT INTO shifts (radiologist_id, starts_at, ends_at)
			VALUES (${row.id}, ${new Date(now - shift.beforeMin * MINUTE)}, ${new Date(now + shift.afterMin * MINUTE)})`;
	}
	return row.id as number;
}

export interface StudySeed {
	accession: string;
	status?: 'complete' | 'triaged';
	site?: string;
	modality?: string;
	subspecialty?: string;
	priority?: 'stat' | 'asap' | 'routine';
	patientClass?: 'E' | 'I' | 'O';
	rvu?: number;
	expectedReadMinutes?: number;
	critical?: 'none' | 'pending' | 'confirmed';
	held?: boolean;
	/** Minutes before `now` the study became complete. */
	completeMinAgo?: number;
	/** SLA deadline, minutes after `now` (null: leave empty for the router to fill). */
	deadlineInMin?: number | null;
	patientId?: number | null;
	examName?: string;
}

export async function seedStudy(sql: SqlLike, now: number, s: StudySeed): Promise<number> {
	const complete = new Date(now - (s.completeMinAgo ?? 5) * MINUTE);
	const status = s.status ?? 'triaged';
	const deadline = s.deadlineInMin === null ? null : new Date(now + (s.deadlineInMin ?? 120) * MINUTE);
	const [row] = await sql`INSERT INTO studies (accession_number, site_id, modality, subspecialty, priority, patient_class, rvu,
			expected_read_minutes, critical_flag, held, status, first_image_at, complete_at, triaged_at, sla_deadline, patient_id, exam_name)
		VALUES (${s.accession}, ${s.site ?? 'main'}, ${s.modality ?? 'CT'}, ${s.subspecialty ?? 'neuro'}, ${s.priority ?? 'routine'},
			${s.patientClass ?? 'E'}, ${s.rvu ?? 1}, ${s.expectedReadMinutes ?? 10}, ${s.critical ?? 'none'}, ${s.held ?? false}, ${status},
			${new Date(complete.getTime() - 5 * MINUTE)}, ${complete}, ${status === 'triaged' ? complete : null}, ${deadline},
			${s.patientId ?? null}, ${s.examName ?? `${s.modality ?? 'CT'} exam`})
		RETURNING id`;
	return row.id as number;
}
