/**
 * The policy editor's form contract, shared by the page and its actions: which
 * field each validation message belongs to, and how the replay window is read.
 */
/** The server refuses longer windows (MAX_REPLAY_DAYS in replay-data.ts); the form says so first. */
export const MAX_REPLAY_DAYS_UI = 35;

/** Fields the editor shows errors next to; `_` collects anything else. */
export const SCALAR_FIELDS = [
	'version',
	'waitCapMinutes',
	'agingLeadMinutes',
	'maxQueuedRvuDefault',
	'generalFallback',
	'criticalBypassesCap',
	'urgencyScaleMinutes',
	'rebalanceHysteresis',
	'riskWatchFraction',
	'modalitySlaOverrides'
] as const;

/**
 * The field a `validatePolicy` message is about: `weights.urgency`,
 * `sla.stat.E`, `waitCapMinutes`, …, or `_` when none fits.
 */
export function fieldOf(message: string): string {
	let m = /^weights\.(\w+)/.exec(message);
	if (m) return `weights.${m[1]}`;
	if (/^(at least one weight|weights must)/.test(message)) return 'weights';
	m = /^SLA target for (\w+)\/(\w)/.exec(message);
	if (m) return `sla.${m[1]}.${m[2]}`;
	if (/^slaTargetsMinutes/.test(message)) return 'sla';
	if (/^(modalitySlaOverrides|SLA override)/.test(message)) return 'modalitySlaOverrides';
	m = /^(\w+)/.exec(message);
	if (m && (SCALAR_FIELDS as readonly string[]).includes(m[1])) return m[1];
	return '_';
}

/** Messages grouped by field, in their original order. */
export function errorsByField(messages: readonly string[]): Record<string, string[]> {
	const out: Record<string, string[]> = {};
	for (const msg of messages) (out[fieldOf(msg)] ??= []).push(msg);
	return out;
}

/** Days to replay from a form value: a whole number in 1..35, else an error message. */
export function parseDays(raw: unknown): { days: number } | { error: string } {
	const n = Number(raw);
	if (!Number.isInteger(n) || n < 1 || n > MAX_REPLAY_DAYS_UI) return { error: `Replay between 1 and ${MAX_REPLAY_DAYS_UI} days.` };
	return { days: n };
}
