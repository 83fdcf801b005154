-- Needed by the Ingest and Interfaces pages: each running role (dicom, hl7,
-- triage, …) upserts its live status here every few seconds, so the dashboard
-- sees every process, not only its own.
CREATE TABLE IF NOT EXISTS role_status (
	role text NOT NULL,
	instance text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	data jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (role, instance)
);
