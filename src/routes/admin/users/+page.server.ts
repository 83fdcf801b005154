import { fail } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { createUser, newPassword } from '$lib/server/auth/users';
import { isRole } from '$lib/domain/auth/roles';
import { users } from '$lib/server/db/schema';
import { asc } from 'drizzle-orm';

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'administer');
	const list = await getContext()
		.db.orm.select({ id: users.id, username: users.username, displayName: users.displayName, role: users.role, disabled: users.disabled, createdAt: users.createdAt })
		.from(users)
		.orderBy(asc(users.username));
	return { users: list };
};

export const actions: Actions = {
	create: async ({ locals, request }) => {
		const admin = authorize(locals, 'administer');
		const f = await request.formData();
		const username = String(f.get('username') ?? '').trim().toLowerCase();
		const role = String(f.get('role') ?? '');
		const displayName = String(f.get('displayName') ?? '').trim() || username;
		if (!isRole(role)) return fail(400, { message: 'Choose a role.' });
		const password = newPassword() + newPassword().slice(0, 4);
		try {
			await getContext().db.sql.begin((tx) =>
				createUser(tx, { username, role, password, displayName }, { userId: admin.id, username: admin.username, role: admin.role })
			);
		} catch (err) {
			const msg = (err as Error).message;
			return fail(400, { message: msg.includes('unique') ? `User ${username} already exists.` : msg });
		}
		return { created: { username, password } };
	}
};
