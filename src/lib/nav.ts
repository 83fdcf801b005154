/** Dashboard navigation: one entry per page, shown to roles that may use it. */
import type { Permission } from './domain/auth/roles';

export interface NavItem {
	href: string;
	label: string;
	needs: Permission;
}

export const NAV: NavItem[] = [
	{ href: '/', label: 'Overview', needs: 'view' },
	{ href: '/worklist', label: 'Worklist', needs: 'view' },
	{ href: '/criticals', label: 'Criticals', needs: 'view' },
	{ href: '/sla', label: 'SLA risk', needs: 'view' },
	{ href: '/forecast', label: 'Forecast', needs: 'view' },
	{ href: '/events', label: 'Event stream', needs: 'view' },
	{ href: '/ingest', label: 'Ingest', needs: 'administer' },
	{ href: '/interfaces', label: 'Interfaces', needs: 'view' },
	{ href: '/admin', label: 'Admin', needs: 'administer' }
];
