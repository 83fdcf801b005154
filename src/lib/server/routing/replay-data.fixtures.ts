/**
 * Recorded history for replay and SLA tests (and the policy e2e test): two
 * sites, four readers with shifts and pace, and a seeded stream of studies
 * with complete / opened / reported times, written as ingest would leave them.
 */
import { Prng } from '../../domain/routing/prng';
import type { Sql } from '../db/client';

const MIN = 60_000;
const HOUR = 60 * MIN;

export interface SeededStudy {
	id: number;
	site: string;
	subspecialty: string;
	priority: 'stat' | 'asap' | 'routine';
	patientClass: 'E' | 'I' | 'O';
	completeAt: number;
	openedAt: number | null;
	reportedAt: number | null;
	status: string;
}

export interface SeededHistory {
	from: number;
	to: number;
	readers: Record<string, number>;
	/** Every inserted study, including the ones outside the window and cancelled. */
	studies: SeededStudy[];
	/** Studies the window [from, to) should contain. */
	inWindow: SeededStudy[];
}

const READERS = [
	{ key: 'ada', name: 'Ada Neuro', subs: ['neuro'], sites: ['north', 'south'], pace: 0.9, day: true },
	{ key: 'ben', name: 'Ben Body', subs: ['body', 'chest'], sites: ['north'], pace: 1.1, day: true },
	{ key: 'cy', name: 'Cy General', subs: ['general'], sites: ['north', 'south'], pace: 1.0, day: true },
	{ key: 'dee', name: 'Dee Nights', subs: ['neuro', 'general'], sites: ['south', 'north'], pace: 1.2, day: false }
] as const;

const EXAMS = [
	{ modality: 'CT', sub: 'neuro', rvu: 1.5, minutes: 12 },
	{ modality: 'MR', sub: 'neuro', rvu: 2.2, minutes: 20 },
	{ modality: 'CT', sub: 'body', rvu: 1.7, minutes: 14 },
	{ modality: 'CR', sub: 'chest', rvu: 0.3, minutes: 4 },
	{ modality: 'DX', sub: 'msk', rvu: 0.3, minutes: 4 }
] as const;

/**
 * Seed `days` of history starting at `from` (a UTC midnight works best).
 * Recorded waits are drawn at random; readers' recorded reads take
 * expected minutes × pace. The last few hours stay partly unreported.
 */
