/**
 * Fuzz target `dicom-pdu`: the real storage SCP (DicomServer, with its PDU guard,
 * filing to a real blob store in a temp folder) over a real loopback socket.
 * The input is the byte stream one peer sends: A-ASSOCIATE-RQ, P-DATA-TF with
 * command and dataset PDVs, A-RELEASE-RQ. Mutations work on PDUs and PDVs
 * (types, lengths, fragment flags, context ids, PDV splits, order) and on bytes.
 *
 * After every case the SCP must answer a C-ECHO on a fresh association, and a
 * C-STORE-RSP with Success must name an instance the sink recorded.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3 PS3.8 9.3
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Prng } from '../../src/lib/domain/routing/prng';
import { fixtureUid, makeInstance } from '../dicom/fixtures';
import { datasetOffset } from '../dicom/part10';
import { associateRequest, CommandField, commandStatus, decodeCommand, pdu, pDataPdu, PduType, releaseRequest, storeCommand } from '../dicom/pdu';
import { IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION_SOP_CLASS } from '../dicom/policy';
import { RawScu, statusOf } from '../dicom/raw-scu';
import { DicomServer, type InstanceSink, type ReceivedInstance } from '../dicom/server';
import { FileBlobStore } from '../dicom/storage';
import { havoc, INTERESTING_U32 } from './bytes';
import { exceptionFinding, FindingKind, invariantFinding, TargetName, type Finding, type FuzzTarget } from './target';

const AE = 'RADFLOW';
const EXPLICIT = '1.2.840.10008.1.2.1';
const CT = '1.2.840.10008.5.1.4.1.1.2';

/** C-ECHO-RQ command set (implicit VR LE). @see PS3.7 9.3.5.1 */
function echoCommand(messageId: number): Buffer {
	const el = (e: number, v: Buffer) => {
		const h = Buffer.alloc(8);
		h.writeUInt16LE(e, 2);
		h.writeUInt32LE(v.length, 4);
		return Buffer.concat([h, v]);
	};
	const us = (n: number) => Buffer.from([n & 0xff, n >> 8]);
	const sop = Buffer.from(`${VERIFICATION_SOP_CLASS}\0`, 'latin1');
	const body = Buffer.concat([el(0x0002, sop), el(0x0100, us(0x0030)), el(0x0110, us(messageId)), el(0x0800, us(0x0101))]);
	const len = Buffer.alloc(4);
	len.writeUInt32LE(body.length);
	return Buffer.concat([el(0x0000, len), body]);
}

function storeConversation(n: number, implicit: boolean, fragment: number): Buffer {
	const sop = fixtureUid(`fuzz-pdu-sop-${n}`);
	const file = makeInstance({
		studyUid: fixtureUid('fuzz-pdu-study'),
		seriesUid: fixtureUid('fuzz-pdu-series'),
		sopUid: sop,
		modality: 'CT',
		description: 'CT HEAD WO',
		patientId: `FUZZ-${n}`,
		accession: `ACC-${n}`,
		rows: 4,
		cols: 4,
		implicit
	});
	const dataset = file.subarray(datasetOffset(file)!);
	const pdvs: Buffer[] = [];
	for (let o = 0; o < dataset.length; o += fragment) pdvs.push(pDataPdu(1, dataset.subarray(o, o + fragment), false, o + fragment >= dataset.length));
	return Buffer.concat([
		associateRequest('FUZZSCU', AE, [{ abstractSyntax: CT, transferSyntaxes: [implicit ? IMPLICIT_VR_LITTLE_ENDIAN : EXPLICIT] }], 16_384),
		pDataPdu(1, storeCommand(CT, sop, n), true, true),
		...pdvs,
		releaseRequest()
	]);
}

export function pduSeeds(): Buffer[] {
	return [
		Buffer.concat([associateRequest('FUZZSCU', AE, [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }], 16_384), pDataPdu(1, echoCommand(1), true, true), releaseRequest()]),
		storeConversation(1, false, 1 << 16),
		storeConversation(2, true, 100)
	];
}

interface Pdu {
	type: number;
	body: Buffer;
}

/** Splits a stream into PDUs as far as their headers allow; the rest stays as a tail. */
function splitPdus(stream: Buffer): { pdus: Pdu[]; tail: Buffer } {
	const pdus: Pdu[] = [];
	let p = 0;
	while (p + 6 <= stream.length) {
		const len = stream.readUInt32BE(p + 2);
		if (p + 6 + len > stream.length) break;
		pdus.push({ type: stream[p], body: stream.subarray(p + 6, p + 6 + len) });
		p += 6 + len;
	}
	return { pdus, tail: stream.subarray(p) };
}

