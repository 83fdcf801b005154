// See https://svelte.dev/docs/kit/types#app.d.ts
import type { User } from '$lib/server/auth/users';

declare global {
	namespace App {
		interface Locals {
			user: User | null;
			sessionToken: string | null;
		}
		interface PageData {
			user?: User | null;
		}
		interface Error {
			message: string;
			code?: string;
		}
	}
}

export {};
