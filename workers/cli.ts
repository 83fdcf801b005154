/**
 * `radflow` — one CLI for every role and tool.
 * Configuration comes from the environment (see `radflow --help`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/lib/server/config';
import { boot, createLogger, runUntilSignal, type Runtime } from './runtime';
import { startRoles, ROLE_NAMES, type RoleName } from './roles';

const HERE = path.dirname(fileURLToPath(import.meta.url));

interface Command {
	summary: string;
	usage: string | (() => Promise<string>);
	run(args: string[]): Promise<number | void>;
}

const ENV_HELP = `Environment (defaults in brackets):
  DATABASE_URL         PostgreSQL URL [unset: embedded PostgreSQL under RADFLOW_DATA_DIR/pg]
  RADFLOW_DATA_DIR     data folder: embedded database, received images [./data]
  PORT, HOST           dashboard and DICOMweb [3000, 0.0.0.0]
  DICOM_PORT           DIMSE storage SCP [11112]
  DICOM_AE_TITLE       our AE title [RADFLOW]
  DICOM_ALLOWED_AES    calling AE titles allowed, comma-separated, AE or AE@host; * = any [none]
  HL7_PORT             MLLP listener [2575]
  HL7_ALLOWED_PEERS    hosts allowed to connect: addresses, CIDR blocks, host names; * = any [127.0.0.1,::1]
  HL7_TLS_CERT/_KEY/_CA, HL7_TLS_REQUIRE_CLIENT_CERT   MLLP over TLS (PEM files) [off]
  TRIAGE_BACKEND       tensorflow backend: tfjs-node-gpu | tfjs-node | wasm | cpu [best available]
  RADFLOW_ADMIN_PASSWORD  password for the first admin [random, printed once]
  LOG_LEVEL            debug | info | warn | error [info]`;

async function runRoles(roles: RoleName[], extra: { simulate?: string[] } = {}): Promise<void> {
	const rt = await boot();
	const log = rt.ctx.log;
	try {
		await startRoles(rt, roles, extra);
	} catch (err) {
		await rt.shutdown();
		throw err;
	}
	await runUntilSignal(rt, log);
}

function roleCommand(role: RoleName, summary: string): Command {
	return {
		summary,
		usage: `radflow ${role}\n\n${summary}\n\n${ENV_HELP}`,
		run: () => runRoles([role])
	};
}

async function withRuntime<T>(fn: (rt: Runtime) => Promise<T>, jobs = false): Promise<T> {
	const rt = await boot({ jobs, announceAdmin: false });
	try {
		return await fn(rt);
	} finally {
		await rt.shutdown();
	}
}

/** The demo's traffic: four weeks of history, then one simulated hour every 3 real minutes. */
const DEMO_SIMULATOR_ARGS = ['--backfill', '28d', '--speed', '20'];

