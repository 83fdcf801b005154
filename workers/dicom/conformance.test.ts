import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ACCEPTED_TRANSFER_SYNTAXES, negotiateContext, isAcceptedAbstractSyntax } from './policy';

const doc = readFileSync(fileURLToPath(new URL('../../docs/dicom-conformance.md', import.meta.url)), 'utf8');

/** Rows of the first markdown table after a heading line. */
function tableAfter(heading: string): string[][] {
	const lines = doc.split('\n');
	const start = lines.findIndex((l) => l.trim() === heading);
	expect(start, `heading ${heading}`).toBeGreaterThanOrEqual(0);
	const rows: string[][] = [];
	for (const line of lines.slice(start + 1)) {
		if (!line.trim().startsWith('|')) {
			if (rows.length) break;
			continue;
		}
		const cells = line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
		if (cells.every((c) => /^-+$/.test(c))) continue;
		rows.push(cells);
	}
	return rows.slice(1); // drop the header row
}

describe('conformance statement matches the SCP', () => {
	const documented = tableAfter('#### Transfer syntaxes accepted').map(([name, uid]) => ({ name, uid }));

	it('lists exactly the transfer syntaxes the SCP accepts', () => {
		expect(documented.map((t) => t.uid).sort()).toEqual(ACCEPTED_TRANSFER_SYNTAXES.map((t) => t.uid).sort());
		for (const t of documented) expect(ACCEPTED_TRANSFER_SYNTAXES.find((a) => a.uid === t.uid)?.name).toBe(t.name);
	});

	it('every documented syntax is negotiated for a storage class, alone', () => {
		for (const t of documented) {
			expect(negotiateContext('1.2.840.10008.5.1.4.1.1.2', [t.uid])).toEqual({ result: 'accept', transferSyntax: t.uid });
		}
	});

	it('an undocumented syntax (explicit big endian) is refused', () => {
		expect(negotiateContext('1.2.840.10008.5.1.4.1.1.2', ['1.2.840.10008.1.2.2']).result).toBe('transfer-syntaxes-not-supported');
	});

	it('honours the proposer order among accepted syntaxes', () => {
		const d = negotiateContext('1.2.840.10008.5.1.4.1.1.4', ['1.2.840.10008.1.2.2', '1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.1']);
		expect(d).toEqual({ result: 'accept', transferSyntax: '1.2.840.10008.1.2.4.90' });
	});

	it('accepts verification and storage classes, refuses query/retrieve', () => {
		expect(isAcceptedAbstractSyntax('1.2.840.10008.1.1')).toBe(true);
		expect(isAcceptedAbstractSyntax('1.2.840.10008.5.1.4.1.1.88.22')).toBe(true);
		expect(negotiateContext('1.2.840.10008.5.1.4.1.2.2.1', ['1.2.840.10008.1.2']).result).toBe('abstract-syntax-not-supported');
	});

	it('documents the association reject reasons the SCP sends', () => {
		const rows = tableAfter('Association rejection (A-ASSOCIATE-RJ, result 1 permanent, source 1 DICOM UL service-user):');
		expect(rows.map((r) => r[1].split(' ')[0]).sort()).toEqual(['3', '7']);
	});
});
