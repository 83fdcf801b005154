/**
 * Simulated radiologists. They poll the studies assigned to them, "read" for
 * expected_read_minutes × their pace (in simulated time), and send the final
 * report as ORU^R01 over MLLP, which closes the turnaround clock through the
 * real HL7 path.
 *
 * Fallback while no router assigns studies: with `selfAssign`, unassigned
 * complete studies are picked up by an eligible on-shift reader after a
 * priority-dependent queue wait. The database is only read here, never written.
 */
import { createRng, seedFrom } from '../../src/lib/domain/simulation/random';
import type { Sql } from '../../src/lib/server/db/client';
import type { Logger } from '../../src/lib/server/log';
import { buildOru, type ReportSubject } from './hl7';
import { eligibleReaders, type SimNetwork, type SimRadiologist } from './network';
import type { StudyPlan } from './plan';
import type { RosterIds } from './roster';

const MIN = 60_000;

/** Simulated time running `speed` times faster than the wall clock from a start instant. */
export class SimClock {
	private readonly realStart: number;
	constructor(
		readonly simStart: number,
		readonly speed: number,
		private readonly realNow: () => number = Date.now
	) {
		this.realStart = realNow();
	}
	now(): number {
		return this.simStart + (this.realNow() - this.realStart) * this.speed;
	}
	/** Real milliseconds until simulated instant `simMs`. */
	realDelay(simMs: number): number {
		return Math.max(0, (simMs - this.now()) / this.speed);
	}
}

export interface ReaderOptions {
	sql: Sql;
	net: SimNetwork;
	ids: RosterIds;
	clock: SimClock;
	/** Send one ORU; resolves when acknowledged. */
	send(message: string): Promise<unknown>;
	/** Ground truth of studies this process generated, by accession. */
	truth: Map<string, StudyPlan>;
	/** Read unassigned complete studies too (until routing assigns). */
	selfAssign: boolean;
	/** Timestamp written into the report for a report finished at simulated `simMs`. */
	stamp(simMs: number): number;
	log: Logger;
	pollMs?: number;
}

export interface ReaderStats {
	/** Reads started for studies a router assigned. */
	assignedReads: number;
	/** Reads started by the self-assign fallback. */
	selfAssignedReads: number;
	reportsSent: number;
	reportsFailed: number;
	inProgress: number;
}

interface Row {
	id: number;
	accession_number: string;
	assigned_to: number | null;
	expected_read_minutes: string | number | null;
	exam_code: string | null;
	description: string | null;
	exam_name: string | null;
	modality: string | null;
	site_id: string | null;
	subspecialty: string | null;
	priority: string;
	ordered_at: Date | null;
	complete_at: Date | null;
	mrn: string | null;
}

interface Read {
	accession: string;
	due: number;
	reader: SimRadiologist;
	subject: ReportSubject;
}

/** Queue wait before a self-assigned read starts, by priority (simulated minutes). */
function queueWaitMinutes(priority: string, accession: string): number {
	const rng = createRng(seedFrom(`wait|${accession}`));
	const median = priority === 'stat' ? 8 : priority === 'asap' ? 35 : 150;
	return median * Math.exp(rng.normal(0, 0.5));
}

export class SimulatedReaders {
	readonly stats: ReaderStats = { assignedReads: 0, selfAssignedReads: 0, reportsSent: 0, reportsFailed: 0, inProgress: 0 };
	private readonly reads = new Map<string, Read>();
	private readonly finished = new Set<string>();
	private readonly sending = new Set<Promise<unknown>>();
	private timer: NodeJS.Timeout | null = null;
	private polling: Promise<void> | null = null;
	private readonly byDbId = new Map<number, SimRadiologist>();

	constructor(private readonly o: ReaderOptions) {
		for (const r of o.net.radiologists) {
			const id = o.ids.get(r.key);
			if (id !== undefined) this.byDbId.set(id, r);
		}
	}

	/** Start polling. Idempotent. */
	start(): void {
		if (this.timer) return;
		this.timer = setInterval(() => {
			if (this.polling) return;
			this.polling = this.tick()
				.catch((err) => this.o.log.warn('readers.poll_failed', { err }))
				.finally(() => (this.polling = null));
		}, this.o.pollMs ?? 1000);
	}

	/** Stop polling and wait for reports in flight. Idempotent. */
	async stop(): Promise<void> {
		if (this.timer) clearInterval(this.timer);
		this.timer = null;
		await this.polling;
		await Promise.allSettled([...this.sending]);
	}

