/**
 * DICOM TLS (PS3.15 B.1 "Basic TLS Secure Transport Connection Profile"):
 * loads the key material named by environment variables.
 */
import { readFileSync } from 'node:fs';

export interface DicomTlsOptions {
	key: string | Buffer;
	cert: string | Buffer;
	/** CA bundle used to verify client certificates. */
	ca?: string | Buffer;
	/** Require and verify a client certificate (mutual TLS). */
	requestCert?: boolean;
}

export class TlsConfigError extends Error {
	readonly code = 'invalid_tls_config';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'TlsConfigError';
	}
}

/**
 * Reads DICOM_TLS_KEY / DICOM_TLS_CERT (PEM file paths, both or neither),
 * DICOM_TLS_CA and DICOM_TLS_REQUIRE_CLIENT_CERT=1. Returns undefined when TLS is off.
 */
export function tlsOptionsFromEnv(env: Record<string, string | undefined>): DicomTlsOptions | undefined {
	const { DICOM_TLS_KEY: key, DICOM_TLS_CERT: cert, DICOM_TLS_CA: ca } = env;
	if (!key && !cert) return undefined;
	if (!key || !cert) throw new TlsConfigError('DICOM_TLS_KEY and DICOM_TLS_CERT must be set together');
	try {
		return {
			key: readFileSync(key),
			cert: readFileSync(cert),
			ca: ca ? readFileSync(ca) : undefined,
			requestCert: env.DICOM_TLS_REQUIRE_CLIENT_CERT === '1' || env.DICOM_TLS_REQUIRE_CLIENT_CERT === 'true'
		};
	} catch (e) {
		throw new TlsConfigError(`cannot read TLS key material: ${(e as Error).message}`, { cause: e });
	}
}
