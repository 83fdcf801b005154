/**
 * Roles and what each may do. The server checks every action against this
 * table; the UI uses it only to hide what would be refused anyway.
 */
export const Role = {
	manager: 'manager',
	charge: 'charge',
	admin: 'admin'
} as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES = Object.values(Role);

export const Permission = {
	/** See dashboards, queues, events, forecasts. */
	view: 'view',
	/** Reassign, hold, return to pool, pause a reader, override priority. */
	steerWorklist: 'steer_worklist',
	/** Confirm or dismiss AI critical findings. */
	decideCriticals: 'decide_criticals',
	/** Users, routing policy, shifts, exam mappings, AI models. */
	administer: 'administer',
	/** Raw HL7 messages and patient details (audited on every read). */
	viewRawMessages: 'view_raw_messages'
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
	manager: new Set([Permission.view]),
	charge: new Set([Permission.view, Permission.steerWorklist, Permission.decideCriticals]),
	admin: new Set(Object.values(Permission))
};

export function can(role: Role, permission: Permission): boolean {
	return GRANTS[role]?.has(permission) ?? false;
}

export function isRole(x: unknown): x is Role {
	return typeof x === 'string' && (ROLES as string[]).includes(x);
}
