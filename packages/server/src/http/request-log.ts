import type { FastifyRequest } from 'fastify';

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
 * Fastify's request log serializer, with the URL redacted: a token in a log file is a token
 * anyone who can read the logs may use until it expires. Headers are not logged at all (the
 * Authorization header carries the credential).
 */
export function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
