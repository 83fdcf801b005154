import { describe, it, expect } from 'vitest';
import { sampleHourlyCounts } from '../../src/lib/domain/simulation/arrivals';
import { buildNetwork, CriticalKind, SimulatorConfigError } from './network';
import { arrivalsForHour, HOUR, studiesForHour } from './plan';
import { buildAdt, buildOrm, buildOru } from './hl7';

const net = buildNetwork();
// A Monday afternoon in March (local -05:00).
const monday = Date.UTC(2025, 2, 3, 19);

function messageStream(seed: number, hours: number): string[] {
	const out: string[] = [];
	for (let h = 0; h < hours; h++) {
		for (const p of studiesForHour(net, seed, monday + h * HOUR)) {
			out.push(buildAdt(p), buildOrm(p), buildOru(p, net.radiologists[0], p.reportedAt));
		}
	}
	return out;
}

describe('simulated traffic', () => {
	it('is the same message stream for the same seed and a different one for another seed', () => {
		const a = messageStream(7, 2);
		const b = messageStream(7, 2);
		const c = messageStream(8, 2);
		expect(a.length).toBeGreaterThan(100);
		expect(b).toEqual(a);
		expect(c).not.toEqual(a);
	});

	it('draws hourly arrivals from the shared arrival model', () => {
		const counts = arrivalsForHour(net, 3, monday);
		const direct = sampleHourlyCounts(`3|h${monday}`, net.series, monday, 1, net.config);
		expect(counts.map((c) => c.count)).toEqual(direct.map((d) => d.counts[0]));
		expect(studiesForHour(net, 3, monday)).toHaveLength(counts.reduce((a, c) => a + c.count, 0));
	});

	it('gives every study a unique accession and study UID, ordered inside its hour', () => {
		const acc = new Set<string>();
		const uids = new Set<string>();
		for (let h = 0; h < 24; h++) {
			const start = monday + h * HOUR;
			for (const p of studiesForHour(net, 1, start)) {
				expect(p.orderedAt).toBeGreaterThanOrEqual(start);
				expect(p.orderedAt).toBeLessThan(start + HOUR);
				expect(p.accession.length).toBeLessThanOrEqual(16);
				expect(p.firstImageAt).toBeGreaterThan(p.orderedAt);
				expect(p.completeAt).toBeGreaterThanOrEqual(p.firstImageAt);
				expect(p.reportedAt).toBeGreaterThan(p.completeAt);
				acc.add(p.accession);
				uids.add(p.studyUid);
			}
		}
		expect(acc.size).toBe(uids.size);
		expect(acc.size).toBeGreaterThan(1500);
	});

	it('makes ED work mostly stat/asap and outpatient work routine; criticals only where the phantoms exist', () => {
		const byClass = { E: { urgent: 0, all: 0 }, O: { urgent: 0, all: 0 } } as Record<string, { urgent: number; all: number }>;
		let edHeadCt = 0;
		let edIch = 0;
		for (let h = 0; h < 24 * 7; h++) {
			for (const p of studiesForHour(net, 5, monday + h * HOUR)) {
				if (p.patientClass === 'E' || p.patientClass === 'O') {
					byClass[p.patientClass].all++;
					if (p.priority !== 'routine') byClass[p.patientClass].urgent++;
				}
				if (p.critical) expect(p.exam.critical).toBe(p.critical);
				if (p.patientClass === 'E' && p.exam.code === 'CT-HEAD-WO') {
					edHeadCt++;
					if (p.critical === CriticalKind.hemorrhage) edIch++;
				}
				expect(p.exam.subspecialty).toBe(p.series.subspecialty);
				expect(p.exam.modality).toBe(p.series.modality);
			}
		}
		expect(byClass.E.urgent / byClass.E.all).toBeGreaterThan(0.8);
		expect(byClass.O.urgent / byClass.O.all).toBeLessThan(0.1);
		expect(edIch / edHeadCt).toBeGreaterThan(0.015);
		expect(edIch / edHeadCt).toBeLessThan(0.06);
	});

	it('scales with --rate-multiplier and refuses unknown sites', () => {
		const double = buildNetwork({ rateMultiplier: 2 });
		let one = 0;
		let two = 0;
		for (let h = 0; h < 12; h++) {
			one += studiesForHour(net, 2, monday + h * HOUR).length;
			two += studiesForHour(double, 2, monday + h * HOUR).length;
		}
		expect(two / one).toBeGreaterThan(1.7);
		expect(two / one).toBeLessThan(2.3);
		expect(() => buildNetwork({ sites: ['nowhere'] })).toThrow(SimulatorConfigError);
		const east = buildNetwork({ sites: ['east'] });
		expect(studiesForHour(east, 2, monday).every((p) => p.site.id === 'east' && p.patientClass === 'O')).toBe(true);
	});
});