/** Splits a P-DATA-TF body into PDVs (length, context id, flags, value). */
function splitPdvs(body: Buffer): { contextId: number; flags: number; value: Buffer }[] | null {
	const out = [];
	let p = 0;
	while (p + 6 <= body.length) {
		const len = body.readUInt32BE(p);
		if (len < 2 || p + 4 + len > body.length) return null;
		out.push({ contextId: body[p + 4], flags: body[p + 5], value: body.subarray(p + 6, p + 4 + len) });
		p += 4 + len;
	}
	return p === body.length ? out : null;
}

function joinPdvs(pdvs: { contextId: number; flags: number; value: Buffer }[]): Buffer {
	return Buffer.concat(
		pdvs.map((v) => {
			const h = Buffer.alloc(6);
			h.writeUInt32BE(v.value.length + 2, 0);
			h[4] = v.contextId;
			h[5] = v.flags;
			return Buffer.concat([h, v.value]);
		})
	);
}

/** One structure-aware mutation of a PDU stream. */
export function mutatePduStream(stream: Buffer, rand: Prng, corpus: readonly Buffer[]): Buffer {
	const { pdus, tail } = splitPdus(stream);
	if (pdus.length === 0 || rand.next() < 0.15) return havoc(stream, rand, rand.pick(corpus));
	const i = rand.int(0, pdus.length - 1);
	const join = (list: Pdu[]) => Buffer.concat([...list.map((x) => pdu(x.type, x.body)), tail]);
	const target = pdus[i];
	switch (rand.int(0, 8)) {
		case 0: {
			// A PDU length that lies.
			const out = join(pdus);
			let at = 0;
			for (let k = 0; k < i; k++) at += 6 + pdus[k].body.length;
			out.writeUInt32BE(rand.pick([...INTERESTING_U32, target.body.length + 1, Math.max(0, target.body.length - 1)]) >>> 0, at + 2);
			return out;
		}
		case 1:
			target.type = rand.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 0xff]);
			return join(pdus);
		case 2: {
			// PDV fields: flags (command / last fragment), context id, length.
			const pdvs = target.type === PduType.pData ? splitPdvs(target.body) : null;
			if (!pdvs?.length) return join(pdus);
			const v = rand.pick(pdvs);
			const field = rand.int(0, 2);
			if (field === 0) v.flags = rand.pick([0, 1, 2, 3, 4, 0xff]);
			else if (field === 1) v.contextId = rand.pick([0, 1, 2, 3, 255]);
			else {
				target.body = joinPdvs(pdvs);
				target.body.writeUInt32BE(rand.pick(INTERESTING_U32) >>> 0, 0);
				return join(pdus);
			}
			target.body = joinPdvs(pdvs);
			return join(pdus);
		}
		case 3: {
			// PDV splits: one value into many fragments, in one PDU or many.
			const pdvs = target.type === PduType.pData ? splitPdvs(target.body) : null;
			if (!pdvs?.length) return join(pdus);
			const v = pdvs[0];
			const size = rand.pick([1, 2, 7, 100, 4096]);
			const pieces: { contextId: number; flags: number; value: Buffer }[] = [];
			for (let o = 0; o < v.value.length || pieces.length === 0; o += size) {
				pieces.push({ contextId: v.contextId, flags: (v.flags & 1) | (o + size >= v.value.length ? v.flags & 2 : 0), value: v.value.subarray(o, o + size) });
			}
			const replacement = rand.next() < 0.5 ? [{ type: PduType.pData, body: joinPdvs(pieces) }] : pieces.map((x) => ({ type: PduType.pData, body: joinPdvs([x]) }));
			pdus.splice(i, 1, ...replacement);
			return join(pdus);
		}
		case 4:
			pdus.splice(i, 1);
			return join(pdus);
		case 5:
			pdus.splice(i, 0, ...Array.from({ length: rand.int(1, 3) }, () => ({ ...target })));
			return join(pdus);
		case 6: {
			const j = rand.int(0, pdus.length - 1);
			[pdus[i], pdus[j]] = [pdus[j], pdus[i]];
			return join(pdus);
		}
		case 7:
			target.body = havoc(target.body, rand);
			return join(pdus);
		default:
			return join(pdus).subarray(0, rand.int(0, stream.length));
	}
}

