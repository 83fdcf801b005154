/** What each fault scenario reports to the summary line (set on `task.meta.faults`). */
export interface FaultFigures {
	scenario: string;
	faults_injected: number;
	sent: number;
	acked: number;
	stored: number;
	lost: number;
	duplicates: number;
	[detail: string]: unknown;
}

declare module 'vitest' {
	interface TaskMeta {
		faults?: FaultFigures;
	}
}
