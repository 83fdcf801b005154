/**
 * CLI commands of forecasting:
 * - `radflow import-volumes <file.csv>`: RIS volume export → `volume_history`;
 * - `radflow forecast --csv <file>`: forecast one series, no database.
 *
 * Progress goes to stderr, results to stdout, so both pipe cleanly.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError } from '../../src/lib/server/config';
import { ForecastError } from '../../src/lib/domain/forecast/forecast';
import { importVolumeRows, planVolumeImport, VolumeImportError, type LineProblem } from '../../src/lib/server/forecast/import';
import { CsvError, forecastCsvFile, formatForecastCsv, parseVolumesCsv } from './csv';

function say(msg: string): void {
	process.stderr.write(`${msg}\n`);
}

function reportProblems(file: string, problems: readonly LineProblem[], limit = 50): void {
	say(`${file}: ${problems.length} bad line(s); nothing was imported. Fix these lines and run the import again:`);
	for (const p of problems.slice(0, limit)) say(`  line ${p.line}: ${p.message}`);
	if (problems.length > limit) say(`  … and ${problems.length - limit} more`);
}

function readText(path: string): Promise<string> {
	return readFile(path, 'utf8').catch((cause) => {
		throw new ConfigError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
	});
}

/**
 * `radflow import-volumes <file.csv> [--utc-offset <minutes>] [--dry-run]`.
 * Returns the exit code: 0 imported, 1 bad input (nothing imported).
 */
export async function importVolumes(args: string[]): Promise<number> {
	const { values, positionals } = parseArgs({
		args,
		allowPositionals: true,
		options: { 'utc-offset': { type: 'string' }, 'dry-run': { type: 'boolean' } }
	});
	const file = positionals[0];
	if (!file || positionals.length > 1) throw new ConfigError('usage: radflow import-volumes <file.csv> [--utc-offset <minutes>] [--dry-run]');
	const offset = values['utc-offset'] === undefined ? 0 : Number(values['utc-offset']);
	if (!Number.isInteger(offset) || Math.abs(offset) > 14 * 60) throw new ConfigError('--utc-offset is minutes east of UTC for timestamps without a zone, e.g. -300');

	const started = Date.now();
	const parsed = parseVolumesCsv(await readText(file), { defaultUtcOffsetMinutes: offset });
	// Check every line before touching the database: a bad file fails fast and imports nothing.
	const plan = planVolumeImport(parsed.rows);
	const problems = [...parsed.errors, ...plan.problems].sort((a, b) => a.line - b.line);
	if (problems.length) {
		reportProblems(file, problems);
		return 1;
	}
	if (plan.rows.length === 0) {
		say(`${file}: no data rows. Expected CSV columns: timestamp,site,exam_or_modality,count[,patient_class]`);
		return 1;
	}
	say(`${file}: ${parsed.rows.length} rows → ${plan.rows.length} hourly counts for ${plan.sites.join(', ')}`);
	if (values['dry-run']) {
		process.stdout.write(`dry run: ${plan.rows.length} hourly counts would be imported\n`);
		return 0;
	}

	const { boot } = await import('../runtime');
	const rt = await boot({ jobs: false, announceAdmin: false });
	try {
		let lastPct = -1;
		const summary = await importVolumeRows(rt.ctx.db.sql, parsed, {
			onProgress: (done, total) => {
				const pct = Math.floor((done / total) * 100);
				if (pct !== lastPct) say(`  written ${done}/${total} (${pct}%)`);
				lastPct = pct;
			}
		});
		const secs = ((Date.now() - started) / 1000).toFixed(1);
		process.stdout.write(
			`imported ${summary.hours} hourly counts (${summary.inserted} new, ${summary.updated} replaced) in ${summary.series} series, ` +
				`${summary.from?.slice(0, 13)}h – ${summary.to?.slice(0, 13)}h UTC, from ${summary.lines} rows in ${secs}s` +
				(summary.newSites.length ? `; new sites: ${summary.newSites.join(', ')}` : '') +
				'\n'
		);
		return 0;
	} catch (err) {
		if (err instanceof VolumeImportError) {
			reportProblems(file, err.problems);
			return 1;
		}
		throw err;
	} finally {
		await rt.shutdown();
	}
}

/**
 * `radflow forecast --csv <file> [--periods 24,168] [--horizon <hours>] [--level <pct>] [--utc-offset <min>] [--fill-missing]`.
 * Prints `timestamp,mean,lo80,hi80,lo95,hi95` to stdout; the chosen model and
 * its backtest go to stderr. Needs no database.
 */
export async function forecastCsv(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: {
			csv: { type: 'string' },
			periods: { type: 'string', default: '24,168' },
			horizon: { type: 'string', default: '168' },
			level: { type: 'string' },
			'utc-offset': { type: 'string', default: '0' },
			'fill-missing': { type: 'boolean', default: false }
		}
	});
	if (!values.csv) throw new ConfigError('usage: radflow forecast --csv <file> [--periods 24,168] [--horizon <hours>]');
	const periods = values.periods.split(',').map((p) => Number(p.trim()));
	const horizon = Number(values.horizon);
	const level = values.level === undefined ? undefined : Number(values.level);
	const utcOffsetMinutes = Number(values['utc-offset']);
	if (!Number.isInteger(horizon) || horizon < 1) throw new ConfigError(`--horizon must be a whole number of hours ≥ 1, got ${values.horizon}`);
	if (!Number.isInteger(utcOffsetMinutes)) throw new ConfigError('--utc-offset must be whole minutes, e.g. -300');
	await readText(values.csv);
	try {
		const t0 = performance.now();
		const result = await forecastCsvFile(values.csv, {
			horizon,
			periods,
			level,
			utcOffsetMinutes,
			defaultUtcOffsetMinutes: utcOffsetMinutes,
			fillMissing: values['fill-missing']
		});
		process.stdout.write(formatForecastCsv(result, 3, { withModel: false }));
		const scores = result.backtest.map((b) => `${b.model} ${b.mase.toFixed(3)}`).join(', ');
		say(`model: ${result.model}${scores ? ` (backtest MASE: ${scores})` : ' (history too short to backtest)'}; ${horizon} h in ${Math.round(performance.now() - t0)} ms`);
		return 0;
	} catch (err) {
		if (err instanceof CsvError) {
			say(`${values.csv}: cannot forecast this file:`);
			for (const e of err.errors.slice(0, 50)) say(`  line ${e.line}: ${e.message}`);
			if (err.code === 'csv_gap') say('  (use --fill-missing to count missing hours as 0)');
			return 1;
		}
		if (err instanceof ForecastError) throw new ConfigError(err.message, { cause: err });
		throw err;
	}
}
