/**
 * Drizzle view of the schema. The SQL files in migrations/ are the source of
 * truth (they carry the TimescaleDB parts drizzle cannot express); this file
 * mirrors them for typed queries. A test checks the two agree.
 */
import {
	bigint,
	bigserial,
	boolean,
	integer,
	jsonb,
	numeric,
	pgTable,
	primaryKey,
	real,
	text,
	timestamp
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });
const id = (name: string) => bigint(name, { mode: 'number' });

export const sites = pgTable('sites', {
	id: text('id').primaryKey(),
	name: text('name').notNull(),
	timezone: text('timezone').notNull()
});

export const patients = pgTable('patients', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	mrn: text('mrn').notNull(),
	issuer: text('issuer').notNull(),
	patientClass: text('patient_class'),
	location: text('location'),
	mergedInto: id('merged_into'),
	updatedAt: ts('updated_at').notNull()
});

export const orders = pgTable('orders', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	accessionNumber: text('accession_number').notNull(),
	patientId: id('patient_id'),
	siteId: text('site_id'),
	placerOrderNumber: text('placer_order_number'),
	fillerOrderNumber: text('filler_order_number'),
	procedureCode: text('procedure_code'),
	procedureText: text('procedure_text'),
	examCode: text('exam_code'),
	modality: text('modality'),
	priority: text('priority').notNull(),
	patientClass: text('patient_class'),
	orderingLocation: text('ordering_location'),
	expectedSeries: integer('expected_series'),
	status: text('status').notNull(),
	orderedAt: ts('ordered_at').notNull(),
	updatedAt: ts('updated_at').notNull()
});

export const studies = pgTable('studies', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	studyInstanceUid: text('study_instance_uid'),
	accessionNumber: text('accession_number'),
	orderId: id('order_id'),
	patientId: id('patient_id'),
	siteId: text('site_id'),
	description: text('description'),
	examCode: text('exam_code'),
	examName: text('exam_name'),
	modality: text('modality'),
	bodyRegion: text('body_region'),
	subspecialty: text('subspecialty'),
	rvu: numeric('rvu', { mode: 'number' }),
	expectedReadMinutes: numeric('expected_read_minutes', { mode: 'number' }),
	priority: text('priority').notNull(),
	patientClass: text('patient_class'),
	status: text('status').notNull(),
	slaDeadline: ts('sla_deadline'),
	criticalFlag: text('critical_flag').notNull(),
	assignedTo: id('assigned_to'),
	held: boolean('held').notNull(),
	seriesCount: integer('series_count').notNull(),
	instanceCount: integer('instance_count').notNull(),
	orderedAt: ts('ordered_at'),
	firstImageAt: ts('first_image_at'),
	lastImageAt: ts('last_image_at'),
	completeAt: ts('complete_at'),
	triagedAt: ts('triaged_at'),
	assignedAt: ts('assigned_at'),
	openedAt: ts('opened_at'),
	reportedAt: ts('reported_at'),
	cancelledAt: ts('cancelled_at'),
	reportedBy: text('reported_by'),
	version: integer('version').notNull(),
	updatedAt: ts('updated_at').notNull()
});

export const series = pgTable('series', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	studyId: id('study_id').notNull(),
	seriesInstanceUid: text('series_instance_uid').notNull(),
	modality: text('modality'),
	description: text('description'),
	bodyPart: text('body_part'),
	seriesNumber: integer('series_number'),
	instanceCount: integer('instance_count').notNull()
});

export const instances = pgTable('instances', {
	sopInstanceUid: text('sop_instance_uid').primaryKey(),
	seriesId: id('series_id').notNull(),
	studyId: id('study_id').notNull(),
	sopClassUid: text('sop_class_uid').notNull(),
	transferSyntaxUid: text('transfer_syntax_uid').notNull(),
	blobPath: text('blob_path').notNull(),
	sizeBytes: id('size_bytes').notNull(),
	callingAe: text('calling_ae'),
	receivedAt: ts('received_at').notNull()
});

export const radiologists = pgTable('radiologists', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	userId: id('user_id'),
	name: text('name').notNull(),
	subspecialties: text('subspecialties').array().notNull(),
	status: text('status').notNull(),
	maxQueuedRvu: numeric('max_queued_rvu', { mode: 'number' }).notNull(),
	paceFactor: numeric('pace_factor', { mode: 'number' }).notNull()
});

export const radiologistSites = pgTable(
	'radiologist_sites',
	{ radiologistId: id('radiologist_id').notNull(), siteId: text('site_id').notNull() },
	(t) => [primaryKey({ columns: [t.radiologistId, t.siteId] })]
);

export const shifts = pgTable('shifts', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	radiologistId: id('radiologist_id').notNull(),
	siteId: text('site_id'),
	subspecialty: text('subspecialty'),
	startsAt: ts('starts_at').notNull(),
	endsAt: ts('ends_at').notNull()
});

export const routingPolicies = pgTable('routing_policies', {
	version: integer('version').primaryKey(),
	body: jsonb('body').notNull(),
	note: text('note'),
	publishedBy: text('published_by').notNull(),
	publishedAt: ts('published_at').notNull()
});

export const assignments = pgTable('assignments', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	studyId: id('study_id').notNull(),
	radiologistId: id('radiologist_id').notNull(),
	assignedAt: ts('assigned_at').notNull(),
	releasedAt: ts('released_at'),
	actor: text('actor').notNull(),
	policyVersion: integer('policy_version'),
	explanation: text('explanation').notNull()
});

