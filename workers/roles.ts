/**
 * The long-running roles and how each starts. `radflow start` runs every role
 * in one process; each can also run alone, many times over.
 */
import path from 'node:path';
import type { AppContext } from '../src/lib/server/context';
import type { Runtime } from './runtime';

export const RoleName = {
	web: 'web',
	dicom: 'dicom',
	hl7: 'hl7',
	triage: 'triage',
	route: 'route',
	simulate: 'simulate'
} as const;
export type RoleName = (typeof RoleName)[keyof typeof RoleName];

/** Roles `radflow start` runs. */
export const ROLE_NAMES: RoleName[] = [RoleName.web, RoleName.dicom, RoleName.hl7, RoleName.triage, RoleName.route];

/** Ingest wiring shared by the dicom, hl7 and web (STOW-RS) roles of one process. */
async function ingestDeps(ctx: AppContext) {
	const { ExamNormalizer } = await import('../src/lib/server/ingest/studies');
	const { DbInstanceSink, IngestSource, parseStabilitySeconds } = await import('../src/lib/server/ingest/dicom-sink');
	const { FileBlobStore, blobStoreOptionsFromEnv } = await import('./dicom/storage');
	const held = ctx as AppContext & { ingest?: unknown };
	if (!held.ingest) {
		const normalizer = new ExamNormalizer(ctx.db.sql);
		const stability = parseStabilitySeconds(process.env.DICOM_STABILITY_SECONDS);
		const blobStore = new FileBlobStore(path.join(ctx.config.dataDir, 'dicom'), blobStoreOptionsFromEnv(process.env));
		const sink = (source: (typeof IngestSource)[keyof typeof IngestSource]) =>
			new DbInstanceSink({ sql: ctx.db.sql, jobs: ctx.jobs, normalizer, log: ctx.log.child(source), stability, source });
		held.ingest = { normalizer, stability, blobStore, sink, completeness: null as null | Promise<{ stop(): Promise<void> }> };
	}
	return held.ingest as {
		normalizer: InstanceType<typeof ExamNormalizer>;
		stability: ReturnType<typeof parseStabilitySeconds>;
		blobStore: InstanceType<typeof FileBlobStore>;
		sink: (source: (typeof IngestSource)[keyof typeof IngestSource]) => InstanceType<typeof DbInstanceSink>;
		completeness: null | Promise<{ stop(): Promise<void> }>;
	};
}

/** Registers the completeness worker once per process (dicom and web roles both file images). */
async function ensureCompletenessWorker(rt: Runtime): Promise<void> {
	const deps = await ingestDeps(rt.ctx);
	if (deps.completeness || !rt.ctx.jobs) return;
	const { startCompletenessWorker } = await import('../src/lib/server/ingest/completeness');
	deps.completeness = startCompletenessWorker(rt.ctx.db.sql, rt.ctx.jobs, rt.ctx.log.child('completeness'), { stability: deps.stability });
	const worker = await deps.completeness;
	rt.addRole({ name: 'completeness', stop: () => worker.stop() });
}

async function startDicomRole(rt: Runtime): Promise<void> {
	const { ctx } = rt;
	const { DicomServer, optionsFromEnv } = await import('./dicom/server');
	const { startHeartbeat, collectDicomStatus } = await import('../src/lib/server/ingest/status');
	const { recordIngestFailure, IngestSource } = await import('../src/lib/server/ingest/dicom-sink');
	const deps = await ingestDeps(ctx);
	const log = ctx.log.child('dicom');
	const sink = deps.sink(IngestSource.dicom);
	const options = optionsFromEnv();
	if (options.allowedPeers !== 'any' && options.allowedPeers.length === 0) {
		log.warn('DICOM_ALLOWED_AES is empty: every association will be refused. Set it to the calling AE titles of your modalities (or * for any).');
	}
	const server = new DicomServer(options, {
		blobStore: deps.blobStore,
		sink,
		log: ({ level, msg, ...rest }) => {
			const l = (['debug', 'info', 'warn', 'error'].includes(String(level)) ? level : 'info') as 'info';
			log[l](String(msg), rest);
		}
	});
	// Failures before the database (unreadable dataset, size cap, storage, refused contexts, broken
	// connections): visible on the Ingest page, never silent.
	const recordFailure = (peer: string, reason: string, details: Record<string, unknown>) =>
		void recordIngestFailure(ctx.db.sql, log, { source: IngestSource.dicom, peer, reason, details });
	server.on('rejected', (r) => {
		if (r.reason === 'sink_failed') return; // the sink recorded it with the database error
		recordFailure(r.callingAe || r.remoteAddress, `${r.reason}: ${r.message}`, {
			status: r.status,
			sopInstanceUid: r.sopInstanceUid,
			remoteAddress: r.remoteAddress,
			associationId: r.associationId
		});
	});
	server.on('contextRejected', (r) =>
		recordFailure(r.callingAe || r.remoteAddress, `${r.reason}: ${r.abstractSyntax} offered only ${r.transferSyntaxes.join(', ')}`, {
			remoteAddress: r.remoteAddress,
			associationId: r.associationId
		})
	);
	server.on('connectionError', (r) =>
		recordFailure(r.callingAe || r.remoteAddress, `connection_error: ${r.message}`, { remoteAddress: r.remoteAddress, associationId: r.associationId ?? null })
	);
	const collect = collectDicomStatus(server, () => ({ sink: { ...sink.counters } }));
	await server.start();
	const heartbeat = startHeartbeat(ctx.db.sql, 'dicom', collect, { log });
	rt.addRole({
		name: 'dicom',
		async stop() {
			await server.stop();
			await heartbeat.stop();
		}
	});
	await ensureCompletenessWorker(rt);
}

