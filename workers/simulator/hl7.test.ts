import { describe, it, expect } from 'vitest';
import { Hl7Message } from '@medplum/core';
import { mapHl7Message } from '../../src/lib/domain/hl7/map';
import { parseHl7Message } from '../hl7/message';
import { buildNetwork } from './network';
import { HOUR, studiesForHour, type StudyPlan } from './plan';
import { buildAdt, buildOrm, buildOru, escapeHl7, priorityCode } from './hl7';

const net = buildNetwork();
const start = Date.UTC(2025, 2, 3, 19);
const plans: StudyPlan[] = [];
for (let h = 0; h < 6; h++) plans.push(...studiesForHour(net, 11, start + h * HOUR));
const ed = plans.find((p) => p.patientClass === 'E' && p.priority === 'stat')!;
const inpatient = plans.find((p) => p.patientClass === 'I')!;
const reader = net.radiologists[3];

describe('HL7 messages', () => {
	it('registers ED and outpatients with A04 and admits inpatients with A01, with PV1-2 class', () => {
		for (const p of [ed, inpatient]) {
			const m = Hl7Message.parse(buildAdt(p));
			expect(m.getSegment('MSH')!.getField(9).toString()).toBe(p.patientClass === 'I' ? 'ADT^A01^ADT_A01' : 'ADT^A04^ADT_A01');
			expect(m.getSegment('MSH')!.getField(12).toString()).toBe('2.5');
			expect(m.getSegment('PV1')!.getField(2).toString()).toBe(p.patientClass);
			expect(m.getSegment('PID')!.getField(3).getComponent(1)).toBe(p.mrn);
		}
	});

	it('orders carry NW, procedure, accession, modality and priority where RIS interfaces put them', () => {
		const m = Hl7Message.parse(buildOrm(ed));
		expect(m.getSegment('MSH')!.getField(9).toString()).toBe('ORM^O01^ORM_O01');
		expect(m.getSegment('ORC')!.getField(1).toString()).toBe('NW');
		const obr = m.getSegment('OBR')!;
		expect(obr.getField(4).getComponent(1)).toBe(ed.exam.code);
		expect(obr.getField(4).getComponent(2)).toBe(ed.exam.description);
		expect(obr.getField(18).toString()).toBe(ed.accession);
		expect(obr.getField(24).toString()).toBe(ed.exam.modality);
		expect(obr.getField(27).getComponent(6)).toBe('S');
		expect(m.getSegment('TQ1')!.getField(9).toString()).toBe('S');
	});

	it('reports are final, name the reader and the accession', () => {
		const at = ed.reportedAt;
		const m = Hl7Message.parse(buildOru(ed, reader, at));
		const obr = m.getSegment('OBR')!;
		expect(obr.getField(25).toString()).toBe('F');
		expect(obr.getField(18).toString()).toBe(ed.accession);
		expect(obr.getField(32).toString()).toContain(reader.npi);
		expect(m.segments.filter((s) => s.name === 'OBX').length).toBeGreaterThan(0);
	});

	it("maps through Radflow's own HL7 mapping to the planned order and report", () => {
		const receivedAt = new Date(start).toISOString();
		const order = mapHl7Message(parseHl7Message(buildOrm(ed)), { receivedAt }).commands[0] as unknown as Record<string, unknown>;
		expect(order.type).toBe('order.place');
		expect(order).toMatchObject({ accessionNumber: ed.accession, priority: 'stat', patientClass: 'E', modality: ed.exam.modality });
		expect(Date.parse(order.orderedAt as string)).toBe(Math.floor(ed.orderedAt / 1000) * 1000);
		const report = mapHl7Message(parseHl7Message(buildOru(ed, reader, ed.reportedAt)), { receivedAt }).commands[0] as unknown as Record<string, unknown>;
		expect(report).toMatchObject({ accessionNumber: ed.accession, status: 'final' });
		expect((report.interpreter as { id: string }).id).toBe(reader.npi);
		expect(Date.parse(report.resultAt as string)).toBe(Math.floor(ed.reportedAt / 1000) * 1000);
		const adt = mapHl7Message(parseHl7Message(buildAdt(inpatient)), { receivedAt }).commands[0] as unknown as Record<string, unknown>;
		expect(adt).toMatchObject({ patientClass: 'I' });
	});

	it('escapes delimiters in free text and maps priorities to table 0027', () => {
		expect(escapeHl7('A|B^C&D~E\\F')).toBe('A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F');
		expect([priorityCode('stat'), priorityCode('asap'), priorityCode('routine')]).toEqual(['S', 'A', 'R']);
	});
});
