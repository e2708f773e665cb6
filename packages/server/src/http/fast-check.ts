import type { IncomingMessage, ServerResponse } from 'node:http';
import { CheckRequest, Decision as DecisionSchema } from '@keymaster/contract';
import type { Decision } from '@keymaster/core';
import fastJson from 'fast-json-stringify';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import { toApiDecision } from '../modules/entitlements/convert.js';
import { type Authenticator, type AuthOutcome, bearerCredential, customerMismatch } from './auth.js';
import type { RequestObserver } from './metrics.js';
import { type AjvError, internalProblem, type ProblemInput, problemDocument, validationProblem } from './problems.js';
import { requestIdFor } from './request-id.js';
import { bodyValidator } from './validation.js';

/** Whether a raw request is a check: the only route served outside Fastify's router. */
export function isCheckRequest(request: IncomingMessage): boolean {
  const url = request.url ?? '';
  return request.method === 'POST' && (url === '/v1/check' || url.startsWith('/v1/check?'));
}

/**
 * `POST /v1/check` on a plain node:http handler. Checks are the hot path — a product asks one
 * before every gated action — and a general-purpose router's per-request work (hooks, reply
 * decoration, a child logger, promise hops) costs more than the check itself. This handler does
 * the same steps with the same pieces as the Fastify route that documents the endpoint and
 * serves in-process `inject` calls: the same authentication, the same compiled schema, the same
 * service, conversion and problem documents. A parity test holds the two to identical answers.
 */
export function createFastCheck(deps: {
  /** The same authenticator as the Fastify hook: secret keys synchronously, customer tokens not. */
  authenticate: Authenticator;
  /** The CORS headers @fastify/cors would add (see cors.ts). */
  corsHeaders: (origin: string | undefined) => Record<string, string>;
  check: (request: CheckRequest) => Decision | Promise<Decision>;
  bodyLimitBytes: number;
  observe: RequestObserver;
  logger: Logger;
}) {
  const validate = bodyValidator(CheckRequest) as (
    data: unknown,
    text?: string,
  ) => { value?: CheckRequest; error?: { validation: AjvError[] } };
  const serialize = fastJson(DecisionSchema);

  // The helpers below take positional arguments: they run on every check, and building an
  // options object per call (or spreading one) costs more than the rest of the answer.
  const jsonType = 'application/json; charset=utf-8';
  const problemType = 'application/problem+json; charset=utf-8';

  function send(res: ServerResponse, requestId: string, started: number, status: number, body: string, type: string) {
    const cors = deps.corsHeaders(res.req.headers.origin);
    for (const name in cors) res.setHeader(name, cors[name]!);
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
    });
    res.end(body);
    const seconds = (performance.now() - started) / 1000;
    deps.observe({ method: 'POST', route: '/v1/check', status, seconds });
    if (deps.logger.isLevelEnabled?.('info')) {
      deps.logger.info(
        {
          reqId: requestId,
          req: { method: 'POST', url: '/v1/check' },
          res: { statusCode: status },
          responseTime: seconds * 1000,
        },
        'request completed',
      );
    }
  }

  function sendProblem(res: ServerResponse, requestId: string, started: number, problem: ProblemInput) {
    const body = JSON.stringify(problemDocument({ ...problem, requestId }));
    send(res, requestId, started, problem.status, body, problemType);
  }

  function fail(res: ServerResponse, requestId: string, started: number, error: unknown) {
    deps.logger.error({ err: error, reqId: requestId }, 'unhandled error');
    sendProblem(res, requestId, started, internalProblem);
  }

  function answer(
    res: ServerResponse,
    requestId: string,
    started: number,
    text: string | undefined,
    scope: string | undefined,
  ) {
    let data: unknown;
    if (text !== undefined && text !== '') {
      try {
        data = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
      } catch (error) {
        const detail = error instanceof SyntaxError ? error.message : 'Body is not valid JSON';
        return sendProblem(res, requestId, started, { status: 400, code: 'malformed_request', detail });
      }
    }
    const validated = validate(data, text);
    if (validated.error)
      return sendProblem(res, requestId, started, validationProblem(validated.error.validation, 'body'));
    const request = validated.value!;
    if (scope !== undefined && request.customer !== scope)
      return sendProblem(res, requestId, started, customerMismatch({ token: scope, requested: request.customer }));
    const decision = deps.check(request);
    if (!(decision instanceof Promise)) {
      return send(res, requestId, started, 200, serialize(toApiDecision(decision)), jsonType);
    }
    decision.then(
      (d) => send(res, requestId, started, 200, serialize(toApiDecision(d)), jsonType),
      (error: unknown) => fail(res, requestId, started, error),
    );
  }

  const tooLarge: ProblemInput = { status: 413, code: 'payload_too_large', detail: 'Request body is too large' };

  /** The rest of a check once its credential is known. */
  function proceed(req: IncomingMessage, res: ServerResponse, requestId: string, started: number, auth: AuthOutcome) {
    if ('problem' in auth) {
      if (auth.problem.status === 401) res.setHeader('www-authenticate', 'Bearer realm="keymaster"');
      sendProblem(res, requestId, started, auth.problem);
      return;
    }
    // A customer token may check only its own customer (compared once the body is read).
    const scope = auth.principal.customer;
    const type = req.headers['content-type'];
    if (Number(req.headers['content-length'] ?? 0) > deps.bodyLimitBytes) {
      sendProblem(res, requestId, started, tooLarge);
      return;
    }
    const json = type === undefined || /^application\/json\s*(;|$)/i.test(type);
    if (!json && !/^text\/plain\s*(;|$)/i.test(type ?? '')) {
      const detail = `Unsupported Media Type: ${type}`;
      sendProblem(res, requestId, started, { status: 415, code: 'unsupported_media_type', detail });
      return;
    }
    // Bodies are small: keep the first chunk as is and concatenate only when there are more.
    let first: Buffer | undefined;
    let rest: Buffer[] | undefined;
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > deps.bodyLimitBytes) {
        req.removeAllListeners('data');
        req.removeAllListeners('end');
        req.resume();
        sendProblem(res, requestId, started, tooLarge);
        return;
      }
      if (first === undefined) first = chunk;
      else if (rest === undefined) rest = [first, chunk];
      else rest.push(chunk);
    });
    req.on('end', () => {
      const text = rest ? Buffer.concat(rest).toString('utf8') : first ? first.toString('utf8') : '';
      try {
        // A text/plain body is a string to the schema (and so never a valid check), as in Fastify.
        if (!json)
          return sendProblem(
            res,
            requestId,
            started,
            validationProblem(validate(text).error?.validation ?? [], 'body'),
          );
        answer(res, requestId, started, type === undefined && text === '' ? undefined : text, scope);
      } catch (error) {
        fail(res, requestId, started, error);
      }
    });
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const requestId = requestIdFor(req.headers['x-request-id']);
    try {
      const auth = deps.authenticate(bearerCredential(req.headers.authorization));
      if (auth instanceof Promise) {
        auth.then(
          (outcome) => proceed(req, res, requestId, started, outcome),
          (error: unknown) => fail(res, requestId, started, error),
        );
      } else {
        proceed(req, res, requestId, started, auth);
      }
    } catch (error) {
      fail(res, requestId, started, error);
    }
  };
}
