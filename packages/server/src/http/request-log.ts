import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Concern } from './concerns.js';
import type { RequestObserver } from './metrics.js';

/**
 * Whether a query parameter's name, as it is written in a URL, is `access_token` once decoded:
 * the query parser decodes names (`access%5Ftoken` is read as `access_token`), so redaction must
 * too, or a token the stream accepts would be logged.
 */
function isAccessToken(name: string): boolean {
  if (!name.includes('%')) return name.toLowerCase() === 'access_token';
  try {
    return decodeURIComponent(name).toLowerCase() === 'access_token';
  } catch {
    return false;
  }
}

/** A URL as logged: the value of a customer token passed as `?access_token=` (the stream) is replaced. */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const pairs = url.slice(start + 1).split('&');
  let redacted = false;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const equals = pair.indexOf('=');
    if (equals >= 0 && isAccessToken(pair.slice(0, equals))) {
      pairs[i] = `${pair.slice(0, equals)}=[redacted]`;
      redacted = true;
    }
  }
  return redacted ? `${url.slice(0, start + 1)}${pairs.join('&')}` : url;
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