	/** One poll: pick up new work, send what is due. Exposed for tests. */
	async tick(): Promise<void> {
		const now = this.o.clock.now();
		await this.pickUp(now);
		for (const read of [...this.reads.values()]) {
			if (read.due > now) continue;
			this.reads.delete(read.accession);
			this.finished.add(read.accession);
			const p = this.o
				.send(buildOru(read.subject, read.reader, this.o.stamp(read.due)))
				.then(() => void this.stats.reportsSent++)
				.catch((err) => {
					this.stats.reportsFailed++;
					this.o.log.warn('readers.report_failed', { accession: read.accession, err });
				})
				.finally(() => this.sending.delete(p));
			this.sending.add(p);
		}
		this.stats.inProgress = this.reads.size;
	}

	private subject(row: Row): ReportSubject | null {
		const known = this.o.truth.get(row.accession_number);
		// Times as the database recorded them (wall clock when the simulation stamps real time).
		if (known) return { ...known, orderedAt: row.ordered_at?.getTime() ?? known.orderedAt, completeAt: row.complete_at?.getTime() ?? known.completeAt };
		const site = this.o.net.sites.find((s) => s.id === row.site_id);
		if (!site || !row.mrn) return null;
		return {
			site,
			accession: row.accession_number,
			placerOrder: `P${row.accession_number}`,
			mrn: row.mrn,
			visitNumber: '',
			orderedAt: row.ordered_at?.getTime() ?? row.complete_at?.getTime() ?? Date.now(),
			completeAt: row.complete_at?.getTime() ?? Date.now(),
			critical: null,
			exam: { code: row.exam_code ?? '', description: row.description ?? row.exam_name ?? '', modality: row.modality ?? '', examName: row.exam_name ?? row.description ?? 'study' }
		};
	}

	private async pickUp(now: number): Promise<void> {
		const ids = [...this.byDbId.keys()];
		const sites = this.o.net.sites.map((s) => s.id);
		const rows = await this.o.sql.unsafe<Row[]>(
			`SELECT s.id, s.accession_number, s.assigned_to, s.expected_read_minutes, s.exam_code, s.description, s.exam_name,
				s.modality, s.site_id, s.subspecialty, s.priority, s.ordered_at, s.complete_at, p.mrn
			 FROM studies s LEFT JOIN patients p ON p.id = s.patient_id
			 WHERE s.accession_number IS NOT NULL AND s.site_id = ANY($2::text[]) AND (
				(s.status IN ('assigned', 'opened') AND s.assigned_to = ANY($1::bigint[]))
				OR ($3::boolean AND s.status IN ('complete', 'triaged') AND s.assigned_to IS NULL AND NOT s.held))
			 ORDER BY s.complete_at NULLS LAST
			 LIMIT 2000`,
			[ids, sites, this.o.selfAssign] as never[]
		);
		const load = new Map<string, number>();
		for (const r of this.reads.values()) load.set(r.reader.key, (load.get(r.reader.key) ?? 0) + 1);
		for (const row of rows) {
			const acc = row.accession_number;
			if (this.reads.has(acc) || this.finished.has(acc)) continue;
			const subject = this.subject(row);
			if (!subject) continue;
			const minutes = Number(row.expected_read_minutes ?? 10) || 10;
			let reader = row.assigned_to !== null ? this.byDbId.get(row.assigned_to) : undefined;
			let start = now;
			if (reader) {
				this.stats.assignedReads++;
			} else {
				const onShift = eligibleReaders(this.o.net, row.subspecialty ?? 'general', row.site_id ?? '', now);
				const pool = onShift.length > 0 ? onShift : eligibleReaders(this.o.net, row.subspecialty ?? 'general', row.site_id ?? '', now, true);
				if (pool.length === 0) continue;
				reader = pool.reduce((best, r) => ((load.get(r.key) ?? 0) < (load.get(best.key) ?? 0) ? r : best));
				// The wait counts from pick-up (≈ completion: the poll runs every second) in simulated time,
				// because stored timestamps may be wall-clock while the simulation runs faster.
				start = now + queueWaitMinutes(row.priority, acc) * MIN;
				this.stats.selfAssignedReads++;
			}
			load.set(reader.key, (load.get(reader.key) ?? 0) + 1);
			this.reads.set(acc, { accession: acc, due: start + minutes * reader.pace * MIN, reader, subject });
		}
	}
}