export async function seedReplayHistory(sql: Sql, opts: { from: number; days?: number; seed?: number; perHour?: number }): Promise<SeededHistory> {
	const days = opts.days ?? 2;
	const from = opts.from;
	const to = from + days * 24 * HOUR;
	const rng = new Prng(opts.seed ?? 42);
	const perHour = opts.perHour ?? 6;

	return sql.begin(async (tx) => {
		await tx`INSERT INTO sites (id, name) VALUES ('north', 'North General'), ('south', 'South Clinic') ON CONFLICT DO NOTHING`;
		const readers: Record<string, number> = {};
		for (const r of READERS) {
			const [row] = await tx`INSERT INTO radiologists (name, subspecialties, pace_factor) VALUES (${r.name}, ${r.subs as unknown as string[]}, ${r.pace}) RETURNING id`;
			readers[r.key] = Number(row.id);
			for (const s of r.sites) await tx`INSERT INTO radiologist_sites (radiologist_id, site_id) VALUES (${row.id}, ${s})`;
			for (let d = -1; d <= days; d++) {
				const dayStart = from + d * 24 * HOUR;
				const [start, end] = r.day ? [dayStart + 7 * HOUR, dayStart + 19 * HOUR] : [dayStart + 19 * HOUR, dayStart + 31 * HOUR];
				// Two back-to-back blocks, as a rota often records them; the loader merges them.
				const mid = start + 6 * HOUR;
				await tx`INSERT INTO shifts (radiologist_id, site_id, starts_at, ends_at) VALUES
					(${row.id}, ${r.sites[0]}, ${new Date(start)}, ${new Date(mid)}),
					(${row.id}, ${r.sites[0]}, ${new Date(mid)}, ${new Date(end)})`;
			}
		}
		const patients: number[] = [];
		for (let i = 0; i < 40; i++) {
			const [p] = await tx`INSERT INTO patients (mrn, issuer, patient_class) VALUES (${`MRN${i}`}, 'test', 'O') RETURNING id`;
			patients.push(Number(p.id));
		}

		const rows: Record<string, unknown>[] = [];
		const meta: Omit<SeededStudy, 'id'>[] = [];
		// One study before the window and one after it: the loader must leave them out.
		const times: number[] = [from - 30 * MIN];
		for (let t = from + rng.exponential(HOUR / perHour); t < to; t += rng.exponential(HOUR / perHour)) times.push(Math.round(t));
		times.push(to + 5 * MIN);
		times.forEach((completeAt, i) => {
			const exam = rng.pick(EXAMS);
			const stat = rng.next() < 0.2;
			const priority = stat ? 'stat' : rng.next() < 0.2 ? 'asap' : 'routine';
			const patientClass = stat ? 'E' : rng.pick(['I', 'O'] as const);
			const site = rng.pick(['north', 'south'] as const);
			const pace = rng.pick([0.9, 1.0, 1.1]);
			const waitMin = priority === 'stat' ? rng.int(2, 40) : rng.int(10, 400);
			const openedAt = completeAt + waitMin * MIN;
			const reportedAt = Math.round(openedAt + exam.minutes * pace * MIN);
			const cancelled = i % 37 === 5;
			const unreported = !cancelled && reportedAt > to - 3 * HOUR && rng.next() < 0.5;
			const status = cancelled ? 'cancelled' : unreported ? 'assigned' : 'reported';
			const m = {
				site,
				subspecialty: exam.sub,
				priority,
				patientClass,
				completeAt,
				openedAt: status === 'reported' ? openedAt : null,
				reportedAt: status === 'reported' ? reportedAt : null,
				status
			} as Omit<SeededStudy, 'id'>;
			meta.push(m);
			rows.push({
				accession_number: `H${opts.seed ?? 42}-${i}`,
				site_id: site,
				modality: exam.modality,
				subspecialty: exam.sub,
				rvu: exam.rvu,
				expected_read_minutes: exam.minutes,
				priority,
				patient_class: patientClass,
				status,
				critical_flag: rng.next() < 0.03 ? 'confirmed' : 'none',
				complete_at: new Date(completeAt).toISOString(),
				opened_at: m.openedAt === null ? null : new Date(m.openedAt).toISOString(),
				reported_at: m.reportedAt === null ? null : new Date(m.reportedAt).toISOString(),
				cancelled_at: cancelled ? new Date(completeAt + HOUR).toISOString() : null,
				patient_id: rng.pick(patients)
			});
		});
		const inserted = await tx.unsafe(
			`INSERT INTO studies (accession_number, site_id, modality, subspecialty, rvu, expected_read_minutes, priority, patient_class,
				status, critical_flag, complete_at, opened_at, reported_at, cancelled_at, patient_id)
			 SELECT accession_number, site_id, modality, subspecialty, rvu, expected_read_minutes, priority, patient_class,
				status, critical_flag, complete_at, opened_at, reported_at, cancelled_at, patient_id
			 FROM json_to_recordset($1::text::json) AS x(accession_number text, site_id text, modality text, subspecialty text,
				rvu numeric, expected_read_minutes numeric, priority text, patient_class text, status text, critical_flag text,
				complete_at timestamptz, opened_at timestamptz, reported_at timestamptz, cancelled_at timestamptz, patient_id bigint)
			 RETURNING id, accession_number`,
			[JSON.stringify(rows)]
		);
		const ids = new Map(inserted.map((r) => [r.accession_number as string, Number(r.id)]));
		const studies = meta.map((m, i) => ({ id: ids.get(rows[i].accession_number as string)!, ...m }));
		const inWindow = studies.filter((s) => s.completeAt >= from && s.completeAt < to && s.status !== 'cancelled');
		return { from, to, readers, studies, inWindow };
	}) as Promise<SeededHistory>;
}
