import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Concern } from './concerns.js';
import type { RequestObserver } from './metrics.js';

/**
 * Query parameters whose values are credentials, by name once decoded: the stream's
 * `access_token`, and the names clients put a key, token or password under by mistake.
 */
const credentialNames = new Set([
  'access_token',
  'api_key',
  'apikey',
  'key',
  'token',
  'secret',
  'password',
  'client_secret',
  'authorization',
]);

/**
 * Whether a query parameter's name, as it is written in a URL, names a credential once decoded:
 * the query parser decodes names (`access%5Ftoken` is read as `access_token`), so redaction must
 * too, or a token the stream accepts would be logged.
 */
function isCredentialName(name: string): boolean {
  if (!name.includes('%')) return credentialNames.has(name.toLowerCase());
  try {
    return credentialNames.has(decodeURIComponent(name).toLowerCase());
  } catch {
    return false;
  }
}

/** A Keymaster API key or a JWT (customer token, portal link) anywhere in a URL, under any name or in the path. */
const credentialValue = /\bkm_(sk|pk)_[A-Za-z0-9_-]+|\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

/**
 * A URL as logged: the values of query parameters named like credentials (`?access_token=`, the
 * stream's, and `?api_key=`, `?token=`, …) are replaced, and so is anything shaped like an API
 * key or a token wherever it is — a client that put one in the wrong place must not have it kept
 * in the logs.
 */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  let redacted = url;
  if (start >= 0) {
    const pairs = url.slice(start + 1).split('&');
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[i]!;
      const equals = pair.indexOf('=');
      if (equals >= 0 && isCredentialName(pair.slice(0, equals))) pairs[i] = `${pair.slice(0, equals)}=[redacted]`;
    }
    redacted = `${url.slice(0, start + 1)}${pairs.join('&')}`;
  }
  return redacted.replace(credentialValue, (found) =>
    found.startsWith('km_') ? `${found.slice(0, 6)}[redacted]` : '[redacted]',
  );
}

/**
 * The request log serializer (pino's `req`), with the URL redacted: a token in a log file is a
 * token anyone who can read the logs may use until it expires. Headers are not logged at all (the
 * Authorization header carries the credential).
 */
export function serializeRequest(request: Pick<IncomingMessage, 'method' | 'url' | 'headers' | 'socket'>) {
  return {
    method: request.method,
    url: redactUrl(request.url ?? ''),
    host: request.headers.host,
    remoteAddress: request.socket?.remoteAddress,
    remotePort: request.socket?.remotePort,
  };
}

/**
 * Metrics and the access log, in one place for every route: each answered request counts in
 * `keymaster_http_requests_total` and its duration histogram (see `requestObserver`), and is logged
 * once, at info, as `request completed`.
 */
export function observability(input: { observe: RequestObserver; logger: Logger }): Concern {
  const { observe, logger } = input;
  return {
    name: 'observability',
    onResponse(exchange, status, seconds) {
      observe(exchange.method, exchange.route, status, seconds);
      if (logger.isLevelEnabled('info')) {
        logger.info(
          {
            reqId: exchange.requestId,
            req: exchange.raw,
            res: { statusCode: status },
            responseTime: seconds * 1000,
          },
          'request completed',
        );
      }
    },
  };
}