class RecordingSink implements InstanceSink {
	readonly stored = new Map<string, ReceivedInstance>();
	async store(obj: ReceivedInstance): Promise<void> {
		this.stored.set(obj.attributes.sopInstanceUid, obj);
	}
}

/** Sends the stream on a fresh connection and collects what the SCP answers until it closes. */
function converse(port: number, stream: Buffer, closeAfterMs: number): Promise<Buffer> {
	return new Promise((resolve) => {
		const chunks: Buffer[] = [];
		const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
			s.write(stream);
			s.end();
		});
		const timer = setTimeout(() => s.destroy(), closeAfterMs);
		s.on('data', (d) => chunks.push(d));
		s.on('error', () => {});
		s.on('close', () => {
			clearTimeout(timer);
			resolve(Buffer.concat(chunks));
		});
	});
}

/** Every C-STORE-RSP with Success in the SCP's answer must name an instance the sink has and the blob store holds. */
async function checkAcknowledged(answer: Buffer, sink: RecordingSink): Promise<Finding | null> {
	for (const p of splitPdus(answer).pdus) {
		if (p.type !== PduType.pData) continue;
		for (const v of splitPdvs(p.body) ?? []) {
			if (!(v.flags & 1)) continue;
			let cmd;
			try {
				cmd = decodeCommand(v.value);
			} catch {
				return invariantFinding('response-command', 'the SCP sent a command set that does not decode');
			}
			if (cmd.commandField !== CommandField.cStoreRsp || commandStatus(v.value) !== 0) continue;
			const got = sink.stored.get(cmd.affectedSopInstanceUid);
			if (!got) return invariantFinding('acked-not-stored', `C-STORE-RSP Success for ${cmd.affectedSopInstanceUid}, which the sink never received`);
			if (!fs.existsSync(got.blobPath)) return invariantFinding('acked-no-blob', 'C-STORE-RSP Success but the blob is not in the store');
		}
	}
	return null;
}

/** A C-ECHO on a fresh association must succeed. */
async function echo(port: number): Promise<Finding | null> {
	const unavailable = (why: string): Finding => ({ kind: FindingKind.unavailable, signature: `unavailable: dicom-pdu ${why}`, message: `after this case the SCP ${why}` });
	let scu: RawScu;
	try {
		scu = await RawScu.connect(port);
	} catch {
		return unavailable('refused a connection');
	}
	try {
		scu.send(associateRequest('FUZZECHO', AE, [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }], 16_384));
		const ac = await scu.nextPdu(3000);
		if (ac?.type !== PduType.associateAc) return unavailable('did not accept an association');
		scu.send(pDataPdu(1, echoCommand(7), true, true));
		const rsp = await scu.nextPdu(3000);
		if (rsp?.type !== PduType.pData || statusOf(rsp.body) !== 0) return unavailable('did not answer C-ECHO with Success');
		scu.send(releaseRequest());
		const rp = await scu.nextPdu(3000);
		if (rp?.type !== PduType.releaseRp) return unavailable('did not answer A-RELEASE-RQ');
		return null;
	} catch {
		return unavailable('stopped answering');
	} finally {
		scu.close();
	}
}

export async function createDicomPduTarget(): Promise<FuzzTarget> {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radflow-fuzz-dicom-'));
	const sink = new RecordingSink();
	const server = new DicomServer(
		{
			port: 0,
			host: '127.0.0.1',
			aeTitle: AE,
			allowedPeers: 'any',
			maxPduLength: 65_536,
			maxObjectBytes: 1024 * 1024,
			idleTimeoutMs: 2_000
		},
		{ blobStore: new FileBlobStore(dir), sink, log: () => {} }
	);
	const { port } = await server.start();
	return {
		name: TargetName.dicomPdu,
		caseTimeoutMs: 8_000,
		seeds: pduSeeds,
		mutate: mutatePduStream,
		async execute(input) {
			let answer: Buffer;
			try {
				answer = await converse(port, input, 5_000);
			} catch (e) {
				return exceptionFinding(e, 'dicom-pdu client');
			}
			return checkAcknowledged(answer, sink);
		},
		healthy: () => echo(port),
		async close() {
			await server.stop();
			fs.rmSync(dir, { recursive: true, force: true });
		}
	};
}
