import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		adapter: adapter({ out: 'build' }),
		// Content-Security-Policy for every page. 'auto' gives SvelteKit's own inline
		// bootstrap script a per-response nonce (a hash on prerendered pages), so no
		// 'unsafe-inline' script is ever allowed. Styles keep 'unsafe-inline': Svelte
		// writes style attributes (style: directives, transitions) and styles cannot run code.
		// connect-src 'self' covers the socket.io WebSocket on the same host (CSP 3).
		csp: {
			mode: 'auto',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				'style-src': ['self', 'unsafe-inline'],
				'img-src': ['self', 'data:'],
				'font-src': ['self'],
				'connect-src': ['self'],
				'object-src': ['none'],
				'frame-ancestors': ['none'],
				'base-uri': ['self'],
				'form-action': ['self']
			}
		}
	}
};

export default config;
