/** Auth errors with stable codes; translated to HTTP statuses at the edge. */
export class AuthError extends Error {
	constructor(
		readonly code: 'unauthenticated' | 'forbidden' | 'rate_limited' | 'bad_credentials' | 'csrf',
		message: string,
		readonly status: number,
		/** For `rate_limited`: seconds until another attempt is allowed. */
		readonly retryAfterSeconds?: number
	) {
		super(message);
		this.name = 'AuthError';
	}
}
