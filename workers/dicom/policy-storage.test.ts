import { describe, it, expect, afterAll } from 'vitest';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isPeerAllowed, parseAllowedPeers, PeerConfigError } from './policy';
import { blobStoreOptionsFromEnv, FileBlobStore, BlobStoreError } from './storage';
import { IncomingObject, SMALL_OBJECT_BYTES } from './receive';
import { PduReader } from './pdu-reader';
import { pDataPdu, pdu } from './pdu';

async function until(ok: () => Promise<boolean>): Promise<void> {
	for (let i = 0; i < 200 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('DICOM_ALLOWED_AES', () => {
	it('parses AE and AE@host entries and the wildcard', () => {
		expect(parseAllowedPeers('CT1, MR1@10.0.0.5 US1@pacs.local')).toEqual([
			{ aeTitle: 'CT1', host: null },
			{ aeTitle: 'MR1', host: '10.0.0.5' },
			{ aeTitle: 'US1', host: 'pacs.local' }
		]);
		expect(parseAllowedPeers('CT1,*')).toBe('any');
		expect(() => parseAllowedPeers('WAY_TOO_LONG_AE_TITLE_X')).toThrow(PeerConfigError);
	});
	it('checks AE title and, when bound, the source address', () => {
		const peers = parseAllowedPeers('CT1 MR1@10.0.0.5 US1@pacs.local');
		expect(isPeerAllowed(peers, 'CT1', '192.168.1.9')).toBe(true);
		expect(isPeerAllowed(peers, 'MR1', '::ffff:10.0.0.5')).toBe(true);
		expect(isPeerAllowed(peers, 'MR1', '10.0.0.6')).toBe(false);
		expect(isPeerAllowed(peers, 'CT2', '10.0.0.5')).toBe(false);
		expect(isPeerAllowed(peers, 'US1', '10.1.1.1', new Map([['pacs.local', ['10.1.1.1']]]))).toBe(true);
		expect(isPeerAllowed('any', 'ANYONE', '1.2.3.4')).toBe(true);
	});
});

describe('FileBlobStore', () => {
	let root: string;
	afterAll(() => rm(root, { recursive: true, force: true }));
	const key = { studyUid: '1.2.3', seriesUid: '1.2.3.4', sopUid: '1.2.3.4.5' };

	it('puts bytes and streams atomically under study/series/instance, replacing on retry', async () => {
		root = await mkdtemp(join(tmpdir(), 'radflow-blobs-'));
		const store = new FileBlobStore(root);
		const first = await store.put(key, Buffer.from('first'));
		expect(first).toEqual({ path: join(root, '1.2.3', '1.2.3.4', '1.2.3.4.5.dcm'), size: 5, created: true });
		const second = await store.put(key, Readable.from([Buffer.from('sec'), Buffer.from('ond')]));
		expect(second.created).toBe(false);
		expect(await readFile(second.path, 'utf8')).toBe('second');
		expect(await store.exists(key)).toBe(true);
		const chunks: Buffer[] = [];
		for await (const c of await store.get(key)) chunks.push(c as Buffer);
		expect(Buffer.concat(chunks).toString()).toBe('second');
		expect(await readdir(join(root, '.tmp'))).toEqual([]);
	});

	it('refuses keys that are not UIDs (no path traversal) and reports missing blobs', async () => {
		const store = new FileBlobStore(root);
		await expect(store.put({ ...key, sopUid: '../../etc/passwd' }, Buffer.from('x'))).rejects.toThrow(BlobStoreError);
		await expect(store.get({ ...key, sopUid: '9.9' })).rejects.toMatchObject({ code: 'not_found' });
	});

	it('durable() also flushes the directory the object was renamed into, unless DICOM_SYNC_DIRECTORIES=0 (journaling filesystems)', async () => {
		/** Records the directories flushed (and flushes them). */
		class Recording extends FileBlobStore {
			readonly flushed: string[] = [];
			protected override fsyncDirectory(dir: string): Promise<void> {
				this.flushed.push(dir);
				return super.fsyncDirectory(dir);
			}
		}
		const series = { ...key, seriesUid: '1.2.3.77' };
		const place = async (store: Recording, sopUid: string) => {
			const placed = await (await store.stage()).place({ ...series, sopUid }, [Buffer.from(sopUid)]);
			await placed.durable();
			return placed.path;
		};
		const plain = new Recording(root, blobStoreOptionsFromEnv({ DICOM_SYNC_DIRECTORIES: '0' }));
		await place(plain, '1.2.3.77.1');
		const second = await place(plain, '1.2.3.77.2');
		// The second object's directory already existed: nothing but the file is flushed.
		expect(plain.flushed).not.toContain(join(root, '1.2.3', '1.2.3.77'));
		const careful = new Recording(root, blobStoreOptionsFromEnv({}));
		const third = await place(careful, '1.2.3.77.3');
		expect(careful.flushed).toEqual([join(root, '1.2.3', '1.2.3.77')]);
		expect(await readFile(third, 'utf8')).toBe('1.2.3.77.3');
		expect(await readFile(second, 'utf8')).toBe('1.2.3.77.2');
		expect(blobStoreOptionsFromEnv({ DICOM_SYNC_DIRECTORIES: 'false' })).toEqual({ syncDirectories: false });
		// A store built without options flushes directories too.
		const byDefault = new Recording(root);
		await place(byDefault, '1.2.3.77.4');
		expect(byDefault.flushed).toEqual([join(root, '1.2.3', '1.2.3.77')]);
	});

	it('places a staged blob with the bytes not written yet, flushed by durable(); a resend replaces it', async () => {
		const store = new FileBlobStore(root);
		const whole = { ...key, sopUid: '1.2.3.4.6' };
		const staged = await store.stage();
		await staged.write(Buffer.from('wh'));
		const first = await staged.place(whole, [Buffer.from('o'), Buffer.from('le')]);
		expect(first).toMatchObject({ path: join(root, '1.2.3', '1.2.3.4', '1.2.3.4.6.dcm'), size: 5, created: true });
		await first.durable();
		expect(await readFile(first.path, 'utf8')).toBe('whole');
		const again = await (await store.stage()).place(whole, [Buffer.from('again')]);
		expect(again.created).toBe(false);
		await again.durable();
		expect(await readFile(again.path, 'utf8')).toBe('again');
		expect(await readdir(join(root, '.tmp'))).toEqual([]);
		const bad = await store.stage();
		await expect(bad.place({ ...whole, seriesUid: '../x' }, [Buffer.from('x')])).rejects.toThrow(BlobStoreError);
		await bad.abort();
		expect(await readdir(join(root, '.tmp'))).toEqual([]);
	});

	it('holds a small object in memory until it ends and writes a large one while it arrives', async () => {
		const store = new FileBlobStore(root);
		const tempBytes = async () => {
			const [f] = await readdir(join(root, '.tmp'));
			return f ? (await stat(join(root, '.tmp', f))).size : null;
		};
		const incoming = (sopUid: string) =>
			new IncomingObject({
				stage: () => store.stage(),
				sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
				sopInstanceUid: sopUid,
				transferSyntaxUid: '1.2.840.10008.1.2.1',
				callingAe: 'CT1',
				maxObjectBytes: 64 * 1024 * 1024,
				headerCaptureBytes: 1024
			});
		const small = incoming('1.2.3.4.7');
		small.push(Buffer.alloc(1000, 1));
		await small.end();
		expect(await tempBytes()).toBe(0);
		const placedSmall = await small.place({ ...key, sopUid: '1.2.3.4.7' });
		await placedSmall.durable();
		expect((await readFile(placedSmall.path)).subarray(-1000)).toEqual(Buffer.alloc(1000, 1));

		const large = incoming('1.2.3.4.8');
		for (let i = 0; i < 5; i++) large.push(Buffer.alloc(SMALL_OBJECT_BYTES / 2, i));
		await until(async () => ((await tempBytes()) ?? 0) > 0);
		expect(await tempBytes(), 'written while arriving').toBeGreaterThan(0);
		await large.end();
		const placedLarge = await large.place({ ...key, sopUid: '1.2.3.4.8' });
		await placedLarge.durable();
		expect(placedLarge.size).toBeGreaterThan(2.5 * SMALL_OBJECT_BYTES);
		expect((await readFile(placedLarge.path)).subarray(-3)).toEqual(Buffer.alloc(3, 4));
		expect(await readdir(join(root, '.tmp'))).toEqual([]);
	});

	it('an aborted staged write leaves nothing behind', async () => {
		const store = new FileBlobStore(root);
		const staged = await store.stage();
		await staged.write(Buffer.from('partial'));
		await staged.abort();
		expect(await readdir(join(root, '.tmp'))).toEqual([]);
		expect(await store.exists({ ...key, sopUid: '7.7' })).toBe(false);
	});
});

describe('PduReader', () => {
	function collect(max = 100) {
		const got: string[] = [];
		const reader = new PduReader(
			{
				pdu: (type, body) => got.push(`pdu ${type} ${body.toString('hex')}`),
				pdv: (ctx, command, last, piece, end) => got.push(`pdv ${ctx} ${command ? 'cmd' : 'data'}${last ? ' last' : ''} ${piece.toString('hex')}${end ? ' end' : ''}`)
			},
			max
		);
		return { got, reader };
	}

	it('yields the same PDUs and PDV bytes whatever the chunking (byte by byte, several PDUs per chunk)', () => {
		const stream = Buffer.concat([
			pDataPdu(1, Buffer.from('0102', 'hex'), true, true),
			pDataPdu(1, Buffer.from('aabbcc', 'hex'), false, false),
			pdu(5, Buffer.alloc(4)),
			pDataPdu(3, Buffer.alloc(0), false, true)
		]);
		const whole = collect();
		whole.reader.feed(stream);
		expect(whole.got).toEqual(['pdv 1 cmd last 0102 end', 'pdv 1 data aabbcc end', 'pdu 5 00000000', 'pdv 3 data last  end']);
		const bytes = collect();
		for (const b of stream) bytes.reader.feed(Buffer.from([b]));
		// Byte by byte the values come in pieces: the same PDV ends, the same bytes.
		expect(bytes.got.filter((g) => g.endsWith('end'))).toHaveLength(3);
		expect(bytes.got.filter((g) => g.startsWith('pdu'))).toEqual(['pdu 5 00000000']);
		const value = (ctx: string, kind: string) => bytes.got.filter((g) => g.startsWith(`pdv ${ctx} ${kind}`)).map((g) => g.split(' ').find((w) => /^[0-9a-f]+$/.test(w) && w !== ctx) ?? '').join('');
		expect(value('1', 'data')).toBe('aabbcc');
		expect(value('1', 'cmd')).toBe('0102');
	});

	it('refuses an unknown PDU type, an oversized PDU and a PDV that overruns its PDU, at the header', () => {
		expect(() => collect().reader.feed(Buffer.from([0x42, 0, 0, 0, 0, 0]))).toThrow(/unknown PDU/);
		expect(() => collect(100).reader.feed(Buffer.from([4, 0, 0, 0, 1, 0]))).toThrow(/exceeds/);
		const overrun = Buffer.from([4, 0, 0, 0, 0, 8, 0, 0, 0, 9, 1, 3, 0, 0]);
		expect(() => collect().reader.feed(overrun)).toThrow(/does not fit/);
	});
});
