/**
 * A full disk under the blob store: an 8 MiB tmpfs mounted as the dicom role's
 * image folder, mostly taken by a filler file. Objects that do not fit must be
 * refused (0xA700 Out of Resources), leave no row and no partial file, and be
 * accepted once space is freed, without restarting the role.
 *
 * Needs root (mount); skipped, with the reason, where mounting is refused.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { freePort } from '../../src/lib/server/db/embedded';
import { RoleSet } from './harness/roles';
import { planStudies } from './harness/traffic';
import { Ledger, sendStudyImages, sendStudyImagesOnce } from './harness/senders';
import { compareWithStore } from './harness/verify';
import './harness/figures';

const SEED = process.env.FAULTS_SEED ?? String(Date.now() % 1_000_000);
const DISK_BYTES = 8 * 1024 * 1024;
/** Room left beside the filler: a few 288 KiB images fit, the rest do not. */
const FREE_BYTES = 1200 * 1024;

let t: TestDatabase | undefined;
let dir: string;
let blobDir: string;
let mounted = false;
let mountError = '';
let roles: RoleSet | undefined;
let dicomPort: number;

beforeAll(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-faults-disk-'));
	blobDir = path.join(dir, 'data', 'dicom');
	fs.mkdirSync(blobDir, { recursive: true });
	try {
		execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', blobDir], { stdio: 'pipe' });
		mounted = true;
	} catch (err) {
		mountError = String((err as { stderr?: Buffer }).stderr ?? err).trim();
		return;
	}
	t = await createTestDatabase('faults_disk');
	dicomPort = await freePort();
	roles = new RoleSet(
		['dicom'],
		{ DATABASE_URL: t.url, RADFLOW_DATA_DIR: path.join(dir, 'data'), DICOM_PORT: String(dicomPort), DICOM_ALLOWED_AES: '*', DICOM_STABILITY_SECONDS: '3' },
		path.join(dir, 'logs')
	);
	await roles.startAll();
}, 240_000);

afterAll(async () => {
	await roles?.stopAll();
	await t?.drop();
	if (mounted) execFileSync('umount', [blobDir]);
	if (process.env.FAULTS_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
	else process.stderr.write(`fault run kept in ${dir}\n`);
});

it('a full image disk: A700 refusals, no partial file or row, accepted again once space is freed', async ({ task, skip }) => {
	if (!mounted) {
		process.stderr.write(`disk_full skipped: cannot mount a tmpfs (${mountError}); run as root to include it\n`);
		skip(`mounting a tmpfs was refused: ${mountError}`);
	}
	const sql = t!.db.sql;
	// 384² grey images: about 288 KiB each.
	const studies = planStudies(SEED, 4, path.join(dir, 'files'), { maxInstances: 4, imageSize: 384 });
	const filler = path.join(blobDir, 'filler.bin');
	const { bavail, bsize } = fs.statfsSync(blobDir);
	fs.writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - FREE_BYTES)));

	// Disk full: each image sent once, one association each (storescu ends an
	// association at the first refusal); what does not fit must be refused.
	const ledger = new Ledger();
	for (const s of studies) for (const i of s.instances) await sendStudyImagesOnce(ledger, { ...s, instances: [i] }, dicomPort);
	const whileFull = ledger.counts().dicom;
	const refusedStatuses = [...new Set([...ledger.dicom.values()].map((e) => e.lastFailure).filter(Boolean))];
	const tempFilesWhileFull = fs.existsSync(path.join(blobDir, '.tmp')) ? fs.readdirSync(path.join(blobDir, '.tmp')).length : 0;
	const [{ rows: rowsWhileFull }] = await sql<{ rows: number }[]>`SELECT count(*)::int AS rows FROM instances`;
	const [{ failures }] = await sql<{ failures: number }[]>`SELECT count(*)::int AS failures FROM ingest_failures WHERE source = 'dicom'`;

	// Space returns: the same role accepts the refused objects.
	fs.rmSync(filler);
	const resent = await Promise.all(studies.map((s) => sendStudyImages(ledger, s, dicomPort, Date.now() + 60_000, 500)));
	const figures = await compareWithStore(sql, ledger, blobDir);

	task.meta.faults = {
		scenario: 'disk_full',
		seed: SEED,
		faults_injected: 1,
		sent: figures.sent,
		acked: figures.acked,
		stored: figures.stored,
		lost: figures.lost,
		duplicates: figures.duplicates,
		acked_while_full: whileFull.acked,
		refused_while_full: whileFull.refusals,
		no_answer_while_full: whileFull.noAnswer,
		refusal_statuses: refusedStatuses,
		rows_while_full: rowsWhileFull,
		temp_files_while_full: tempFilesWhileFull,
		ingest_failures_recorded: failures,
		corrupt: figures.corrupt,
		orphan_temp_files: figures.orphanTempFiles
	};
	process.stderr.write(`disk_full: ${JSON.stringify(task.meta.faults)}\nproblems: ${figures.problems.join('\n')}\n`);

	// Refused, clearly, while full.
	expect(whileFull.refusals).toBeGreaterThan(0);
	expect(whileFull.noAnswer).toBe(0);
	for (const s of refusedStatuses) expect(s).toMatch(/A700|Out ?of ?Resources/i);
	// No row for a refused object, no partial file left behind, the failure visible.
	expect(rowsWhileFull).toBe(whileFull.acked);
	expect(tempFilesWhileFull).toBe(0);
	expect(failures).toBeGreaterThan(0);
	// Recovered without a restart; nothing lost, nothing twice, nothing corrupt.
	expect(resent.every(Boolean)).toBe(true);
	expect(roles!.unexpectedExits()).toEqual([]);
	expect(figures.problems).toEqual([]);
	expect(figures.lost).toBe(0);
	expect(figures.duplicates).toBe(0);
	expect(figures.corrupt).toBe(0);
	expect(figures.orphanTempFiles).toBe(0);
	expect(figures.acked).toBe(figures.sent);
});