async function startHl7Role(rt: Runtime): Promise<void> {
	const { ctx } = rt;
	const { startHl7Server, hl7SecurityFromEnv } = await import('./hl7/server');
	const { jsonLogger } = await import('./hl7/log');
	const { createHl7DbHandler, recordNacks } = await import('../src/lib/server/ingest/hl7-handler');
	const { startHeartbeat, collectHl7Status } = await import('../src/lib/server/ingest/status');
	const deps = await ingestDeps(ctx);
	const log = ctx.log.child('hl7');
	const handler = createHl7DbHandler({ sql: ctx.db.sql, jobs: ctx.jobs, normalizer: deps.normalizer, log });
	// Enhanced-mode messages answered CA before a stop and not applied yet: queued ahead of anything new.
	const mapping = { unknownTypes: ctx.config.hl7.unknownTypes };
	await handler.recoverPending({ mapping });
	// Later, whatever another process accepted and left (it stopped, or its database writes failed for a minute).
	const sweep = setInterval(
		() => void handler.recoverPending({ mapping, olderThanMs: 60_000 }).catch((err) => log.warn('pending HL7 sweep failed; retrying in a minute', { err })),
		60_000
	);
	sweep.unref();
	const server = await startHl7Server(
		{ port: ctx.config.hl7.port, maxFrameBytes: ctx.config.hl7.maxFrameBytes, handler, unknownTypes: ctx.config.hl7.unknownTypes, ...hl7SecurityFromEnv(process.env) },
		jsonLogger({ level: ctx.config.logLevel, name: 'radflow.hl7' })
	);
	const unrecord = recordNacks(server.stats, ctx.db.sql, log);
	const collect = collectHl7Status(server.stats, server.port, () => ({ applied: handler.stats.applied, duplicates: handler.stats.duplicates, pending: handler.stats.pending }));
	const heartbeat = startHeartbeat(ctx.db.sql, 'hl7', collect, { log });
	rt.addRole({
		name: 'hl7',
		async stop() {
			clearInterval(sweep);
			await server.close();
			// What is still pending stays stored; the next start applies it.
			handler.stop();
			unrecord();
			await heartbeat.stop();
		}
	});
}

/** The STOW-RS hook for the web role (DICOMWEB_TOKEN unset: answers 503). */
async function stowHook(rt: Runtime) {
	const { ctx } = rt;
	const { createStowHook } = await import('../src/lib/server/ingest/stow');
	const { IngestSource } = await import('../src/lib/server/ingest/dicom-sink');
	const deps = await ingestDeps(ctx);
	await ensureCompletenessWorker(rt);
	const int = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
	return createStowHook({
		blobStore: deps.blobStore,
		sink: deps.sink(IngestSource.dicomweb),
		sql: ctx.db.sql,
		log: ctx.log.child('stow'),
		token: process.env.DICOMWEB_TOKEN || null,
		maxRequestBytes: int(process.env.DICOMWEB_MAX_REQUEST_BYTES, 4 * 1024 ** 3),
		maxObjectBytes: ctx.config.dicom.maxObjectBytes
	});
}

/**
 * Staffing alerts do not wait for someone to open the forecast page: the
 * router process checks the next 72 h every ten minutes and raises each short
 * window once (the event key makes repeats no-ops across processes).
 */
async function startStaffingAlerts(rt: Runtime, everyMs = 10 * 60_000) {
	const { refreshStaffingAlerts } = await import('../src/lib/server/forecast/alerts');
	const log = rt.ctx.log.child('staffing');
	const check = () =>
		refreshStaffingAlerts(rt.ctx.db, Date.now(), { force: true })
			.then((r) => r.raised > 0 && log.info('staffing alerts raised', { raised: r.raised, short: r.alerts.length }))
			.catch((err) => log.warn('staffing alert check failed; retrying at the next interval', { err }));
	const first = setTimeout(check, 30_000);
	const timer = setInterval(check, everyMs);
	return {
		name: 'staffing-alerts',
		async stop() {
			clearTimeout(first);
			clearInterval(timer);
		}
	};
}

export async function startRoles(rt: Runtime, roles: RoleName[], extra: { simulate?: string[] } = {}): Promise<void> {
	for (const role of roles) {
		switch (role) {
			case RoleName.web: {
				const { startWeb } = await import('./web/server');
				rt.addRole(await startWeb(rt.ctx, { hooks: [await stowHook(rt)] }));
				break;
			}
			case RoleName.dicom:
				await startDicomRole(rt);
				break;
			case RoleName.hl7:
				await startHl7Role(rt);
				break;
			case RoleName.route: {
				const { startRouting } = await import('../src/lib/server/routing/service');
				rt.addRole(await startRouting(rt.ctx));
				rt.addRole(await startStaffingAlerts(rt));
				break;
			}
			case RoleName.simulate: {
				const { startSimulator } = await import('./simulator/run');
				rt.addRole(await startSimulator(rt.ctx, extra.simulate ?? []));
				break;
			}
			case RoleName.triage: {
				const { startTriage } = await import('../src/lib/server/triage/worker');
				rt.addRole(await startTriage(rt.ctx));
				break;
			}
			default:
				role satisfies never;
		}
	}
}
