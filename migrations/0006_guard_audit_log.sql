-- Security (issue #9): the audit log stays append-only against TRUNCATE too,
-- and login throttling (src/lib/server/auth/throttle.ts) counts recent failed
-- sign-ins per account and per client address from it without a scan.
-- Safe to re-run.

-- 0001's row trigger refuses UPDATE and DELETE; TRUNCATE fires only
-- statement-level triggers, so it needs its own.
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Roles other than the owner (read-only reporting users, replicas' consumers)
-- never get to change history either.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

CREATE INDEX IF NOT EXISTS audit_log_login_failed_target_idx ON audit_log (target, at)
	WHERE action = 'auth.login_failed';
CREATE INDEX IF NOT EXISTS audit_log_login_failed_ip_idx ON audit_log ((details->>'ip'), at)
	WHERE action = 'auth.login_failed';
