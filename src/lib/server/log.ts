/**
 * Structured logs: one JSON object per line on stderr. Log identifiers
 * (study id, accession, AE title, MSH-10), never names, birth dates or report text.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
	debug(msg: string, fields?: Record<string, unknown>): void;
	info(msg: string, fields?: Record<string, unknown>): void;
	warn(msg: string, fields?: Record<string, unknown>): void;
	error(msg: string, fields?: Record<string, unknown>): void;
	child(prefix: string): Logger;
}

/**
 * PostgreSQL data exceptions (SQLSTATE class 22, e.g. 22P02 "invalid input
 * syntax for type date: \"…\"") quote the value that failed, which can be a
 * patient's name or birth date: the quotes' content is dropped.
 */
function errorMessage(err: Error): string {
	const code = (err as { code?: unknown }).code;
	return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code) ? err.message.replace(/"[^"]*"|'[^']*'/g, '"[value withheld]"') : err.message;
}

/** An error as one log-safe line: `Name: message`, data values that PostgreSQL quotes withheld. */
export function safeErrorText(err: unknown): string {
	return err instanceof Error ? `${err.name}: ${errorMessage(err)}` : String(err);
}

function errorFields(err: unknown): Record<string, unknown> {
	if (err instanceof Error) {
		const code = (err as { code?: unknown }).code;
		return { error: errorMessage(err), ...(code !== undefined ? { code } : {}) };
	}
	return { error: String(err) };
}

/**
 * Fields that by their name hold PHI or whole messages. Callers should never
 * pass them; if one slips through, its value is withheld, not written.
 */
const PHI_FIELD = /^(patient_?name|birth_?date|dob|patient_?birth_?date|patient_?address|phone|ssn|raw|raw_?message|message_?text|dataset|segments)$/i;

function withoutPhi(fields: Record<string, unknown>): Record<string, unknown> {
	let out: Record<string, unknown> | null = null;
	for (const k of Object.keys(fields)) {
		if (PHI_FIELD.test(k) && fields[k] !== undefined && fields[k] !== null) (out ??= { ...fields })[k] = '[withheld: PHI]';
	}
	return out ?? fields;
}

export function createLogger(channel = 'radflow', level: LogLevel = (process.env.LOG_LEVEL as LogLevel) ?? 'info'): Logger {
	const min = ORDER[level] ?? ORDER.info;
	const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
		if (ORDER[lvl] < min) return;
		const safe = fields && withoutPhi(fields);
		const extra = safe && 'err' in safe ? { ...safe, ...errorFields(safe.err), err: undefined } : safe;
		process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level: lvl, channel, msg, ...extra }) + '\n');
	};
	return {
		debug: (m, f) => write('debug', m, f),
		info: (m, f) => write('info', m, f),
		warn: (m, f) => write('warn', m, f),
		error: (m, f) => write('error', m, f),
		child: (prefix) => createLogger(`${channel}.${prefix}`, level)
	};
}
