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

function errorFields(err: unknown): Record<string, unknown> {
	if (err instanceof Error) {
		const code = (err as { code?: unknown }).code;
		return { error: err.message, ...(code !== undefined ? { code } : {}) };
	}
	return { error: String(err) };
}

export function createLogger(channel = 'radflow', level: LogLevel = (process.env.LOG_LEVEL as LogLevel) ?? 'info'): Logger {
	const min = ORDER[level] ?? ORDER.info;
	const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
		if (ORDER[lvl] < min) return;
		const extra = fields && 'err' in fields ? { ...fields, ...errorFields(fields.err), err: undefined } : fields;
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
