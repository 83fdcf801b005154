import { describe, it, expect } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ACCEPTED_TRANSFER_SYNTAXES, RejectReason, negotiateContext, isAcceptedAbstractSyntax, parseAllowedPeers } from './policy';
import { DicomServer } from './server';
import { FileBlobStore } from './storage';
import { RawScu } from './raw-scu';
import { associateRequest } from './pdu';

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
		const sent = [RejectReason.applicationContextNotSupported, RejectReason.callingAeNotRecognized, RejectReason.calledAeNotRecognized];
		expect(rows.map((r) => Number(r[1].split(' ')[0])).sort()).toEqual(sent.sort());
	});

	it('the running SCP negotiates as documented: every listed syntax accepted, big endian refused (result 4)', async () => {
		const dir = await mkdtemp(join(tmpdir(), 'radflow-conformance-'));
		const server = new DicomServer(
			{ port: 0, host: '127.0.0.1', aeTitle: 'RADFLOW', allowedPeers: parseAllowedPeers('CONF'), maxPduLength: 65_536, maxObjectBytes: 1 << 20, idleTimeoutMs: 5000 },
			{ blobStore: new FileBlobStore(dir), sink: { store: async () => {} }, log: () => {} }
		);
		const { port } = await server.start();
		try {
			const proposals = [...documented.map((t) => t.uid), '1.2.840.10008.1.2.2'];
			const c = await RawScu.connect(port);
			c.send(associateRequest('CONF', 'RADFLOW', proposals.map((ts) => ({ abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', transferSyntaxes: [ts] })), 0x4000));
			const ac = await c.nextPdu();
			expect(ac?.type).toBe(2);
			const results: Record<string, [number, string]> = {};
			for (let o = 68; o + 4 <= ac!.body.length; o += 4 + ac!.body.readUInt16BE(o + 2)) {
				if (ac!.body[o] !== 0x21) continue;
				const id = ac!.body[o + 4];
				const tsLen = ac!.body.readUInt16BE(o + 10);
				results[proposals[(id - 1) / 2]] = [ac!.body[o + 6], ac!.body.toString('latin1', o + 12, o + 12 + tsLen)];
			}
			for (const t of documented) expect(results[t.uid], t.name).toEqual([0, t.uid]);
			expect(results['1.2.840.10008.1.2.2'][0]).toBe(4);
			c.close();
		} finally {
			await server.stop();
			await rm(dir, { recursive: true, force: true });
		}
	});
});
