-- Core schema: the system of record every feature writes to.
-- Needed by: study model and event store (foundation), DICOM and HL7 ingest,
-- triage, routing, forecasting, dashboard auth and audit.

CREATE TABLE IF NOT EXISTS sites (
	id text PRIMARY KEY,
	name text NOT NULL,
	timezone text NOT NULL DEFAULT 'UTC'
);

CREATE TABLE IF NOT EXISTS patients (
	id bigserial PRIMARY KEY,
	-- Minimal identifiers: medical record number and its assigning authority.
	mrn text NOT NULL,
	issuer text NOT NULL DEFAULT '',
	patient_class text CHECK (patient_class IN ('E', 'I', 'O')),
	location text,
	merged_into bigint REFERENCES patients(id),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (issuer, mrn)
);

CREATE TABLE IF NOT EXISTS orders (
	id bigserial PRIMARY KEY,
	accession_number text NOT NULL UNIQUE,
	patient_id bigint REFERENCES patients(id),
	site_id text REFERENCES sites(id),
	placer_order_number text,
	filler_order_number text,
	procedure_code text,
	procedure_text text,
	exam_code text,
	modality text,
	priority text NOT NULL DEFAULT 'routine' CHECK (priority IN ('stat', 'asap', 'routine')),
	patient_class text CHECK (patient_class IN ('E', 'I', 'O')),
	ordering_location text,
	expected_series integer,
	status text NOT NULL DEFAULT 'placed',
	ordered_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS studies (
	id bigserial PRIMARY KEY,
	study_instance_uid text UNIQUE,
	accession_number text UNIQUE,
	order_id bigint REFERENCES orders(id),
	patient_id bigint REFERENCES patients(id),
	site_id text REFERENCES sites(id),
	description text,
	exam_code text,
	exam_name text,
	modality text,
	body_region text,
	subspecialty text,
	rvu numeric(6, 2),
	expected_read_minutes numeric(6, 1),
	priority text NOT NULL DEFAULT 'routine' CHECK (priority IN ('stat', 'asap', 'routine')),
	patient_class text CHECK (patient_class IN ('E', 'I', 'O')),
	status text NOT NULL DEFAULT 'ordered'
		CHECK (status IN ('ordered', 'arriving', 'complete', 'triaged', 'assigned', 'opened', 'reported', 'cancelled')),
	sla_deadline timestamptz,
	critical_flag text NOT NULL DEFAULT 'none' CHECK (critical_flag IN ('none', 'pending', 'confirmed', 'dismissed')),
	assigned_to bigint,
	held boolean NOT NULL DEFAULT false,
	series_count integer NOT NULL DEFAULT 0,
	instance_count integer NOT NULL DEFAULT 0,
	ordered_at timestamptz,
	first_image_at timestamptz,
	last_image_at timestamptz,
	complete_at timestamptz,
	triaged_at timestamptz,
	assigned_at timestamptz,
	opened_at timestamptz,
	reported_at timestamptz,
	cancelled_at timestamptz,
	reported_by text,
	-- Bumped on every change: optimistic concurrency for dashboard commands.
	version integer NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS studies_open_idx ON studies (status, site_id)
	WHERE status NOT IN ('reported', 'cancelled');
CREATE INDEX IF NOT EXISTS studies_patient_idx ON studies (patient_id);

CREATE TABLE IF NOT EXISTS series (
	id bigserial PRIMARY KEY,
	study_id bigint NOT NULL REFERENCES studies(id),
	series_instance_uid text NOT NULL UNIQUE,
	modality text,
	description text,
	body_part text,
	series_number integer,
	instance_count integer NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS instances (
	sop_instance_uid text PRIMARY KEY,
	series_id bigint NOT NULL REFERENCES series(id),
	study_id bigint NOT NULL REFERENCES studies(id),
	sop_class_uid text NOT NULL,
	transfer_syntax_uid text NOT NULL,
	blob_path text NOT NULL,
	size_bytes bigint NOT NULL,
	calling_ae text,
	received_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_study_idx ON instances (study_id);

CREATE TABLE IF NOT EXISTS radiologists (
	id bigserial PRIMARY KEY,
	user_id bigint,
	name text NOT NULL,
	subspecialties text[] NOT NULL DEFAULT '{}',
	status text NOT NULL DEFAULT 'reading' CHECK (status IN ('reading', 'paused', 'off')),
	max_queued_rvu numeric(6, 2) NOT NULL DEFAULT 40,
	-- Reading pace relative to expected minutes (1.0 = as expected); used by replay.
	pace_factor numeric(4, 2) NOT NULL DEFAULT 1.0
);

CREATE TABLE IF NOT EXISTS radiologist_sites (
	radiologist_id bigint NOT NULL REFERENCES radiologists(id) ON DELETE CASCADE,
	site_id text NOT NULL REFERENCES sites(id),
	PRIMARY KEY (radiologist_id, site_id)
);

CREATE TABLE IF NOT EXISTS shifts (
	id bigserial PRIMARY KEY,
	radiologist_id bigint NOT NULL REFERENCES radiologists(id) ON DELETE CASCADE,
	site_id text REFERENCES sites(id),
	subspecialty text,
	starts_at timestamptz NOT NULL,
	ends_at timestamptz NOT NULL CHECK (ends_at > starts_at)
);
CREATE INDEX IF NOT EXISTS shifts_time_idx ON shifts (starts_at, ends_at);

CREATE TABLE IF NOT EXISTS routing_policies (
	version integer PRIMARY KEY,
	body jsonb NOT NULL,
	note text,
	published_by text NOT NULL,
	published_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS assignments (
	id bigserial PRIMARY KEY,
	study_id bigint NOT NULL REFERENCES studies(id),
	radiologist_id bigint NOT NULL REFERENCES radiologists(id),
	assigned_at timestamptz NOT NULL,
	released_at timestamptz,
	actor text NOT NULL,
	policy_version integer,
	explanation text NOT NULL
);
CREATE INDEX IF NOT EXISTS assignments_open_idx ON assignments (radiologist_id) WHERE released_at IS NULL;

-- The event stream. Dimensions are copied onto each row so time-bucketed
-- aggregates need no joins (and work as a TimescaleDB continuous aggregate).
CREATE SEQUENCE IF NOT EXISTS study_events_id_seq;
CREATE TABLE IF NOT EXISTS study_events (
	id bigint NOT NULL DEFAULT nextval('study_events_id_seq'),
	time timestamptz NOT NULL,
	study_id bigint,
	kind text NOT NULL,
	actor text NOT NULL,
	site_id text,
	subspecialty text,
	modality text,
	priority text,
	patient_class text,
	payload jsonb NOT NULL DEFAULT '{}',
	idempotency_key text,
	PRIMARY KEY (time, id)
);
CREATE INDEX IF NOT EXISTS study_events_id_idx ON study_events (id);
CREATE INDEX IF NOT EXISTS study_events_study_idx ON study_events (study_id, time);

-- Idempotency keys live beside the events: a hypertable cannot carry a unique
-- index that leaves out its time column.
CREATE TABLE IF NOT EXISTS event_keys (
	key text PRIMARY KEY,
	event_id bigint NOT NULL,
	time timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
	id bigserial PRIMARY KEY,
	username text NOT NULL UNIQUE,
	display_name text NOT NULL,
	role text NOT NULL CHECK (role IN ('manager', 'charge', 'admin')),
	password_hash text NOT NULL,
	disabled boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sessions (
	-- SHA-256 of the cookie token: a leaked table does not leak live sessions.
	id text PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	last_seen_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only, hash-chained audit trail of every dashboard mutation.
CREATE TABLE IF NOT EXISTS audit_log (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	user_id bigint,
	username text NOT NULL,
	role text,
	action text NOT NULL,
	target text,
	reason text,
	details jsonb NOT NULL DEFAULT '{}',
	prev_hash text NOT NULL,
	hash text NOT NULL UNIQUE
);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Clinical context from HL7 results (labs etc.), attached to the patient.
CREATE TABLE IF NOT EXISTS clinical_context (
	id bigserial PRIMARY KEY,
	patient_id bigint NOT NULL REFERENCES patients(id),
	code text NOT NULL,
	label text,
	value text,
	units text,
	reference_range text,
	abnormal_flags text,
	observed_at timestamptz,
	source_message text,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS clinical_context_patient_idx ON clinical_context (patient_id, observed_at DESC);

-- Raw HL7 messages as received (Z-segments included), keyed for duplicate detection.
CREATE TABLE IF NOT EXISTS hl7_messages (
	id bigserial PRIMARY KEY,
	sender text NOT NULL,
	control_id text NOT NULL,
	message_type text NOT NULL,
	received_at timestamptz NOT NULL,
	ack_code text NOT NULL,
	error text,
	raw text NOT NULL,
	UNIQUE (sender, control_id)
);
CREATE INDEX IF NOT EXISTS hl7_messages_time_idx ON hl7_messages (received_at DESC);

-- Exam normalization: admin mappings and the review list of unknown descriptions.
CREATE TABLE IF NOT EXISTS exam_mappings (
	modality text NOT NULL,
	description_key text NOT NULL,
	exam_code text NOT NULL,
	mapped_by text NOT NULL,
	mapped_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (modality, description_key)
);
CREATE TABLE IF NOT EXISTS exam_review (
	modality text NOT NULL,
	description_key text NOT NULL,
	example_description text NOT NULL,
	occurrences integer NOT NULL DEFAULT 1,
	first_seen timestamptz NOT NULL DEFAULT now(),
	last_seen timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (modality, description_key)
);

-- Failures that could not be processed: visible, never silently dropped.
CREATE TABLE IF NOT EXISTS ingest_failures (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	source text NOT NULL,
	peer text,
	reason text NOT NULL,
	details jsonb NOT NULL DEFAULT '{}'
);

-- AI model registry and results.
CREATE TABLE IF NOT EXISTS ai_models (
	id text NOT NULL,
	version text NOT NULL,
	manifest jsonb NOT NULL,
	mode text NOT NULL DEFAULT 'shadow' CHECK (mode IN ('off', 'shadow', 'active')),
	threshold numeric(5, 4),
	current boolean NOT NULL DEFAULT false,
	registered_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (id, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS ai_models_current_idx ON ai_models (id) WHERE current;

CREATE TABLE IF NOT EXISTS ai_results (
	id bigserial PRIMARY KEY,
	study_id bigint NOT NULL REFERENCES studies(id),
	model_id text NOT NULL,
	model_version text NOT NULL,
	backend text NOT NULL,
	mode text NOT NULL,
	score real,
	label text,
	critical boolean NOT NULL DEFAULT false,
	status text NOT NULL DEFAULT 'ok',
	detail text,
	latency_ms real,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (study_id, model_id, model_version)
);

CREATE TABLE IF NOT EXISTS critical_flags (
	id bigserial PRIMARY KEY,
	study_id bigint NOT NULL REFERENCES studies(id),
	model_id text NOT NULL,
	model_version text NOT NULL,
	finding text NOT NULL,
	score real NOT NULL,
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'dismissed')),
	raised_at timestamptz NOT NULL,
	image_to_alert_ms integer,
	decided_at timestamptz,
	decided_by text,
	reason text,
	UNIQUE (study_id, model_id, model_version)
);

-- Imported arrival history (RIS exports) for forecasting before Radflow has its own.
CREATE TABLE IF NOT EXISTS volume_history (
	hour timestamptz NOT NULL,
	site_id text NOT NULL,
	subspecialty text NOT NULL DEFAULT 'general',
	modality text NOT NULL,
	patient_class text NOT NULL DEFAULT 'O',
	count integer NOT NULL CHECK (count >= 0),
	source text NOT NULL DEFAULT 'import',
	PRIMARY KEY (hour, site_id, subspecialty, modality, patient_class)
);
