/**
 * Which hosts may open an MLLP connection: HL7_ALLOWED_PEERS, a comma-separated
 * list of IP addresses, CIDR blocks (10.1.0.0/16, fd00::/8) and host names
 * (resolved once when the listener starts), or `*` for any.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import { normalizeAddress } from '../dicom/policy';

/** What HL7_ALLOWED_PEERS means when it is not set: this machine only. */
export const DEFAULT_ALLOWED_PEERS = '127.0.0.1,::1';

export class PeerListError extends Error {
	readonly code = 'invalid_peer_list';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'PeerListError';
	}
}

export interface PeerAllowList {
	/** True when every address is admitted (`*`). */
	readonly any: boolean;
	/** The entries as configured, for logs and the status page. */
	readonly entries: readonly string[];
	allows(remoteAddress: string | undefined): boolean;
}

const family = (ip: string) => (net.isIPv6(ip) ? 'ipv6' : 'ipv4');

/**
 * Parses and resolves an allow-list. Unknown host names are an error (a typo
 * must not silently lock a sender out or in).
 */
export async function resolvePeerAllowList(
	spec: string,
	lookup: (host: string) => Promise<string[]> = async (h) => (await dns.lookup(h, { all: true })).map((a) => a.address)
): Promise<PeerAllowList> {
	const entries = spec.split(/[,\s]+/).filter(Boolean);
	const any = entries.includes('*');
	const list = new net.BlockList();
	for (const entry of any ? [] : entries) {
		const [host, prefix, extra] = entry.split('/');
		if (extra !== undefined) throw new PeerListError(`HL7_ALLOWED_PEERS: "${entry}" is not an address, CIDR block or host name`);
		if (prefix !== undefined) {
			const bits = Number(prefix);
			const max = net.isIPv6(host) ? 128 : 32;
			if (!net.isIP(host) || !/^\d+$/.test(prefix) || bits > max) {
				throw new PeerListError(`HL7_ALLOWED_PEERS: "${entry}" is not a CIDR block (use e.g. 10.1.0.0/16)`);
			}
			list.addSubnet(host, bits, family(host));
			continue;
		}
		const addresses = net.isIP(host)
			? [host]
			: await lookup(host).catch((cause) => {
					throw new PeerListError(`HL7_ALLOWED_PEERS: cannot resolve host "${host}": fix the name or use its IP address`, { cause });
				});
		for (const a of addresses) list.addAddress(normalizeAddress(a), family(normalizeAddress(a)));
	}
	return {
		any,
		entries,
		allows(remoteAddress) {
			if (any) return true;
			const addr = normalizeAddress(remoteAddress);
			return net.isIP(addr) !== 0 && list.check(addr, family(addr));
		}
	};
}
