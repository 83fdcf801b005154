/**
 * The manager's SLA risk view: every unreported study that is breached, at
 * risk or worth watching, grouped by site × subspecialty, each with the
 * engine's reason. Risk comes from `estimateSlaRisk` over the open queue and
 * the roster, under the policy in force.
 */
import { estimateSlaRisk, riskRank, RiskLevel, type SlaRisk } from '../../domain/routing/sla';
import type { Priority, PatientClass } from '../../domain/study/model';
import type { CriticalFlag, QueueItem } from '../../domain/routing/types';
import type { SqlLike } from '../db/client';
import { currentPolicy } from './policy-store';
import { loadRoutingState } from './queries';


/** Levels the view lists; `ok` studies only count toward totals. */
export const LISTED_LEVELS: readonly RiskLevel[] = [RiskLevel.breached, RiskLevel.atRisk, RiskLevel.watch];

export interface RiskCounts {
	breached: number;
	at_risk: number;
	watch: number;
	ok: number;
	total: number;
}

export interface SlaGroup extends RiskCounts {
	site: string;
	subspecialty: string;
	/** Earliest deadline among its listed studies (epoch ms), null when none are listed. */
	nextDeadline: number | null;
}

export interface SlaStudyRow {
	studyId: string;
	accession: string;
	site: string;
	subspecialty: string;
	modality: string;
	priority: Priority;
	patientClass: PatientClass;
	critical: CriticalFlag;
	riskLevel: RiskLevel;
	probability: number;
	deadline: number;
	/** Negative once breached. */
	minutesToDeadline: number;
	expectedFinish: number | null;
	assignedTo: string | null;
	reason: string;
}

export interface SlaView {
	now: number;
	policyVersion: number;
	totals: RiskCounts;
	groups: SlaGroup[];
	/** Listed studies, most severe first, then earliest deadline. */
	studies: SlaStudyRow[];
	/** More listed studies exist than were returned. */
	truncated: boolean;
}

const emptyCounts = (): RiskCounts => ({ breached: 0, at_risk: 0, watch: 0, ok: 0, total: 0 });

/**
 * Group estimated risks. Pure: `items` and `risks` in, the view out.
 * Groups are ordered by breached, then at risk, then watch counts (descending).
 */
export function buildSlaView(
	items: readonly QueueItem[],
	risks: ReadonlyMap<string, SlaRisk>,
	readerNames: ReadonlyMap<string, string>,
	now: number,
	policyVersion: number,
	limit = 1000
): SlaView {
	const totals = emptyCounts();
	const groups = new Map<string, SlaGroup>();
	const rows: SlaStudyRow[] = [];
	for (const item of items) {
		const risk = risks.get(item.studyId);
		if (!risk) continue;
		const key = `${item.site}\u0000${item.subspecialty}`;
		let g = groups.get(key);
		if (!g) groups.set(key, (g = { site: item.site, subspecialty: item.subspecialty, ...emptyCounts(), nextDeadline: null }));
		g[risk.riskLevel]++;
		g.total++;
		totals[risk.riskLevel]++;
		totals.total++;
		if (!LISTED_LEVELS.includes(risk.riskLevel)) continue;
		g.nextDeadline = g.nextDeadline === null ? item.deadline : Math.min(g.nextDeadline, item.deadline);
		rows.push({
			studyId: item.studyId,
			accession: item.accession,
			site: item.site,
			subspecialty: item.subspecialty,
			modality: item.modality,
			priority: item.priority,
			patientClass: item.patientClass,
			critical: item.critical,
			riskLevel: risk.riskLevel,
			probability: risk.probability,
			deadline: item.deadline,
			minutesToDeadline: Math.round((item.deadline - now) / 6_000) / 10,
			expectedFinish: Number.isFinite(risk.expectedFinishMs) ? risk.expectedFinishMs : null,
			assignedTo: item.assignedTo ? (readerNames.get(item.assignedTo) ?? item.assignedTo) : null,
			reason: risk.reason
		});
	}
	rows.sort(
		(a, b) =>
			riskRank(b.riskLevel) - riskRank(a.riskLevel) ||
			a.deadline - b.deadline ||
			(a.studyId < b.studyId ? -1 : a.studyId > b.studyId ? 1 : 0)
	);
	const groupList = [...groups.values()]
		.filter((g) => g.breached + g.at_risk + g.watch > 0)
		.sort(
			(a, b) =>
				b.breached - a.breached ||
				b.at_risk - a.at_risk ||
				b.watch - a.watch ||
				a.site.localeCompare(b.site) ||
				a.subspecialty.localeCompare(b.subspecialty)
		);
	return { now, policyVersion, totals, groups: groupList, studies: rows.slice(0, limit), truncated: rows.length > limit };
}

/** Load the open queue and the roster around `now` and estimate SLA risk under the policy in force. */
export async function loadSlaView(sql: SqlLike, now: number, options: { limit?: number } = {}): Promise<SlaView> {
	const stored = await currentPolicy(sql);
	// The same roster and queue the router works from, so the page and the router agree.
	const { readers, state } = await loadRoutingState(sql, now, stored.policy);
	const items = state.items;
	const risks = estimateSlaRisk({ readers, items }, now, stored.policy);
	const names = new Map(readers.map((r) => [r.id, r.name]));
	return buildSlaView(items, risks, names, now, stored.version, options.limit);
}
