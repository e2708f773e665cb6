import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * Two pages, two bundles: the console (`index.html`, served at `/`) and the customer portal
 * (`portal.html`, served at `/portal`), so a customer's browser never loads the console's code.
 * The server serves `dist/` (packages/server/src/http/web.ts).
 */
export default defineConfig({
  plugins: [react()],
  // Assets are referenced from the site root: the server serves them at `/assets/…` for every page.
  base: '/',
  // `npx vite` in this folder: the UI with live reload, its API calls passed to a server started
  // with `npm start` (KEYMASTER_DEV_API to use another).
  server: {
    proxy: Object.fromEntries(
      ['/v1', '/ofrep'].map((path) => [path, process.env.KEYMASTER_DEV_API ?? 'http://localhost:8080']),
    ),
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Which files each page loads, for the bundle-size check (web/test/bundle-size.test.ts).
    manifest: true,
    rollupOptions: { input: { console: here('index.html'), portal: here('portal.html') } },
  },
});