const COMMANDS: Record<string, Command> = {
	start: {
		summary: 'run every role in one process: web, dicom, hl7, triage, route',
		usage: `radflow start\n\nRuns every role in one process (small sites, the demo).\n\n${ENV_HELP}`,
		run: () => runRoles([...ROLE_NAMES])
	},
	demo: {
		summary: 'start everything plus the simulated hospital network with backfilled history',
		usage: `radflow demo [simulator options]\n\nLike start, plus \`radflow simulate\` in the same process (default: --backfill 28d --speed 20).\nAdmits the simulated modalities' AE titles from 127.0.0.1 unless DICOM_ALLOWED_AES is set.`,
		run: async (args) => {
			// The simulated modalities are the only DICOM peers the demo admits, from this machine.
			if (!process.env.DICOM_ALLOWED_AES) {
				const { buildNetwork, callingAeTitles } = await import('./simulator/network');
				process.env.DICOM_ALLOWED_AES = callingAeTitles(buildNetwork()).map((ae) => `${ae}@127.0.0.1`).join(',');
			}
			return runRoles([...ROLE_NAMES, 'simulate'], { simulate: args.length ? args : DEMO_SIMULATOR_ARGS });
		}
	},
	web: roleCommand('web', 'the dashboard, DICOMweb and the live socket.io feed'),
	dicom: roleCommand('dicom', 'the DICOM storage SCP (C-ECHO, C-STORE)'),
	hl7: roleCommand('hl7', 'the HL7 v2 MLLP listener (orders, ADT, results)'),
	triage: roleCommand('triage', 'the AI triage worker (takes completed studies from the job queue)'),
	route: roleCommand('route', 'the router: assigns studies to readers, keeps SLA deadlines and risk alerts'),
	simulate: {
		summary: 'simulated hospital traffic over the real protocols',
		usage: async () => (await import('./simulator/run')).USAGE,
		run: (args) => runRoles(['simulate'], { simulate: args })
	},
	migrate: {
		summary: 'apply database migrations and exit',
		usage: `radflow migrate\n\nApplies migrations/*.sql that have not run yet.\n\n${ENV_HELP}`,
		run: () => withRuntime(async () => {})
	},
	user: {
		summary: 'manage dashboard users: radflow user add --username U --role manager|charge|admin',
		usage: 'radflow user add --username <name> --role <manager|charge|admin> [--password <pw>] [--name "Display Name"]\n\nPrints the password when none is given.',
		run: async (args) => {
			const [sub, ...rest] = args;
			if (sub !== 'add') throw new ConfigError('usage: radflow user add --username <name> --role <manager|charge|admin>');
			const { values } = parseArgs({ args: rest, options: { username: { type: 'string' }, role: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' } } });
			if (!values.username || !values.role) throw new ConfigError('radflow user add needs --username and --role.');
			const { createUser, newPassword } = await import('../src/lib/server/auth/users');
			const password = values.password ?? newPassword();
			await withRuntime((rt) =>
				createUser(rt.ctx.db.sql, { username: values.username!, role: values.role as never, password, displayName: values.name }, { userId: null, username: 'cli', role: 'admin' })
			);
			process.stdout.write(`created ${values.username} (${values.role})${values.password ? '' : `, password: ${password}`}\n`);
		}
	},
	audit: {
		summary: 'verify the audit log hash chain: radflow audit verify',
		usage: 'radflow audit verify\n\nRecomputes every hash of the append-only audit log; exits 1 if any row was altered or removed.',
		run: async (args) => {
			if (args[0] !== 'verify') throw new ConfigError('usage: radflow audit verify');
			const { verifyAuditChain } = await import('../src/lib/server/auth/audit');
			const r = await withRuntime((rt) => verifyAuditChain(rt.ctx.db.sql));
			process.stdout.write(JSON.stringify(r) + '\n');
			return r.ok ? 0 : 1;
		}
	},
	bench: {
		summary: 'run a benchmark: radflow bench <name> (prints a final JSON line)',
		usage: 'radflow bench <events|dicom|hl7|statements|triage|routing|forecast|load> [options]\n\nEach benchmark measures a baseline in the same run and ends with one JSON line.',
		run: async (args) => {
			const [name, ...rest] = args;
			const file = name && path.join(HERE, 'bench', `${name}.ts`);
			if (!file || !/^[a-z0-9-]+$/.test(name) || !fs.existsSync(file)) {
				const have = fs.readdirSync(path.join(HERE, 'bench')).filter((f) => f.endsWith('.ts') && !f.includes('.test.')).map((f) => f.replace(/\.ts$/, ''));
				throw new ConfigError(`unknown benchmark '${name ?? ''}': choose one of ${have.join(', ')}`);
			}
			const mod = (await import(file)) as { run(args: string[]): Promise<Record<string, unknown>> };
			const result = await mod.run(rest);
			process.stdout.write(JSON.stringify({ bench: name, ...result }) + '\n');
		}
	},
	fuzz: {
		summary: 'fuzz the DICOM and HL7 receive paths for a bounded time (prints a final JSON line)',
		usage: async () => (await import('./fuzz/run')).USAGE,
		run: async (args) => {
			const result = await (await import('./fuzz/run')).run(args);
			process.stdout.write(JSON.stringify(result) + '\n');
			return result.new_crashes > 0 ? 1 : 0;
		}
	},
	'import-volumes': {
		summary: 'load hourly exam counts exported from a RIS (CSV) as forecasting history',
		usage: 'radflow import-volumes <file.csv>\n\nCSV columns: timestamp, site, exam or modality, count.',
		run: async (args) => (await import('./forecast/commands')).importVolumes(args)
	},
	forecast: {
		summary: 'forecast a single time series from a CSV (timestamp,value)',
		usage: 'radflow forecast --csv <file> [--periods 24,168] [--horizon <hours>]\n\nPrints the forecast with 80%/95% intervals as CSV.',
		run: async (args) => (await import('./forecast/commands')).forecastCsv(args)
	}
};

function help(): string {
	const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
	return `radflow — radiology orchestration\n\nUsage: radflow <command> [options]   (radflow <command> --help for details)\n\nCommands:\n${Object.entries(
		COMMANDS
	)
		.map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`)
		.join('\n')}\n\n${ENV_HELP}\n`;
}

async function main(argv: string[]): Promise<number> {
	const [name, ...args] = argv;
	if (!name || name === '--help' || name === '-h' || name === 'help') {
		process.stdout.write(help());
		return name ? 0 : 1;
	}
	const cmd = COMMANDS[name];
	if (!cmd) {
		process.stderr.write(`radflow: unknown command '${name}'. Run \`radflow --help\` for the list.\n`);
		return 2;
	}
	if (args.includes('--help') || args.includes('-h')) {
		process.stdout.write((typeof cmd.usage === 'string' ? cmd.usage : await cmd.usage()) + '\n');
		return 0;
	}
	const code = await cmd.run(args);
	return typeof code === 'number' ? code : 0;
}

main(process.argv.slice(2)).then(
	(code) => process.exit(code),
	(err) => {
		if (err instanceof ConfigError) {
			process.stderr.write(`radflow: ${err.message}\n`);
			process.exit(2);
		}
		createLogger('radflow').error('fatal', { err });
		process.stderr.write(`radflow: ${(err as Error)?.message ?? err}\n`);
		process.exit(1);
	}
);
