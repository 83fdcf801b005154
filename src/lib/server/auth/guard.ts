/**
 * Server-side authorization for routes and actions. Every mutation goes
 * through `authorize` and, when it succeeds, writes the audit log in the same
 * transaction as the change.
 */
import { error } from '@sveltejs/kit';
import { can, type Permission } from '../../domain/auth/roles';
import type { SqlLike } from '../db/client';
import { appendAudit } from './audit';
import type { User } from './users';

export function requireUser(locals: App.Locals): User {
	if (!locals.user) error(401, { message: 'Sign in first.', code: 'unauthenticated' });
	return locals.user;
}

export function authorize(locals: App.Locals, permission: Permission): User {
	const user = requireUser(locals);
	if (!can(user.role, permission)) {
		error(403, { message: `Your role (${user.role}) may not ${permission.replace(/_/g, ' ')}.`, code: 'forbidden' });
	}
	return user;
}

/** Record an action by `user` inside the caller's transaction. */
export function audit(tx: SqlLike, user: User, action: string, target: string | null, reason: string | null, details: Record<string, unknown> = {}) {
	return appendAudit(tx, { userId: user.id, username: user.username, role: user.role, action, target, reason, details });
}
