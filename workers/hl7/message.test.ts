import { describe, expect, it } from 'vitest';
import { Hl7ErrorCode } from '../../src/lib/domain/hl7/errors';
import { DEFAULT_DELIMITERS, escapeHl7, Hl7ParseError, parseHl7Message, unescapeHl7 } from './message';
import { SAMPLE } from './samples';

describe('unescapeHl7 / escapeHl7', () => {
	it('decodes every delimiter escape and hex', () => {
		expect(unescapeHl7('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', DEFAULT_DELIMITERS)).toBe('a|b^c&d~e\\f');
		expect(unescapeHl7('\\X48656C6C6F\\', DEFAULT_DELIMITERS)).toBe('Hello');
		expect(unescapeHl7('\\XC3A9\\', DEFAULT_DELIMITERS, 'UNICODE UTF-8')).toBe('é');
		expect(unescapeHl7('\\XE9\\', DEFAULT_DELIMITERS, '8859/1')).toBe('é');
		expect(unescapeHl7('line1\\.br\\line2', DEFAULT_DELIMITERS)).toBe('line1\nline2');
		expect(unescapeHl7('\\H\\bold\\N\\', DEFAULT_DELIMITERS)).toBe('bold');
	});

	it('keeps an unterminated escape literally', () => {
		expect(unescapeHl7('C:\\temp', DEFAULT_DELIMITERS)).toBe('C:\\temp');
	});

	it('round-trips arbitrary text through escape and unescape', () => {
		const text = 'a|b^c&d~e\\f\nnext';
		expect(unescapeHl7(escapeHl7(text), DEFAULT_DELIMITERS)).toBe(text);
	});
});

