import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildNetwork, CriticalKind } from './network';
import { HOUR, studiesForHour, type StudyPlan } from './plan';
import { buildStudyInstances, groundTruthComment } from './dicom';
import { storeInstances, isStoreSuccess, DicomSendError } from './scu';

const net0 = buildNetwork();
const start = Date.UTC(2025, 2, 3, 19);
const plans: StudyPlan[] = [];
for (let h = 0; h < 48 && !plans.some((p) => p.critical === CriticalKind.hemorrhage); h++) plans.push(...studiesForHour(net0, 4, start + h * HOUR));
const headCt = plans.find((p) => p.critical === CriticalKind.hemorrhage)!;
const cxr = plans.find((p) => p.exam.critical === CriticalKind.pneumothorax)!;
const mr = plans.find((p) => p.exam.modality === 'MR')!;

let dir: string;
beforeAll(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-sim-dicom-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function dump(file: string): string {
	return execFileSync('dcmdump', ['+L', file], { encoding: 'utf8' });
}

describe('synthetic DICOM', () => {
	it('writes Part 10 files dcmdump reads, with the study attributes and the ground truth', () => {
		const instances = buildStudyInstances(headCt);
		expect(new Set(instances.map((i) => i.seriesInstanceUid)).size).toBe(headCt.seriesPlan.length);
		expect(instances).toHaveLength(headCt.seriesPlan.reduce((a, s) => a + s.instances, 0));
		const file = path.join(dir, 'ct.dcm');
		fs.writeFileSync(file, instances[1].part10);
		const text = dump(file);
		expect(text).toContain(`[${headCt.accession}]`);
		expect(text).toContain(`[${headCt.mrn}]`);
		expect(text).toContain(`[${headCt.studyUid}]`);
		expect(text).toContain('[ISO_IR 192]');
		expect(text).toContain(`[${headCt.exam.description}]`);
		expect(text).toContain(`[${headCt.site.name}]`);
		expect(text).toContain(`[${headCt.stationName}]`);
		expect(text).toContain('[HEAD]');
		expect(text).toContain(`[${groundTruthComment(headCt)}]`);
		expect(groundTruthComment(headCt)).toBe('SIM:critical=1;finding=intracranial_hemorrhage');
		expect(text).toMatch(/\(0028,0010\) US 128/);
	});

	it('gives CT and MR several series and a radiograph one image per view', () => {
		expect(mr.seriesPlan.length).toBeGreaterThanOrEqual(3);
		const views = cxr.seriesPlan.length;
		const instances = buildStudyInstances(cxr);
		expect(instances).toHaveLength(views);
		const file = path.join(dir, 'cxr.dcm');
		fs.writeFileSync(file, instances[0].part10);
		expect(dump(file)).toContain(`[${groundTruthComment(cxr)}]`);
	});

	it('is deterministic: the same plan gives the same bytes', () => {
		const a = buildStudyInstances(mr).map((i) => i.part10.toString('base64'));
		const b = buildStudyInstances(mr).map((i) => i.part10.toString('base64'));
		expect(b).toEqual(a);
	});
});

async function freePort(): Promise<number> {
	return new Promise((resolve) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => {
			const p = (s.address() as net.AddressInfo).port;
			s.close(() => resolve(p));
		});
	});
}

describe('C-STORE SCU against dcmtk storescp', () => {
	let scp: ChildProcess;
	let port: number;
	let out: string;
	beforeAll(async () => {
		port = await freePort();
		out = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-sim-scp-'));
		scp = spawn('storescp', ['-od', out, '-aet', 'RADFLOW', String(port)], { env: { ...process.env, TCP_NODELAY: '1' }, stdio: 'ignore' });
		for (let i = 0; i < 50; i++) {
			const ok = await new Promise<boolean>((r) => {
				const s = net.connect({ port, host: '127.0.0.1' }, () => (s.destroy(), r(true)));
				s.on('error', () => r(false));
			});
			if (ok) break;
			await new Promise((r) => setTimeout(r, 100));
		}
	});
	afterAll(() => {
		scp.kill();
		fs.rmSync(out, { recursive: true, force: true });
	});

	it('stores every instance of a multi-series study over one association (fragmenting to the peer PDU size)', async () => {
		const instances = buildStudyInstances(headCt);
		const results = await storeInstances({ host: '127.0.0.1', port, calledAe: 'RADFLOW' }, headCt.callingAe, instances);
		expect(results.every((r) => isStoreSuccess(r.status))).toBe(true);
		const files = fs.readdirSync(out);
		for (const i of instances) expect(files.some((f) => f.endsWith(i.sopInstanceUid))).toBe(true);
		const one = files.find((f) => f.endsWith(instances[1].sopInstanceUid))!;
		expect(dump(path.join(out, one))).toContain(`[${headCt.accession}]`);
	});

	it('reports an unreachable SCP as DicomSendError', async () => {
		const instances = buildStudyInstances(cxr);
		const closed = await freePort();
		const err = await storeInstances({ host: '127.0.0.1', port: closed, calledAe: 'RADFLOW' }, cxr.callingAe, instances).catch((e) => e);
		expect(err).toBeInstanceOf(DicomSendError);
		expect(err.code).toBe('dicom_connect');
	});
});
