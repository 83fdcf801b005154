/**
 * The worklist board: the open queue as the router sees it, per reader, with
 * SLA risk and a reason on every card.
 */
import { decide } from '../../domain/routing/decide';
import { RoutingSnapshot } from '../../domain/routing/eligibility';
import { queueCapRvu } from '../../domain/routing/policy';
import { currentShift } from '../../domain/routing/roster';
import { itemPriority } from '../../domain/routing/scoring';
import { estimateSlaRisk, RiskLevel } from '../../domain/routing/sla';
import { StudyStatus } from '../../domain/study/model';
import type { SqlLike } from '../db/client';
import { currentPolicy } from './policy-store';
import { loadRoutingState, type Board, type BoardCard, type BoardReader } from './queries';

/** Load the board at `now`. Readers shown: on shift now, or holding work. */
export async function loadBoard(sql: SqlLike, now: number): Promise<Board> {
	const stored = await currentPolicy(sql);
	const policy = stored.policy;
	const { readers, rows, state } = await loadRoutingState(sql, now, policy);
	const [{ last }] = await sql`SELECT coalesce(max(id), 0)::int8 AS last FROM study_events`;
	const risks = estimateSlaRisk(state, now, policy);
	const snap = RoutingSnapshot.from(state);
	const names = new Map(readers.map((r) => [r.id, r.name]));

	const cards = rows.map((row) => {
		const item = row.item;
		const risk = risks.get(item.studyId);
		let explanation = row.assignmentExplanation ?? '';
		if (!item.assignedTo) {
			if (item.held) explanation = 'on hold: not routed until the hold is released';
			else {
				const d = decide(snap, item, now, policy);
				const pending = row.status === StudyStatus.complete ? 'awaiting AI triage; ' : '';
				explanation = d.readerId ? `${pending}next for ${names.get(d.readerId) ?? d.readerId}: ${d.explanation}` : `${pending}${d.explanation}`;
			}
		}
		const card: BoardCard = {
			id: row.id,
			version: row.version,
			accession: item.accession,
			examName: row.examName,
			modality: item.modality,
			subspecialty: item.subspecialty,
			site: item.site,
			siteName: row.siteName,
			priority: item.priority,
			patientClass: item.patientClass,
			critical: item.critical,
			held: item.held === true,
			status: row.status,
			rvu: item.rvu,
			arrivedAt: item.arrivedAt,
			deadline: item.deadline,
			risk: risk?.riskLevel ?? RiskLevel.ok,
			riskProbability: risk?.probability ?? 0,
			riskReason: risk?.reason ?? '',
			explanation,
			assignedTo: item.assignedTo ? Number(item.assignedTo) : null,
			assignedBy: row.assignedBy,
			opened: item.openedAt != null
		};
		return { card, score: itemPriority(item, now, policy).total };
	});
	cards.sort((a, b) => Number(b.card.opened) - Number(a.card.opened) || b.score - a.score || a.card.arrivedAt - b.card.arrivedAt);

	const byReader = new Map<number, BoardCard[]>();
	const pool: BoardCard[] = [];
	for (const { card } of cards) {
		if (card.assignedTo === null) pool.push(card);
		else (byReader.get(card.assignedTo) ?? byReader.set(card.assignedTo, []).get(card.assignedTo)!).push(card);
	}
	const boardReaders: BoardReader[] = [];
	readers.forEach((r, i) => {
		const shift = currentShift(r, now);
		const mine = byReader.get(r.dbId) ?? [];
		if (!shift && mine.length === 0) return;
		boardReaders.push({
			id: r.dbId,
			name: r.name,
			subspecialties: [...r.subspecialties],
			sites: [...r.siteCredentials],
			status: r.status,
			onShift: shift !== null,
			shiftEndsAt: shift?.end ?? null,
			queuedRvu: Math.round(snap.queuedRvu[i] * 100) / 100,
			capRvu: queueCapRvu(r, policy),
			cards: mine
		});
	});
	return { now, policyVersion: stored.version, pool, readers: boardReaders, lastEventId: Number(last) };
}
