/**
 * The senders of `radflow bench hl7`, run as a process of their own (as a
 * RIS or interface engine would be): `conns` MLLP connections, each with one
 * outstanding message (send, wait for the ACK, send the next), for `seconds`.
 * Prints one JSON line: messages acknowledged, elapsed seconds, ACK latency p99.
 * Mode `enhanced`: every message asks for a commit accept only (MSH-15 AL,
 * MSH-16 NE), and the sender waits for the CA, as an enhanced-mode sender does.
 *
 * Usage (by the bench): node --import tsx hl7-sender.ts <port> <conns> <seconds> <phase> [original|enhanced]
 */
import { performance } from 'node:perf_hooks';
import { SAMPLE, withControlId, withMshField } from '../hl7/samples';
import { MllpTestClient } from '../hl7/testing';

const MIX = [SAMPLE.ormNew, SAMPLE.omiNew, SAMPLE.adtA08, SAMPLE.oruReport, SAMPLE.oruLab];

/**
 * Message n on connection ci of a phase: control ids unique per phase, and each
 * cycle of the mix (order, order, ADT, report, labs) about its own patient and
 * accession, so a real store sees distinct work rather than one hot row.
 */
function messageFor(phase: string, ci: number, n: number, enhanced: boolean): string {
	const c = Math.floor(n / MIX.length);
	const cycle = `${phase}${ci}x${c}`;
	const studyUid = `2.25.${parseInt(phase, 36)}.${ci}.${c}`;
	const base = enhanced ? withMshField(withMshField(MIX[n % MIX.length], 15, 'AL'), 16, 'NE') : MIX[n % MIX.length];
	return withControlId(base, `B${phase}${ci}-${n}`)
		.replaceAll('MRN1234', `M${cycle}`)
		.replaceAll('P998877', `M${cycle}`)
		.replaceAll('ACC5001', `A${cycle}`)
		.replaceAll('ACC-OMI-1', `A${cycle}`)
		.replaceAll('1.2.840.113619.2.55.3.1234', studyUid)
		.replaceAll('1.2.826.0.1.3680043.8.498.1', studyUid);
}

export interface SenderResult {
	count: number;
	seconds: number;
	p99_ms: number;
	/** Wall-clock time (ms since the epoch) when the timed window ended: the bench measures what was still to apply from there. */
	ended_at_ms: number;
	/** The first ACK that was not AA/CA, if any (the run stops there). */
	error?: string;
}

async function send(port: number, conns: number, seconds: number, phase: string, enhanced: boolean): Promise<SenderResult> {
	const clients = await Promise.all(Array.from({ length: conns }, () => MllpTestClient.connect(port)));
	const latencies: number[] = [];
	let count = 0;
	let error: string | undefined;
	const start = performance.now();
	const until = start + seconds * 1000;
	await Promise.all(
		clients.map(async (c, ci) => {
			for (let n = 0; performance.now() < until && !error; n++) {
				const t0 = performance.now();
				const ack = await c.request(messageFor(phase, ci, n, enhanced));
				latencies.push(performance.now() - t0);
				if (!ack.includes(enhanced ? 'MSA|CA|' : 'MSA|AA|')) error = `unexpected ack: ${ack.slice(0, 200)}`;
				else count++;
			}
		})
	);
	const elapsed = (performance.now() - start) / 1000;
	const endedAt = performance.timeOrigin + performance.now();
	for (const c of clients) c.close();
	latencies.sort((a, b) => a - b);
	const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0;
	return { count, seconds: elapsed, p99_ms: p99, ended_at_ms: endedAt, ...(error ? { error } : {}) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
	const [port, conns, seconds, phase, mode] = process.argv.slice(2);
	const r = await send(Number(port), Number(conns), Number(seconds), phase, mode === 'enhanced');
	process.stdout.write(JSON.stringify(r) + '\n');
}
