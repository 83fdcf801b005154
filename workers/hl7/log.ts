/**
 * Minimal structured logger interface for the HL7 edge: one JSON object per line.
 * Fields must hold identifiers only (connection id, control id, codes), never PHI.
 */
export interface Hl7Logger {
	debug(event: string, fields?: Record<string, unknown>): void;
	info(event: string, fields?: Record<string, unknown>): void;
	warn(event: string, fields?: Record<string, unknown>): void;
	error(event: string, fields?: Record<string, unknown>): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** JSON-lines logger writing to a stream (stderr by default). */
export function jsonLogger(options: { level?: Level; write?: (line: string) => void; name?: string } = {}): Hl7Logger {
	const min = LEVELS.indexOf(options.level ?? 'info');
	const write = options.write ?? ((line: string) => process.stderr.write(line));
	const name = options.name ?? 'hl7';
	const at = (level: Level) => (event: string, fields?: Record<string, unknown>) => {
		if (LEVELS.indexOf(level) < min) return;
		try {
			write(JSON.stringify({ time: new Date().toISOString(), level, name, event, ...fields }) + '\n');
		} catch {
			// A logger must never throw into protocol code.
		}
	};
	return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Hl7Logger = { debug() {}, info() {}, warn() {}, error() {} };
