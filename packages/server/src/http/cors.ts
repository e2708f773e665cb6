import type { FastifyInstance } from 'fastify';
import type { Concern } from './concerns.js';

/**
 * CORS for the routes a browser may call with a customer token — entitlements, check, the
 * stream, notifications (list, mark read) and OFREP evaluation — or with a portal token (the
 * portal view and its changes, for @keymaster/react's embedded portal components; not the
 * cookie exchange, and never with credentials: cross-origin, the portal token is the bearer),
 * and for no other: secret keys belong on servers, and a browser calling any other route is a
 * mistake CORS should surface, not hide. Off unless KEYMASTER_CORS_ORIGINS lists origins.
 */
const browserPath =
  /^\/(v1\/(check|stream|portal(\/(preview|change|add-ons|cancel|undo-cancel))?|customers\/[^/?]+\/(entitlements|notifications(\/[^/?]+\/read)?))|ofrep\/v1\/evaluate\/flags(\/[^/?]+)?)(\?|$)/;

// ETag: OFREP's bulk evaluation is revalidated with If-None-Match (the web provider polls it).
// The rate-limit fields: a browser's code can then slow down before it is refused (limits.md).
const exposedHeaders = 'x-request-id, etag, retry-after, ratelimit, ratelimit-policy';
const allowedMethods = 'GET, POST';
// If-None-Match: the OFREP web provider revalidates its polls with the ETag; without it in the
// preflight answer the browser blocks every poll after the first.
const allowedHeaders = 'Authorization, Content-Type, If-None-Match, Last-Event-ID, X-Request-Id';
/** How long a browser may keep a preflight's answer, in seconds. */
const preflightMaxAge = '600';

/** The origin to allow for a request from `origin`, or undefined when it is not allowed. */
function allowedOrigin(origins: readonly string[], origin: string | string[] | undefined): string | undefined {
  if (origins.includes('*')) return '*';
  return typeof origin === 'string' && origins.includes(origin) ? origin : undefined;
}

/**
 * The CORS headers of every answer: `Vary: Origin` always (an answer depends on it), and on the
 * browser routes the exposed headers and, for an allowed origin, the origin itself.
 */
export function cors(origins: readonly string[]): Concern {
  return {
    name: 'cors',
    onRequest(exchange) {
      exchange.header('vary', 'Origin');
      if (!browserPath.test(exchange.url)) return undefined;
      exchange.header('access-control-expose-headers', exposedHeaders);
      const allowed = allowedOrigin(origins, exchange.headers.origin);
      if (allowed !== undefined) exchange.header('access-control-allow-origin', allowed);
      return undefined;
    },
  };
}

/**
 * Answers a browser's preflight (`OPTIONS` with `Access-Control-Request-Method`) for the browser
 * routes: 204 with what may be sent. Any other `OPTIONS` is a 404, as without CORS. The `cors`
 * concern has already added the origin.
 */
export function registerPreflight(app: FastifyInstance): void {
  app.options('*', { schema: { hide: true } }, (request, reply) => {
    if (!browserPath.test(request.url) || request.headers['access-control-request-method'] === undefined) {
      reply.callNotFound();
      return reply;
    }
    return reply
      .header('access-control-allow-methods', allowedMethods)
      .header('access-control-allow-headers', allowedHeaders)
      .header('access-control-max-age', preflightMaxAge)
      .code(204)
      .send();
  });
}
