import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The console (`/`) and the customer portal (`/portal`): the build of `packages/web`, served
 * by this process. Both are single-page apps on the public API: a page request that is not an
 * API route answers the app's HTML, whose script then reads the route from the URL.
 */

/** Where `npm run build` puts the web build (the `@keymaster/web` workspace's `dist`). */
export function webBuildDirectory(): string | undefined {
  try {
    const manifest = createRequire(import.meta.url).resolve('@keymaster/web/package.json');
    const dist = join(dirname(manifest), 'dist');
    return existsSync(join(dist, 'index.html')) ? dist : undefined;
  } catch {
    return undefined;
  }
}

/** Paths that are the API's (or the docs'): never answered with a page. */
const apiPrefixes = ['/v1/', '/ofrep/', '/docs', '/openapi.json', '/healthz', '/readyz', '/assets/'];

/**
 * What the browser may do on these pages: scripts and styles only from this origin (Recharts
 * sets inline style attributes), calls only to this origin, never framed by another site.
 */
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', contentSecurityPolicy)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

export interface WebPages {
  /** The page for a GET that matched no route, if it is a page of the console or the portal. */
  pageFor(request: FastifyRequest): string | undefined;
  send(reply: FastifyReply, page: string): FastifyReply;
}

/**
 * Serves the built assets at `/assets/…` (content-hashed names: cached for a year) and answers
 * page requests with the console's or the portal's HTML. Without a build (a checkout where
 * `npm run build` has not run), pages answer 503 saying so; the API is unaffected.
 */
export async function registerWeb(app: FastifyInstance, input: { root: string | undefined }): Promise<WebPages> {
  const { root } = input;
  if (root !== undefined) {
    await app.register(fastifyStatic, {
      root: join(root, 'assets'),
      prefix: '/assets/',
      index: false,
      wildcard: true,
      immutable: true,
      maxAge: '365d',
      schemaHide: true,
    });
  }
  const html = (name: string) => (root === undefined ? undefined : readFileSync(join(root, name), 'utf8'));
  const pages = { console: html('index.html'), portal: html('portal.html') };
  const missing =
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Keymaster</title></head><body><main>' +
    '<h1>The console is not built</h1><p>Run <code>npm run build</code> in the Keymaster checkout, then restart. ' +
    'The API at <code>/v1</code> works without it.</p></main></body></html>';
  return {
    pageFor(request) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
      const path = request.url.split('?')[0]!;
      if (apiPrefixes.some((prefix) => path === prefix.replace(/\/$/, '') || path.startsWith(prefix))) return undefined;
      // A script's request for a missing file is a 404, not the app's HTML.
      if (!(request.headers.accept ?? '').includes('text/html')) return undefined;
      if (root === undefined) return missing;
      return path === '/portal' || path.startsWith('/portal/') ? pages.portal : pages.console;
    },
    send(reply, page) {
      return pageHeaders(reply)
        .status(page === missing ? 503 : 200)
        .send(page);
    },
  };
}
