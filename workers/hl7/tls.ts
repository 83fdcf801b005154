/**
 * MLLP over TLS. HL7 v2 defines no secure transport of its own; the usual
 * practice (IHE ITI TF-2 "Secure Node", and most interface engines) is TLS
 * around the MLLP byte stream, optionally with client certificates.
 *
 * @see docs/hl7-interface-spec.md "Security" for how a sender connects.
 */
import { peerTlsFromEnv, secureServerOptions, type PeerTlsOptions } from '../dicom/tls';

export type Hl7TlsOptions = PeerTlsOptions;
export { secureServerOptions };

/**
 * HL7_TLS_CERT and HL7_TLS_KEY (PEM paths, both or neither) turn TLS on;
 * HL7_TLS_CA names the CA for client certificates and HL7_TLS_REQUIRE_CLIENT_CERT=1
 * refuses a peer without one it signed. Undefined = plain TCP.
 * @throws TlsConfigError on a half-set or unreadable configuration
 */
export function hl7TlsFromEnv(env: Record<string, string | undefined>): Hl7TlsOptions | undefined {
	return peerTlsFromEnv(env, 'HL7');
}
