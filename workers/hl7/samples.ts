/**
 * Realistic sample messages (synthetic patients) used by tests and the benchmark.
 * Segments are joined with CR as on the wire. `withControlId` rewrites MSH-10.
 */
const seg = (...lines: string[]) => lines.join('\r') + '\r';

/** Build a segment from field number → value (default delimiters), so positions are explicit. */
export function segment(name: string, fields: Record<number, string>): string {
	const n = Math.max(0, ...Object.keys(fields).map(Number));
	const parts = [name];
	for (let i = 1; i <= n; i++) parts.push(fields[i] ?? '');
	return parts.join('|');
}

export const SAMPLE = {
	ormNew: seg(
		'MSH|^~\\&|EPIC|MERCY^1.2.840.1^ISO|RADFLOW|MERCY|20240312083000-0500||ORM^O01^ORM_O01|ORM0001|P|2.3.1',
		'PID|1||MRN1234^^^MERCY^MR~555-44-3333^^^SSA^SS||DOE^JANE^Q||19700101|F',
		segment('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY3^1^MERCY^^^MAIN^1^Emergency Dept', 7: '1234^SMITH^JOHN', 19: 'V998877' }),
		segment('ORC', { 1: 'NW', 2: 'PL1001', 3: 'FL2002', 5: 'SC', 7: '^^^20240312090000^^S', 9: '20240312082500-0500', 12: '4567^WELBY^MARCUS' }),
		segment('OBR', {
			1: '1',
			2: 'PL1001',
			3: 'FL2002',
			4: 'CTHEADWO^CT Head w/o contrast^L',
			6: '20240312082000-0500',
			16: '4567^WELBY^MARCUS',
			18: 'ACC5001',
			24: 'CT',
			27: '^^^20240312090000^^S',
			31: '^Fall, rule out bleed'
		}),
		'ZDS|1.2.840.113619.2.55.3.1234^EPIC^Application^DICOM'
	),
	ormCancel: seg(
		'MSH|^~\\&|EPIC|MERCY|RADFLOW|MERCY|20240312093000||ORM^O01|ORM0002|P|2.3.1',
		'PID|1||MRN1234^^^MERCY^MR||DOE^JANE',
		'PV1|1|E|ED^BAY3^1',
		'ORC|CA|PL1001|FL2002||CA||||20240312092900',
		segment('OBR', { 1: '1', 2: 'PL1001', 3: 'FL2002', 4: 'CTHEADWO^CT Head w/o contrast^L', 18: 'ACC5001' })
	),
	ormStatus: seg(
		'MSH|^~\\&|RIS|MERCY|RADFLOW|MERCY|20240312094500||ORM^O01|ORM0003|P|2.4',
		'PID|1||MRN1234^^^MERCY^MR',
		'PV1|1|I|4W^401^B',
		'ORC|SC|PL1001|FL2002||CM',
		segment('OBR', { 1: '1', 2: 'PL1001', 3: 'FL2002', 4: 'CTHEADWO^CT Head w/o contrast^L', 18: 'ACC5001', 24: 'CT' })
	),
	ormChange: seg(
		'MSH|^~\\&|EPIC|MERCY|RADFLOW|MERCY|20240312084000||ORM^O01|ORM0004|P|2.3.1',
		'PID|1||MRN1234^^^MERCY^MR',
		'PV1|1|O|XR^1',
		'ORC|XO|PL1001|FL2002||SC||^^^^^A',
		segment('OBR', { 1: '1', 2: 'PL1001', 3: 'FL2002', 4: 'CTHEADWC^CT Head with contrast^L', 18: 'ACC5001', 24: 'CT' })
	),
	omiNew: seg(
		'MSH|^~\\&|CERNER|GENERAL|RADFLOW|GENERAL|20240401101500+0200||OMI^O23^OMI_O23|OMI7001|P|2.5.1||||||UNICODE UTF-8',
		'PID|1||P998877^^^GENERAL^MR||MÜLLER^JÖRG||19551231|M',
		'PV1|1|I|ICU^12^A^GENERAL',
		'ORC|NW|PO-77|FO-88||SC||||20240401101000+0200',
		'TQ1|1||||||20240401110000+0200||S',
		'OBR|1|PO-77|FO-88|RPID16^MRI Brain w/ and w/o contrast^RADLEX|||||||||||||||||||MR',
		'IPC|ACC-OMI-1|RP-1|1.2.826.0.1.3680043.8.498.1|SPS-1|MR'
	),
	adtA01: seg(
		'MSH|^~\\&|ADT|MERCY|RADFLOW|MERCY|20240312070000||ADT^A01^ADT_A01|ADT0001|P|2.5',
		'EVN|A01|20240312065900|||||MERCY',
		'PID|1||MRN1234^^^MERCY^MR||DOE^JANE',
		'PV1|1|I|4W^401^B^MERCY||||||||||||||||V998877|||||||||||||||||||||||||20240312065500'
	),
	adtA02: seg(
		'MSH|^~\\&|ADT|MERCY|RADFLOW|MERCY|20240312120000||ADT^A02^ADT_A02|ADT0002|P|2.5',
		'EVN|A02|20240312115900',
		'PID|1||MRN1234^^^MERCY^MR',
		'PV1|1|I|ICU^2^A^MERCY|||4W^401^B^MERCY|||||||||||||V998877'
	),
	adtA03: seg(
		'MSH|^~\\&|ADT|MERCY|RADFLOW|MERCY|20240315100000||ADT^A03^ADT_A03|ADT0003|P|2.5',
		'EVN|A03|20240315095900',
		'PID|1||MRN1234^^^MERCY^MR',
		'PV1|1|I|ICU^2^A^MERCY||||||||||||||||V998877||||||||||||||||||||||||||20240315095000'
	),
	adtA04: seg(
		'MSH|^~\\&|ADT|MERCY|RADFLOW|MERCY|20240312070000||ADT^A04^ADT_A01|ADT0004|P|2.5',
		'EVN|A04|20240312070000',
		'PID|1||MRN5555^^^MERCY^MR',
		'PV1|1|O|XR^1^^MERCY'
	),
	adtA08: seg(
		'MSH|^~\\&|ADT|MERCY|RADFLOW|MERCY|20240312130000||ADT^A08^ADT_A01|ADT0008|P|2.5',
		'EVN|A08|20240312130000',
		'PID|1||MRN1234^^^MERCY^MR',
		'PV1|1|E|ED^BAY4^^MERCY'
	),
	adtA11: seg(
		'MSH|^~\\&|ADT|MERCY|RADFLOW|MERCY|20240312071000||ADT^A11^ADT_A09|ADT0011|P|2.5',
		'EVN|A11|20240312071000',
		'PID|1||MRN1234^^^MERCY^MR',
		'PV1|1|I|4W^401^B^MERCY||||||||||||||||V998877'
	),
	adtA40: seg(
		'MSH|^~\\&|MPI|MERCY|RADFLOW|MERCY|20240320120000||ADT^A40^ADT_A39|ADT0040|P|2.5',
		'EVN|A40|20240320120000',
		'PID|1||MRN1234^^^MERCY^MR',
		'MRG|MRN0999^^^MERCY^MR'
	),
	oruReport: seg(
		'MSH|^~\\&|POWERSCRIBE|MERCY|RADFLOW|MERCY|20240312101500||ORU^R01^ORU_R01|ORU0001|P|2.4',
		'PID|1||MRN1234^^^MERCY^MR',
		'PV1|1|E|ED^BAY3^1',
		'OBR|1|PL1001|FL2002|CTHEADWO^CT Head w/o contrast^L|||20240312083500|||||||||||ACC5001||||20240312101400|||F|||||||8899&HOUSE&GREGORY',
		'OBX|1|TX|IMP^Impression||No acute intracranial hemorrhage.||||||F',
		'OBX|2|TX|IMP^Impression||Chronic small vessel ischemic change\\.br\\grade 1.||||||F'
	),
	oruLab: seg(
		'MSH|^~\\&|LAB|MERCY|RADFLOW|MERCY|20240312060000||ORU^R01^ORU_R01|LAB0001|P|2.5.1',
		'PID|1||MRN1234^^^MERCY^MR',
		'OBR|1|LP1|LF1|80048^Basic metabolic panel^CPT|||20240312054500|||||||||||||||||CH|F',
		'OBX|1|NM|2160-0^Creatinine [Mass/volume] in Serum or Plasma^LN||1.8|mg/dL^mg/dL^UCUM|0.6-1.2|H|||F|||20240312055500',
		'OBX|2|SN|33914-3^eGFR^LN||<^30|mL/min/{1.73_m2}|>60|L~A|||F',
		'OBX|3|ST|NOTE^Comment^L||Specimen slightly hemolyzed||||||F'
	)
} as const;

export type SampleName = keyof typeof SAMPLE;

/** Replace MSH-10 (assumes default delimiters). */
export function withControlId(message: string, controlId: string): string {
	const end = message.indexOf('\r');
	const msh = message.slice(0, end).split('|');
	msh[9] = controlId;
	return msh.join('|') + message.slice(end);
}

/** Replace one MSH field n (n ≥ 3, default delimiters). */
export function withMshField(message: string, n: number, value: string): string {
	const end = message.indexOf('\r');
	const msh = message.slice(0, end).split('|');
	while (msh.length < n) msh.push('');
	msh[n - 1] = value;
	return msh.join('|') + message.slice(end);
}
