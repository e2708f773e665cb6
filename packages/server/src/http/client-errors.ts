import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { malformed } from '@keymaster/core';
import type { FastifyInstance } from 'fastify';
import type { Concern } from './concerns.js';
import { domainProblem, httpProblem, type ProblemInput, problemDocument } from './problems.js';
import { requestIdFor } from './request-id.js';

/** Node's parser errors, by what the client is told. */
function problemFor(code: string | undefined): ProblemInput {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return httpProblem('headers_too_large', 'The request line and headers are larger than this server accepts.');
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return httpProblem('request_timeout', 'The request did not arrive in time.');
  return domainProblem(malformed('The request is not valid HTTP.'));
}

/**
 * Answers what Node's HTTP parser refuses before there is a request to route (headers over the
 * size limit, a malformed request line or header, a request too slow to arrive): the same problem
 * documents as every other error, written on the socket, which is then closed — the parser
 * cannot find where the next request would start. Fastify's `clientErrorHandler`: it listens to
 * the server's 'clientError' event.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem = problemFor(error.code);
  const requestId = requestIdFor(undefined);
  // Not the error itself: Node attaches the bytes it received (`rawPacket`), and those hold the
  // request's Authorization header, a credential anyone who reads the logs could use.
  this.log.debug(
    { err: { type: error.name, code: error.code, message: error.message }, reqId: requestId },
    'refused a request Node could not parse',
  );
  // As Node does: once a response on this connection has begun, more bytes would corrupt it.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = Buffer.from(JSON.stringify(problemDocument({ ...problem, requestId })));
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
        'Content-Type: application/problem+json; charset=utf-8\r\n' +
        `Content-Length: ${body.length}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n',
    );
    socket.write(body);
  }
  socket.destroy();
}

/**
 * The longest request target (path and query string) a request may have, in characters: as
 * common proxies' default (nginx's 8 KiB header buffers, Apache's LimitRequestLine). A longer one
 * answers 414 `uri_too_long`; past 16 KiB with the headers, Node's parser answers 431 first.
 */
export const maxUrlLength = 8192;

const uriTooLong = httpProblem(
  'uri_too_long',
  `The request's path and query are longer than ${maxUrlLength} characters, the most this server accepts.`,
);

/** Refuses a request whose target is longer than `maxUrlLength`, on every route and before routing's work. */
export const urlLength: Concern = {
  name: 'url length',
  onRequest: (exchange) => (exchange.url.length > maxUrlLength ? uriTooLong : undefined),
};
