import { describe, expect, it } from 'vitest';
import { Hl7CommandType, type Hl7Command } from '../../src/lib/domain/hl7/commands';
import { Hl7ApplicationError, Hl7ErrorCode } from '../../src/lib/domain/hl7/errors';
import { mapHl7Message } from '../../src/lib/domain/hl7/map';
import { parseHl7Message } from './message';
import { SAMPLE, segment } from './samples';

const receivedAt = '2024-03-12T15:00:00.000Z';
const map = (text: string) => mapHl7Message(parseHl7Message(Buffer.from(text, 'utf8')), { receivedAt });
const only = <T extends Hl7Command['type']>(text: string, type: T) => {
	const { commands } = map(text);
	expect(commands).toHaveLength(1);
	expect(commands[0].type).toBe(type);
	return commands[0] as Extract<Hl7Command, { type: T }>;
};
function mappingError(text: string): Hl7ApplicationError {
	try {
		map(text);
	} catch (e) {
		if (e instanceof Hl7ApplicationError) return e;
		throw e;
	}
	throw new Error('expected a mapping error');
}

describe('ORM^O01 / OMI^O23', () => {
	it('maps a new ED stat CT order with accession, procedure, modality, location and times', () => {
		const c = only(SAMPLE.ormNew, Hl7CommandType.orderPlace);
		expect(c).toMatchObject({
			accessionNumber: 'ACC5001',
			placerOrderNumber: 'PL1001',
			fillerOrderNumber: 'FL2002',
			requestedProcedure: { code: 'CTHEADWO', text: 'CT Head w/o contrast', codingSystem: 'L' },
			modality: 'CT',
			priority: 'stat',
			priorityCode: 'S',
			patientClass: 'E',
			orderingLocation: { pointOfCare: 'ED', room: 'BAY3', bed: '1', facility: 'MERCY' },
			orderedAt: '2024-03-12T13:25:00.000Z',
			scheduledAt: '2024-03-12T09:00:00.000Z',
			studyInstanceUid: '1.2.840.113619.2.55.3.1234',
			orderingProviderId: '4567',
			reasonForStudy: 'Fall, rule out bleed'
		});
		expect(c.patient).toEqual({ id: 'MRN1234', authority: 'MERCY', key: 'MERCY^MRN1234' });
		expect(c.source.idempotencyKey).toBe('EPIC|MERCY^1.2.840.1^ISO|ORM0001');
		expect(c.commandKey).toBe('EPIC|MERCY^1.2.840.1^ISO|ORM0001#0');
	});

	it('maps OMI^O23 with TQ1-9 priority and IPC accession, study UID and modality', () => {
		const c = only(SAMPLE.omiNew, Hl7CommandType.orderPlace);
		expect(c).toMatchObject({
			accessionNumber: 'ACC-OMI-1',
			modality: 'MR',
			priority: 'stat',
			patientClass: 'I',
			studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
			scheduledAt: '2024-04-01T09:00:00.000Z',
			orderedAt: '2024-04-01T08:10:00.000Z'
		});
	});

	it('maps CA to a cancel, SC to a status change, XO to an order change', () => {
		expect(only(SAMPLE.ormCancel, Hl7CommandType.orderCancel)).toMatchObject({
			accessionNumber: 'ACC5001',
			orderControl: 'CA',
			cancelledAt: '2024-03-12T09:29:00.000Z'
		});
		expect(only(SAMPLE.ormStatus, Hl7CommandType.orderStatus)).toMatchObject({ orderStatus: 'completed', patientClass: 'I' });
		expect(only(SAMPLE.ormChange, Hl7CommandType.orderChange)).toMatchObject({
			priority: 'asap',
			requestedProcedure: { code: 'CTHEADWC' }
		});
	});

	it('maps each ORC/OBR group of a multi-order message to its own command', () => {
		const text =
			SAMPLE.ormNew +
			segment('ORC', { 1: 'NW', 2: 'PL1002', 3: 'FL2003' }) + '\r' +
			segment('OBR', { 1: '2', 4: 'XRCHEST^XR Chest 2V^L', 5: 'R', 18: 'ACC5002', 24: 'RX' }) + '\r';
		const { commands } = map(text);
		expect(commands.map((c) => c.type)).toEqual(['order.place', 'order.place']);
		expect(commands.map((c) => (c as { accessionNumber: string }).accessionNumber)).toEqual(['ACC5001', 'ACC5002']);
		expect(commands.map((c) => c.commandKey.split('#')[1])).toEqual(['0', '1']);
		expect((commands[1] as { priority: string }).priority).toBe('routine');
	});

	it.each([
		['S', 'stat'],
		['A', 'asap'],
		['R', 'routine'],
		['', 'routine']
	])('maps OBR-27 priority %j to %s', (code, priority) => {
		const text = SAMPLE.ormNew.replaceAll('^^^20240312090000^^S', `^^^20240312090000^^${code}`);
		expect(only(text, Hl7CommandType.orderPlace).priority).toBe(priority);
	});

	it('falls back to ORC-2/3 for the accession when OBR-18 is empty', () => {
		const text = SAMPLE.ormNew.replace('ACC5001', '');
		expect(only(text, Hl7CommandType.orderPlace).accessionNumber).toBe('FL2002');
	});

	it('names OBR^1^18 when no accession can be found', () => {
		const text = SAMPLE.ormNew.replace('ACC5001', '').replaceAll('FL2002', '');
		const err = mappingError(text);
		expect(err.code).toBe(Hl7ErrorCode.requiredFieldMissing);
		expect(err.location).toEqual({ segment: 'OBR', sequence: 1, field: 18 });
		expect(err.ack).toBe('AE');
	});

	it('a PID-3 of spaces identifies nobody: 101 at PID-3, or the next repetition that has an id', () => {
		const a11 = 'MSH|^~\\&|ADT|MERCY|RADFLOW|MERCY|20240312||ADT^A11|X1|P|2.5\rEVN|A11|20240312\rPID|1||   ^^^MERCY^MR\rPV1|1|I\r';
		const err = mappingError(a11);
		expect(err.code).toBe(Hl7ErrorCode.requiredFieldMissing);
		expect(err.location).toMatchObject({ segment: 'PID', field: 3 });
		const [cmd] = map(a11.replace('   ^^^MERCY^MR', '   ^^^MERCY^MR~M77^^^MERCY^PI')).commands;
		expect(cmd.patient.id).toBe('M77');
	});

	it('a blank accession is no accession: the next source, or 101 (blank ones would all file as one study)', () => {
		expect(only(SAMPLE.ormNew.replace('ACC5001', '   '), Hl7CommandType.orderPlace).accessionNumber).toBe('FL2002');
		const err = mappingError(SAMPLE.ormNew.replace('ACC5001', '   ').replaceAll('FL2002', '  '));
		expect(err.code).toBe(Hl7ErrorCode.requiredFieldMissing);
		expect(err.location).toMatchObject({ segment: 'OBR', field: 18 });
	});

	it('rejects an unknown priority with 103 at the field it came from', () => {
		const err = mappingError(SAMPLE.ormNew.replaceAll('^^^20240312090000^^S', '^^^20240312090000^^Q'));
		expect(err.code).toBe(Hl7ErrorCode.tableValueNotFound);
		expect(err.location).toEqual({ segment: 'OBR', sequence: 1, field: 27, component: 6 });
	});

	it('rejects an order without a requested procedure (OBR-4)', () => {
		const err = mappingError(SAMPLE.ormNew.replace('CTHEADWO^CT Head w/o contrast^L', ''));
		expect(err.location).toEqual({ segment: 'OBR', sequence: 1, field: 4 });
	});

	it('rejects a malformed timestamp with 102', () => {
		const err = mappingError(SAMPLE.ormNew.replace('20240312082500-0500', '2024-03-12'));
		expect(err.code).toBe(Hl7ErrorCode.dataTypeError);
		expect(err.location).toEqual({ segment: 'ORC', sequence: 1, field: 9 });
	});

	it('leaves patient class null for classes outside E/I/O and keeps the code', () => {
		const c = only(SAMPLE.ormNew.replace('PV1|1|E|', 'PV1|1|P|'), Hl7CommandType.orderPlace);
		expect(c.patientClass).toBeNull();
		expect(c.patientClassCode).toBe('P');
	});

	it('requires PID-3', () => {
		const err = mappingError(SAMPLE.ormNew.replace('MRN1234^^^MERCY^MR~555-44-3333^^^SSA^SS', ''));
		expect(err.location).toEqual({ segment: 'PID', sequence: 1, field: 3 });
	});
});

