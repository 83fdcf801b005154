/**
 * The long-running roles and how each starts. `radflow start` runs every role
 * in one process; each can also run alone, many times over.
 */
import { ConfigError } from '../src/lib/server/config';
import type { Runtime } from './runtime';

export const RoleName = {
	web: 'web',
	dicom: 'dicom',
	hl7: 'hl7',
	triage: 'triage',
	simulate: 'simulate'
} as const;
export type RoleName = (typeof RoleName)[keyof typeof RoleName];

/** Roles `radflow start` runs. */
export const ROLE_NAMES: RoleName[] = [RoleName.web];

export async function startRoles(rt: Runtime, roles: RoleName[], extra: { simulate?: string[] } = {}): Promise<void> {
	for (const role of roles) {
		switch (role) {
			case RoleName.web: {
				const { startWeb } = await import('./web/server');
				rt.addRole(await startWeb(rt.ctx));
				break;
			}
			case RoleName.dicom:
			case RoleName.hl7:
			case RoleName.triage:
			case RoleName.simulate:
				void extra;
				throw new ConfigError(`the ${role} role is not available in this build yet.`);
			default:
				role satisfies never;
		}
	}
}
