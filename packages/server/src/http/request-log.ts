import type { FastifyRequest } from 'fastify';

/** A URL as logged: a customer token passed as `?access_token=` (the stream) is replaced. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[redacted]');
}

/**
 * Fastify's request log serializer, with the URL redacted: a token in a log file is a token
 * anyone who can read the logs may use until it expires.
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