describe('ADT', () => {
	it('A01 admit: class, location, visit and admit time', () => {
		expect(only(SAMPLE.adtA01, Hl7CommandType.visitUpdate)).toMatchObject({
			event: 'admit',
			patientClass: 'I',
			location: { pointOfCare: '4W', room: '401', bed: 'B', facility: 'MERCY' },
			visitNumber: 'V998877',
			occurredAt: '2024-03-12T06:59:00.000Z',
			admittedAt: '2024-03-12T06:55:00.000Z'
		});
	});

	it('A02 transfer carries the prior location', () => {
		const c = only(SAMPLE.adtA02, Hl7CommandType.visitUpdate);
		expect(c.event).toBe('transfer');
		expect(c.location?.pointOfCare).toBe('ICU');
		expect(c.priorLocation?.pointOfCare).toBe('4W');
	});

	it('A03 discharge, A04 register, A08 update', () => {
		expect(only(SAMPLE.adtA03, Hl7CommandType.visitUpdate)).toMatchObject({ event: 'discharge', dischargedAt: '2024-03-15T09:50:00.000Z' });
		expect(only(SAMPLE.adtA04, Hl7CommandType.visitUpdate)).toMatchObject({ event: 'register', patientClass: 'O' });
		expect(only(SAMPLE.adtA08, Hl7CommandType.visitUpdate)).toMatchObject({ event: 'update', patientClass: 'E', location: { room: 'BAY4' } });
	});

	it('A11 cancels the admit', () => {
		expect(only(SAMPLE.adtA11, Hl7CommandType.visitCancel)).toMatchObject({ visitNumber: 'V998877' });
	});

	it('A40 merges MRG-1 into PID-3, one command per PID/MRG pair', () => {
		const c = only(SAMPLE.adtA40, Hl7CommandType.patientMerge);
		expect(c.patient.id).toBe('MRN1234');
		expect(c.mergedPatient.id).toBe('MRN0999');
		const two = SAMPLE.adtA40 + 'PID|2||MRN2000^^^MERCY^MR\rMRG|MRN2999^^^MERCY^MR\r';
		const { commands } = map(two);
		expect(commands.map((x) => [x.patient.id, (x as { mergedPatient: { id: string } }).mergedPatient.id])).toEqual([
			['MRN1234', 'MRN0999'],
			['MRN2000', 'MRN2999']
		]);
	});

	it('A40 without MRG-1 names MRG^1^1', () => {
		const err = mappingError(SAMPLE.adtA40.replace('MRG|MRN0999^^^MERCY^MR', 'MRG|'));
		expect(err.location).toEqual({ segment: 'MRG', sequence: 1, field: 1 });
	});

	it('prefers the MR identifier among PID-3 repetitions', () => {
		const text = SAMPLE.adtA08.replace('PID|1||MRN1234^^^MERCY^MR', 'PID|1||123-45^^^SSA^SS~MRN1234^^^MERCY^MR');
		expect(map(text).patientKey).toBe('MERCY^MRN1234');
	});
});

