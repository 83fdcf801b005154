-- Enhanced-mode HL7 (issue #4): a message answered with a commit accept (CA)
-- once its raw text is durable, and applied afterwards. `pending` is true from
-- that CA until its commands are applied (or refused, then ack_code AE); a
-- restarted HL7 role applies every pending message, oldest first.
ALTER TABLE hl7_messages ADD COLUMN IF NOT EXISTS pending boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS hl7_messages_pending_idx ON hl7_messages (id) WHERE pending;
