/**
 * TLS for the protocol listeners: DICOM (PS3.15 B.1 "Basic TLS Secure
 * Transport Connection Profile") and MLLP (workers/hl7/tls.ts) load their key
 * material the same way, from `<PREFIX>_TLS_*` environment variables.
 */
import { readFileSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';

export interface PeerTlsOptions {
	key: string | Buffer;
	cert: string | Buffer;
	/** CA bundle used to verify client certificates. */
	ca?: string | Buffer;
	/** Require and verify a client certificate (mutual TLS). */
	requestCert?: boolean;
}
export type DicomTlsOptions = PeerTlsOptions;

export class TlsConfigError extends Error {
	readonly code = 'invalid_tls_config';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'TlsConfigError';
	}
}

/**
 * Reads `<prefix>_TLS_KEY` / `<prefix>_TLS_CERT` (PEM file paths, both or neither),
 * `<prefix>_TLS_CA` and `<prefix>_TLS_REQUIRE_CLIENT_CERT=1`. Returns undefined when TLS is off.
 */
export function peerTlsFromEnv(env: Record<string, string | undefined>, prefix: string): PeerTlsOptions | undefined {
	const [keyVar, certVar, caVar, requireVar] = ['KEY', 'CERT', 'CA', 'REQUIRE_CLIENT_CERT'].map((n) => `${prefix}_TLS_${n}`);
	const key = env[keyVar];
	const cert = env[certVar];
	const ca = env[caVar];
	const required = env[requireVar] === '1' || env[requireVar] === 'true';
	if (!key && !cert) {
		if (required || ca) throw new TlsConfigError(`${requireVar} / ${caVar} need TLS on: set ${keyVar} and ${certVar} too`);
		return undefined;
	}
	if (!key || !cert) throw new TlsConfigError(`${keyVar} and ${certVar} must be set together`);
	if (required && !ca) throw new TlsConfigError(`${requireVar}=1 needs ${caVar}: the CA that signed your peers' client certificates`);
	try {
		return { key: readFileSync(key), cert: readFileSync(cert), ca: ca ? readFileSync(ca) : undefined, requestCert: required };
	} catch (e) {
		throw new TlsConfigError(`cannot read TLS key material: ${(e as Error).message}`, { cause: e });
	}
}

/** DICOM_TLS_KEY, DICOM_TLS_CERT, DICOM_TLS_CA, DICOM_TLS_REQUIRE_CLIENT_CERT. */
export function tlsOptionsFromEnv(env: Record<string, string | undefined>): DicomTlsOptions | undefined {
	return peerTlsFromEnv(env, 'DICOM');
}

/** Options for `tls.createServer`: TLS 1.2 or later; with `requestCert`, a peer without a trusted certificate is refused in the handshake. */
export function secureServerOptions(t: PeerTlsOptions): TlsOptions {
	return { key: t.key, cert: t.cert, ca: t.ca, requestCert: !!t.requestCert, rejectUnauthorized: !!t.requestCert, minVersion: 'TLSv1.2' };
}
