-- Event store speed (issue #2): idempotency keys compare bytewise. Under a
-- libc locale such as C.UTF-8, every comparison in event_keys' primary-key
-- index went through strcoll(); with COLLATE "C" it is a memcmp. Equality, and
-- so what counts as a duplicate key, is the same under both (deterministic
-- collations). Rewrites event_keys once; skipped when the column is already "C".
DO $$
BEGIN
	IF (SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
		WHERE a.attrelid = 'event_keys'::regclass AND a.attname = 'key') IS DISTINCT FROM 'C' THEN
		ALTER TABLE event_keys ALTER COLUMN key TYPE text COLLATE "C";
	END IF;
END $$;
