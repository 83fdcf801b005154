/**
 * Association policy of the Radflow storage SCP: which peers may associate,
 * which SOP classes and transfer syntaxes are accepted. Pure functions and
 * tables, so the conformance statement can be checked against them.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part08.html#sect_9.3.4 PS3.8 9.3.4 A-ASSOCIATE-RJ
 * @see https://dicom.nema.org/medical/dicom/current/output/html/part04.html#chapter_B PS3.4 Annex B Storage Service Class
 */

/** Verification SOP Class (C-ECHO). PS3.4 Annex A. */
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** Every Storage SOP Class UID lives under this root (PS3.6 Annex A, PS3.4 B.5). */
export const STORAGE_SOP_CLASS_ROOT = '1.2.840.10008.5.1.4.1.1.';

/** Transfer syntaxes the SCP accepts; objects are stored as received, never transcoded. PS3.5 Annex A. */
export const ACCEPTED_TRANSFER_SYNTAXES = [
	{ uid: '1.2.840.10008.1.2', name: 'Implicit VR Little Endian' },
	{ uid: '1.2.840.10008.1.2.1', name: 'Explicit VR Little Endian' },
	{ uid: '1.2.840.10008.1.2.1.99', name: 'Deflated Explicit VR Little Endian' },
	{ uid: '1.2.840.10008.1.2.4.50', name: 'JPEG Baseline (Process 1)' },
	{ uid: '1.2.840.10008.1.2.4.51', name: 'JPEG Extended (Process 2 & 4)' },
	{ uid: '1.2.840.10008.1.2.4.57', name: 'JPEG Lossless, Non-Hierarchical (Process 14)' },
	{ uid: '1.2.840.10008.1.2.4.70', name: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])' },
	{ uid: '1.2.840.10008.1.2.4.80', name: 'JPEG-LS Lossless Image Compression' },
	{ uid: '1.2.840.10008.1.2.4.81', name: 'JPEG-LS Lossy (Near-Lossless) Image Compression' },
	{ uid: '1.2.840.10008.1.2.4.90', name: 'JPEG 2000 Image Compression (Lossless Only)' },
	{ uid: '1.2.840.10008.1.2.4.91', name: 'JPEG 2000 Image Compression' },
	{ uid: '1.2.840.10008.1.2.5', name: 'RLE Lossless' }
] as const;
export const ACCEPTED_TRANSFER_SYNTAX_UIDS: ReadonlySet<string> = new Set(ACCEPTED_TRANSFER_SYNTAXES.map((t) => t.uid));

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';

/** A-ASSOCIATE-RJ parameters (PS3.8 Table 9-21). */
export const RejectResult = { permanent: 1, transient: 2 } as const;
export const RejectSource = { serviceUser: 1, acse: 2, presentation: 3 } as const;
export const RejectReason = {
	noReasonGiven: 1,
	applicationContextNotSupported: 2,
	callingAeNotRecognized: 3,
	calledAeNotRecognized: 7,
	/** With source 2 (ACSE). */
	protocolVersionNotSupported: 2
} as const;

/** An allowed peer: AE title, optionally bound to a host (IP literal or DNS name). */
export interface AllowedPeer {
	aeTitle: string;
	host: string | null;
}
/** 'any' admits every calling AE ('*'). */
export type AllowedPeers = 'any' | readonly AllowedPeer[];

export class PeerConfigError extends Error {
	readonly code = 'invalid_peer_config';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'PeerConfigError';
	}
}

const AE_RE = /^[\x20-\x5b\x5d-\x7e]{1,16}$/; // PS3.5 AE: 16 chars, no backslash or control chars

/**
 * Parses DICOM_ALLOWED_AES: comma/space separated 'AE' or 'AE@host' entries; '*' = any peer.
 * @throws PeerConfigError on an invalid AE title
 */
export function parseAllowedPeers(spec: string | null | undefined): AllowedPeers {
	const entries = (spec ?? '').split(/[,\s]+/).filter(Boolean);
	if (entries.includes('*')) return 'any';
	return entries.map((e) => {
		const at = e.lastIndexOf('@');
		const aeTitle = (at > 0 ? e.slice(0, at) : e).trim();
		const host = at > 0 ? e.slice(at + 1).trim().toLowerCase() : null;
		if (!AE_RE.test(aeTitle)) throw new PeerConfigError(`invalid AE title "${aeTitle}" in DICOM_ALLOWED_AES`);
		return { aeTitle, host: host || null };
	});
}

/** Strips the IPv4-mapped IPv6 prefix so "::ffff:127.0.0.1" matches "127.0.0.1". */
export function normalizeAddress(address: string | undefined): string {
	return (address ?? '').replace(/^::ffff:/i, '').toLowerCase();
}

/**
 * Decides whether a calling AE from `remoteAddresses` (the peer address, plus the
 * addresses a configured host name resolves to, when the caller resolved them) may associate.
 */
export function isPeerAllowed(
	peers: AllowedPeers,
	callingAe: string,
	remoteAddress: string,
	resolvedHosts: ReadonlyMap<string, readonly string[]> = new Map()
): boolean {
	if (peers === 'any') return true;
	const ae = callingAe.trim();
	const addr = normalizeAddress(remoteAddress);
	return peers.some((p) => {
		if (p.aeTitle !== ae) return false;
		if (!p.host) return true;
		if (normalizeAddress(p.host) === addr) return true;
		return (resolvedHosts.get(p.host) ?? []).some((a) => normalizeAddress(a) === addr);
	});
}

/** True for Verification and every Storage SOP Class. */
export function isAcceptedAbstractSyntax(uid: string, extra: ReadonlySet<string> = new Set()): boolean {
	return uid === VERIFICATION_SOP_CLASS || uid.startsWith(STORAGE_SOP_CLASS_ROOT) || extra.has(uid);
}

/** Outcome of negotiating one presentation context (PS3.8 9.3.3.2 result values). */
export type ContextDecision =
	| { result: 'accept'; transferSyntax: string }
	| { result: 'abstract-syntax-not-supported' }
	| { result: 'transfer-syntaxes-not-supported' };

/**
 * Negotiates one presentation context. The SCP honours the sender's order of
 * preference: the first proposed syntax we accept wins, so nothing is transcoded.
 */
export function negotiateContext(
	abstractSyntax: string,
	proposed: readonly string[],
	extraSopClasses: ReadonlySet<string> = new Set()
): ContextDecision {
	if (!isAcceptedAbstractSyntax(abstractSyntax, extraSopClasses)) return { result: 'abstract-syntax-not-supported' };
	const ts = proposed.find((t) => ACCEPTED_TRANSFER_SYNTAX_UIDS.has(t));
	return ts ? { result: 'accept', transferSyntax: ts } : { result: 'transfer-syntaxes-not-supported' };
}
