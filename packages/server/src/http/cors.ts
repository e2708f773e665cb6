import type { FastifyCorsOptions } from '@fastify/cors';
import type { FastifyRequest } from 'fastify';

/**
 * CORS for the routes a browser may call with a customer token — entitlements, check, the
 * stream and OFREP evaluation — and for no other: secret keys belong on servers, and a browser calling any other route
 * is a mistake CORS should surface, not hide. Off unless KEYMASTER_CORS_ORIGINS lists origins.
 *
 * `POST /v1/check` over a socket is answered outside Fastify (fast-check.ts), so the headers
 * are computed here once for both: `corsHeaders` mirrors what @fastify/cors sends.
 */
const browserPath =
  /^\/(v1\/(check|stream|customers\/[^/?]+\/entitlements)|ofrep\/v1\/evaluate\/flags(\/[^/?]+)?)(\?|$)/;

// ETag: OFREP's bulk evaluation is revalidated with If-None-Match (the web provider polls it).
const exposedHeaders = 'x-request-id, etag';

/** Options for @fastify/cors's delegator: the browser routes get CORS, the rest none. */
export function corsDelegator(origins: readonly string[]) {
  const enabled: FastifyCorsOptions = {
    origin: [...origins],
    methods: ['GET', 'POST'],
    // If-None-Match: the OFREP web provider revalidates its polls with the ETag; without it in
    // the preflight answer the browser blocks every poll after the first.
    allowedHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Last-Event-ID', 'X-Request-Id'],
    exposedHeaders,
    maxAge: 600,
  };
  const disabled: FastifyCorsOptions = { origin: false };
  return (request: FastifyRequest, callback: (error: Error | null, options: FastifyCorsOptions) => void) =>
    callback(null, browserPath.test(request.url) ? enabled : disabled);
}

/** The CORS headers @fastify/cors adds to a browser route's answer, for the fast check path. */
export function corsHeaders(origins: readonly string[]): (origin: string | undefined) => Record<string, string> {
  if (origins.length === 0) return () => ({});
  const any = origins.includes('*');
  // As @fastify/cors: Vary and the exposed headers always; the origin only when it is allowed.
  const base = { vary: 'Origin', 'access-control-expose-headers': exposedHeaders };
  return (origin) => {
    const allowed = any ? '*' : origin !== undefined && origins.includes(origin) ? origin : undefined;
    return allowed === undefined ? base : { ...base, 'access-control-allow-origin': allowed };
  };
}
