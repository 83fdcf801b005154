/** Display formatting shared by the ingest and interface pages. */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** 1536 → "1.5 KB" (binary multiples, the way disks and networks are usually read). */
export function formatBytes(n: number): string {
	if (!Number.isFinite(n) || n <= 0) return '0 B';
	const i = Math.min(UNITS.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
	const v = n / 1024 ** i;
	return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${UNITS[i]}`;
}

/** A rate with sensible precision: 0, 0.03, 1.2, 45. */
export function formatRate(n: number): string {
	if (!Number.isFinite(n) || n === 0) return '0';
	if (n < 0.1) return n.toFixed(3);
	if (n < 10) return n.toFixed(2);
	return n.toFixed(0);
}

/** "42 s", "3 min", "2 h 5 min" since `from`, measured at `now`. */
export function formatAge(from: Date | string | null, now: Date): string {
	if (!from) return '—';
	const s = Math.max(0, Math.round((now.getTime() - new Date(from).getTime()) / 1000));
	if (s < 90) return `${s} s`;
	const m = Math.round(s / 60);
	if (m < 90) return `${m} min`;
	return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatTime(t: Date | string | null): string {
	return t ? new Date(t).toLocaleTimeString() : '—';
}

export function formatDateTime(t: Date | string | null): string {
	return t ? new Date(t).toLocaleString() : '—';
}