export const studyEvents = pgTable(
	'study_events',
	{
		id: id('id').notNull(),
		time: ts('time').notNull(),
		studyId: id('study_id'),
		kind: text('kind').notNull(),
		actor: text('actor').notNull(),
		siteId: text('site_id'),
		subspecialty: text('subspecialty'),
		modality: text('modality'),
		priority: text('priority'),
		patientClass: text('patient_class'),
		payload: jsonb('payload').notNull(),
		idempotencyKey: text('idempotency_key')
	},
	(t) => [primaryKey({ columns: [t.time, t.id] })]
);

export const eventKeys = pgTable('event_keys', {
	key: text('key').primaryKey(),
	eventId: id('event_id').notNull(),
	time: ts('time').notNull()
});

export const users = pgTable('users', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	username: text('username').notNull(),
	displayName: text('display_name').notNull(),
	role: text('role').notNull(),
	passwordHash: text('password_hash').notNull(),
	disabled: boolean('disabled').notNull(),
	createdAt: ts('created_at').notNull()
});

export const sessions = pgTable('sessions', {
	id: text('id').primaryKey(),
	userId: id('user_id').notNull(),
	createdAt: ts('created_at').notNull(),
	expiresAt: ts('expires_at').notNull(),
	lastSeenAt: ts('last_seen_at').notNull()
});

export const auditLog = pgTable('audit_log', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	at: ts('at').notNull(),
	userId: id('user_id'),
	username: text('username').notNull(),
	role: text('role'),
	action: text('action').notNull(),
	target: text('target'),
	reason: text('reason'),
	details: jsonb('details').notNull(),
	prevHash: text('prev_hash').notNull(),
	hash: text('hash').notNull()
});

export const clinicalContext = pgTable('clinical_context', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	patientId: id('patient_id').notNull(),
	code: text('code').notNull(),
	label: text('label'),
	value: text('value'),
	units: text('units'),
	referenceRange: text('reference_range'),
	abnormalFlags: text('abnormal_flags'),
	observedAt: ts('observed_at'),
	sourceMessage: text('source_message'),
	createdAt: ts('created_at').notNull()
});

export const hl7Messages = pgTable('hl7_messages', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	sender: text('sender').notNull(),
	controlId: text('control_id').notNull(),
	messageType: text('message_type').notNull(),
	receivedAt: ts('received_at').notNull(),
	ackCode: text('ack_code').notNull(),
	error: text('error'),
	raw: text('raw').notNull(),
	/** Enhanced mode: answered CA, commands not applied yet (see migrations/0008). */
	pending: boolean('pending').notNull()
});

export const examMappings = pgTable(
	'exam_mappings',
	{
		modality: text('modality').notNull(),
		descriptionKey: text('description_key').notNull(),
		examCode: text('exam_code').notNull(),
		mappedBy: text('mapped_by').notNull(),
		mappedAt: ts('mapped_at').notNull()
	},
	(t) => [primaryKey({ columns: [t.modality, t.descriptionKey] })]
);

export const examReview = pgTable(
	'exam_review',
	{
		modality: text('modality').notNull(),
		descriptionKey: text('description_key').notNull(),
		exampleDescription: text('example_description').notNull(),
		occurrences: integer('occurrences').notNull(),
		firstSeen: ts('first_seen').notNull(),
		lastSeen: ts('last_seen').notNull()
	},
	(t) => [primaryKey({ columns: [t.modality, t.descriptionKey] })]
);

export const ingestFailures = pgTable('ingest_failures', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	at: ts('at').notNull(),
	source: text('source').notNull(),
	peer: text('peer'),
	reason: text('reason').notNull(),
	details: jsonb('details').notNull()
});

export const aiModels = pgTable(
	'ai_models',
	{
		id: text('id').notNull(),
		version: text('version').notNull(),
		manifest: jsonb('manifest').notNull(),
		mode: text('mode').notNull(),
		threshold: numeric('threshold', { mode: 'number' }),
		current: boolean('current').notNull(),
		registeredAt: ts('registered_at').notNull()
	},
	(t) => [primaryKey({ columns: [t.id, t.version] })]
);

export const aiResults = pgTable('ai_results', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	studyId: id('study_id').notNull(),
	modelId: text('model_id').notNull(),
	modelVersion: text('model_version').notNull(),
	backend: text('backend').notNull(),
	mode: text('mode').notNull(),
	score: real('score'),
	label: text('label'),
	critical: boolean('critical').notNull(),
	status: text('status').notNull(),
	detail: text('detail'),
	latencyMs: real('latency_ms'),
	createdAt: ts('created_at').notNull()
});

export const criticalFlags = pgTable('critical_flags', {
	id: bigserial('id', { mode: 'number' }).primaryKey(),
	studyId: id('study_id').notNull(),
	modelId: text('model_id').notNull(),
	modelVersion: text('model_version').notNull(),
	finding: text('finding').notNull(),
	score: real('score').notNull(),
	status: text('status').notNull(),
	raisedAt: ts('raised_at').notNull(),
	imageToAlertMs: integer('image_to_alert_ms'),
	decidedAt: ts('decided_at'),
	decidedBy: text('decided_by'),
	reason: text('reason')
});

export const volumeHistory = pgTable(
	'volume_history',
	{
		hour: ts('hour').notNull(),
		siteId: text('site_id').notNull(),
		subspecialty: text('subspecialty').notNull(),
		modality: text('modality').notNull(),
		patientClass: text('patient_class').notNull(),
		count: integer('count').notNull(),
		source: text('source').notNull()
	},
	(t) => [primaryKey({ columns: [t.hour, t.siteId, t.subspecialty, t.modality, t.patientClass] })]
);
