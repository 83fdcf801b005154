/**
 * Configuration from the environment, validated once, with documented defaults.
 * Every problem is reported as one line that says what to fix.
 */
import path from 'node:path';

export class ConfigError extends Error {
	readonly code = 'config_invalid';
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'ConfigError';
	}
}

export interface RadflowConfig {
	/** PostgreSQL URL; null = start the embedded server under dataDir. */
	databaseUrl: string | null;
	dataDir: string;
	/** Web (dashboard + DICOMweb) port. */
	port: number;
	host: string;
	dicom: { port: number; aeTitle: string; allowedAes: string; maxObjectBytes: number };
	hl7: { port: number; maxFrameBytes: number; unknownTypes: 'ack' | 'reject' };
	/** Origin the dashboard is served from, for the CSRF check; null = same host. */
	origin: string | null;
	logLevel: 'debug' | 'info' | 'warn' | 'error';
}

type Env = Record<string, string | undefined>;

function port(env: Env, name: string, fallback: number): number {
	const raw = env[name];
	if (raw === undefined || raw === '') return fallback;
	const n = Number(raw);
	if (!Number.isInteger(n) || n < 0 || n > 65535) {
		throw new ConfigError(`${name}=${raw} is not a TCP port: set it to a whole number 1-65535 (or 0 for any free port).`);
	}
	return n;
}

function positiveInt(env: Env, name: string, fallback: number): number {
	const raw = env[name];
	if (raw === undefined || raw === '') return fallback;
	const n = Number(raw);
	if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name}=${raw} must be a positive whole number.`);
	return n;
}

function databaseUrl(env: Env): string | null {
	const raw = env.DATABASE_URL;
	if (!raw) return null;
	let url: URL;
	try {
		url = new URL(raw);
	} catch (cause) {
		throw new ConfigError(
			'DATABASE_URL is not a valid URL: use postgres://user:password@host:5432/database, or unset it to use the embedded database.',
			{ cause }
		);
	}
	if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
		throw new ConfigError(`DATABASE_URL must start with postgres:// (got ${url.protocol}//): point it at a PostgreSQL server.`);
	}
	return raw;
}

/** Read and validate configuration. Throws ConfigError with a one-line fix. */
export function loadConfig(env: Env = process.env): RadflowConfig {
	const level = (env.LOG_LEVEL ?? 'info') as RadflowConfig['logLevel'];
	if (!['debug', 'info', 'warn', 'error'].includes(level)) {
		throw new ConfigError(`LOG_LEVEL=${level} is not one of debug, info, warn, error.`);
	}
	const unknownTypes = env.HL7_UNKNOWN_TYPES ?? 'reject';
	if (unknownTypes !== 'ack' && unknownTypes !== 'reject') {
		throw new ConfigError(`HL7_UNKNOWN_TYPES=${unknownTypes} must be 'ack' (accept and ignore) or 'reject'.`);
	}
	const ae = env.DICOM_AE_TITLE ?? 'RADFLOW';
	if (!/^[\x20-\x7e]{1,16}$/.test(ae) || ae.includes('\\')) {
		throw new ConfigError(`DICOM_AE_TITLE=${ae} must be 1-16 printable ASCII characters without a backslash.`);
	}
	return {
		databaseUrl: databaseUrl(env),
		dataDir: path.resolve(env.RADFLOW_DATA_DIR ?? './data'),
		port: port(env, 'PORT', 3000),
		host: env.HOST ?? '0.0.0.0',
		dicom: {
			port: port(env, 'DICOM_PORT', 11112),
			aeTitle: ae,
			allowedAes: env.DICOM_ALLOWED_AES ?? '',
			maxObjectBytes: positiveInt(env, 'DICOM_MAX_OBJECT_BYTES', 512 * 1024 * 1024)
		},
		hl7: {
			port: port(env, 'HL7_PORT', 2575),
			maxFrameBytes: positiveInt(env, 'HL7_MAX_FRAME_BYTES', 1024 * 1024),
			unknownTypes
		},
		origin: env.ORIGIN ?? null,
		logLevel: level
	};
}