describe('parseHl7Message', () => {
	it('honours custom delimiters from MSH-1/MSH-2', () => {
		const m = parseHl7Message('MSH#*!$@#APP#FAC#RF#RF#20240101##ADT*A08#X1#P#2.5\rPID#1##ID1*Q*Q*AUTH*MR!ID2*Q*Q*AUTH*SS##DOE*JO $F$ $S$ $T$ $R$ $E$\r');
		const pid = m.first('PID')!;
		expect(m.header.messageType).toBe('ADT');
		expect(m.header.triggerEvent).toBe('A08');
		expect(pid.get(3, 1, 0)).toBe('ID1');
		expect(pid.get(3, 1, 1)).toBe('ID2');
		expect(pid.repetitions(3)).toBe(2);
		expect(pid.get(5, 2)).toBe('JO # * @ ! $');
		expect(m.segments[0].get(2)).toBe('*!$@');
	});

	it('reads repetitions and sub-components', () => {
		const m = parseHl7Message(SAMPLE.oruReport);
		const obr = m.first('OBR')!;
		expect(obr.get(32, 1, 0, 1)).toBe('8899');
		expect(obr.get(32, 1, 0, 2)).toBe('HOUSE');
		const pid = parseHl7Message(SAMPLE.ormNew).first('PID')!;
		expect(pid.repetitions(3)).toBe(2);
		expect(pid.get(3, 5, 1)).toBe('SS');
		expect(pid.get(3, 1, 7)).toBe('');
	});

	it('preserves Z segments and the raw text', () => {
		const m = parseHl7Message(Buffer.from(SAMPLE.ormNew));
		expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'PV1', 'ORC', 'OBR', 'ZDS']);
		expect(m.first('ZDS')!.get(1)).toBe('1.2.840.113619.2.55.3.1234');
		expect(m.raw).toBe(SAMPLE.ormNew);
	});

	it('numbers repeated segments for ERR-2', () => {
		const m = parseHl7Message(SAMPLE.oruLab);
		expect(m.all('OBX').map((s) => s.sequence)).toEqual([1, 2, 3]);
	});

	it('accepts CRLF and LF segment terminators', () => {
		const m = parseHl7Message(SAMPLE.adtA08.replace(/\r/g, '\r\n'));
		expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1']);
	});

	it('decodes MSH-18 UNICODE UTF-8, 8859/1 and undeclared Latin-1', () => {
		const utf8 = parseHl7Message(Buffer.from(SAMPLE.omiNew, 'utf8'));
		expect(utf8.first('PID')!.get(5, 1)).toBe('MÜLLER');
		const latin = SAMPLE.adtA08.replace('|2.5\r', '|2.5||||||8859/1\r').replace('PID|1||MRN1234', 'PID|1||MRN1234^^^^MR||GÖRAN');
		const m = parseHl7Message(Buffer.from(latin, 'latin1'));
		expect(m.first('PID')!.get(5)).toBe('GÖRAN');
		const undeclared = parseHl7Message(Buffer.from(SAMPLE.adtA08.replace('PID|1||MRN1234', 'PID|1||MRN1234^^^^MR||GÖRAN'), 'latin1'));
		expect(undeclared.first('PID')!.get(5)).toBe('GÖRAN');
		expect(undeclared.charsetWarning).toMatch(/8859\/1/);
	});

	it('reads a \\X escape in MSH-10 in the declared charset, as the segment views do (the duplicate key is built from those)', () => {
		const m = parseHl7Message(Buffer.from('MSH|^~\\&|A|B|C|D|20240101||ADT^A08|K\\XC3A9\\|P|2.5||||||8859/1\rEVN|A08\r', 'latin1'));
		// 8859/1 declared: the bytes C3 A9 are two characters, not UTF-8 'é'.
		expect(m.header.controlId).toBe('K\u00c3\u00a9');
		expect(m.segments[0].get(10)).toBe(m.header.controlId);
	});

	it('finds MSH-18 at the end of an MSH longer than 4 KiB, and decodes the message with it', () => {
		const msh = Buffer.concat([
			Buffer.from('MSH|^~\\&|A|B|C|D|20240101||ADT^A08|K', 'latin1'),
			Buffer.from([0xb6]),
			Buffer.from(`|P|2.5|||||${'X'.repeat(5000)}|8859/5\rEVN|A08\r`, 'latin1')
		]);
		const m = parseHl7Message(msh);
		expect(m.header.charset).toBe('8859/5');
		expect(m.header.encoding).toBe('iso-8859-5');
		expect(m.header.controlId).toBe('K\u0416');
	});

	it('replaces invalid UTF-8 when UTF-8 is declared, and flags it', () => {
		const text = SAMPLE.omiNew.replace('MÜLLER', 'M\u0000LLER');
		const bytes = Buffer.from(text, 'utf8');
		bytes[bytes.indexOf(0)] = 0xff;
		const m = parseHl7Message(bytes);
		expect(m.first('PID')!.get(5, 1)).toBe('M\uFFFDLLER');
		expect(m.charsetWarning).toBeDefined();
	});

	it('rejects an unknown MSH-18 with 103 at MSH-18', () => {
		const text = SAMPLE.adtA08.replace('|2.5\r', '|2.5||||||EBCDIC\r');
		const err = (() => {
			try {
				parseHl7Message(Buffer.from(text));
			} catch (e) {
				return e as Hl7ParseError;
			}
		})();
		expect(err).toBeInstanceOf(Hl7ParseError);
		expect(err!.code).toBe(Hl7ErrorCode.tableValueNotFound);
		expect(err!.location).toMatchObject({ segment: 'MSH', field: 18 });
		expect(err!.header?.controlId).toBe('ADT0008');
	});

	it.each([
		['no MSH', 'PID|1||X\r', Hl7ErrorCode.segmentSequenceError],
		['duplicate delimiters', 'MSH|^^\\&|A\r', Hl7ErrorCode.dataTypeError],
		['alphanumeric delimiter', 'MSH|^~A&|A\r', Hl7ErrorCode.dataTypeError],
		['garbage segment', SAMPLE.adtA08 + '\u0001\u0002garbage|x\r', Hl7ErrorCode.segmentSequenceError]
	])('refuses %s with a typed parse error', (_name, text, code) => {
		expect(() => parseHl7Message(text)).toThrow(Hl7ParseError);
		try {
			parseHl7Message(text);
		} catch (e) {
			expect((e as Hl7ParseError).code).toBe(code);
		}
	});
});