describe('ORU^R01', () => {
	it('maps a final radiology report with interpreter, time, accession and text', () => {
		expect(only(SAMPLE.oruReport, Hl7CommandType.reportResult)).toMatchObject({
			accessionNumber: 'ACC5001',
			status: 'final',
			interpreter: { id: '8899', familyName: 'HOUSE', givenName: 'GREGORY' },
			resultAt: '2024-03-12T10:14:00.000Z',
			reportText: 'No acute intracranial hemorrhage.\nChronic small vessel ischemic change\ngrade 1.'
		});
	});

	it.each([
		['P', 'preliminary'],
		['F', 'final'],
		['C', 'corrected']
	])('maps OBR-25 %s to %s', (code, status) => {
		const text = SAMPLE.oruReport.replace('|||F|||||||8899', `|||${code}|||||||8899`);
		expect(only(text, Hl7CommandType.reportResult).status).toBe(status);
	});

	it('names OBR^1^25 for a missing result status', () => {
		const err = mappingError(SAMPLE.oruReport.replace('|||F|||||||8899', '||||||||||8899'));
		expect(err.code).toBe(Hl7ErrorCode.requiredFieldMissing);
		expect(err.location).toEqual({ segment: 'OBR', sequence: 1, field: 25 });
	});

	it('maps laboratory results with values, units, ranges, flags and times', () => {
		const c = only(SAMPLE.oruLab, Hl7CommandType.labResults);
		expect(c.panel.code).toBe('80048');
		expect(c.observations).toHaveLength(3);
		expect(c.observations[0]).toMatchObject({
			code: { code: '2160-0', codingSystem: 'LN' },
			value: '1.8',
			numeric: 1.8,
			units: 'mg/dL',
			referenceRange: '0.6-1.2',
			abnormalFlags: ['H'],
			observedAt: '2024-03-12T05:55:00.000Z'
		});
		expect(c.observations[1]).toMatchObject({ comparator: '<', numeric: 30, abnormalFlags: ['L', 'A'], observedAt: '2024-03-12T05:45:00.000Z' });
		expect(c.observations[2]).toMatchObject({ valueType: 'ST', value: 'Specimen slightly hemolyzed', numeric: null });
	});

	it('rejects a non-numeric NM value with 102 at OBX^1^5', () => {
		const err = mappingError(SAMPLE.oruLab.replace('||1.8|', '||high|'));
		expect(err.code).toBe(Hl7ErrorCode.dataTypeError);
		expect(err.location).toEqual({ segment: 'OBX', sequence: 1, field: 5 });
	});
});

describe('unsupported messages', () => {
	it('reports 200 for an unknown type and 201 for an unknown event, as AR', () => {
		const type = mappingError(SAMPLE.adtA08.replace('ADT^A08^ADT_A01', 'SIU^S12'));
		expect([type.code, type.ack]).toEqual([Hl7ErrorCode.unsupportedMessageType, 'AR']);
		const event = mappingError(SAMPLE.adtA08.replace('ADT^A08^ADT_A01', 'ADT^A31'));
		expect([event.code, event.ack]).toEqual([Hl7ErrorCode.unsupportedEventCode, 'AR']);
	});
});
