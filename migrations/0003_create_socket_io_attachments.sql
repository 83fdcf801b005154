-- Needed by the socket.io Postgres adapter, which relays broadcasts between
-- web instances through this table and NOTIFY.
CREATE TABLE IF NOT EXISTS socket_io_attachments (
	id bigserial UNIQUE,
	created_at timestamptz DEFAULT now(),
	payload bytea
);
