-- Needed by the Ingest page: instances/s and bytes/s over recent minutes.
CREATE INDEX IF NOT EXISTS instances_received_idx ON instances (received_at);
