import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from './log';

/** Every line the logger writes, parsed. */
function capture(): { lines: () => Record<string, unknown>[] } {
	const written: string[] = [];
	vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
		written.push(String(chunk));
		return true;
	});
	return { lines: () => written.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}
afterEach(() => vi.restoreAllMocks());

describe('logger PHI guard', () => {
	it('withholds fields that by their name carry PHI or whole messages, keeps identifiers', () => {
		const out = capture();
		createLogger('t', 'debug').warn('instance not filed', { patientName: 'DOE^JANE', birthDate: '19230405', raw: 'MSH|...PID|1||X||DOE^JANE', sopInstanceUid: '1.2.3' });
		const [line] = out.lines();
		expect(line).toMatchObject({ patientName: '[withheld: PHI]', birthDate: '[withheld: PHI]', raw: '[withheld: PHI]', sopInstanceUid: '1.2.3' });
		expect(JSON.stringify(line)).not.toMatch(/DOE|19230405/);
	});

	it('drops the value a PostgreSQL data exception quotes, keeps other error messages whole', () => {
		const out = capture();
		const dataError = Object.assign(new Error('invalid input syntax for type date: "1923-04-05x"'), { code: '22007' });
		const otherError = Object.assign(new Error('relation "studies" does not exist'), { code: '42P01' });
		const log = createLogger('t', 'debug');
		log.error('write failed', { err: dataError });
		log.error('write failed', { err: otherError });
		const [a, b] = out.lines();
		expect(a.error).toBe('invalid input syntax for type date: "[value withheld]"');
		expect(a.code).toBe('22007');
		expect(b.error).toBe('relation "studies" does not exist');
	});
});
