import type { IncomingMessage, ServerResponse } from 'node:http';
import { CheckRequest, ConsumeRequest, Decision as DecisionSchema } from '@keymaster/contract';
import type { Decision } from '@keymaster/core';
import type { TSchema } from '@sinclair/typebox';
import fastJson from 'fast-json-stringify';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import { toApiDecision } from '../modules/entitlements/convert.js';
import {
  type Authenticator,
  type AuthOutcome,
  bearerCredential,
  customerMismatch,
  customerTokenForbidden,
  tokenContext,
} from './auth.js';
import { idempotencyKeyProblem } from './idempotency.js';
import type { RequestObserver } from './metrics.js';
import {
  type AjvError,
  asDomainError,
  domainProblem,
  internalProblem,
  malformedJsonProblem,
  type ProblemInput,
  problemDocument,
  retryAfterSeconds,
  unsupportedMediaTypeProblem,
  validationProblem,
} from './problems.js';
import { requestIdFor } from './request-id.js';
import { bodyValidator } from './validation.js';

/** Whether a raw request is a check: the only route served outside Fastify's router. */
export function isCheckRequest(request: IncomingMessage): boolean {
  const url = request.url ?? '';
  return request.method === 'POST' && (url === '/v1/check' || url.startsWith('/v1/check?'));
}

/**
 * Whether a raw request is a consume the fast handler serves: one without an `Idempotency-Key`
 * header (those go through the router, whose hook stores and replays the response; a consume's
 * own `idempotency_key` field is the service's and works on both).
 */
export function isConsumeRequest(request: IncomingMessage): boolean {
  const url = request.url ?? '';
  return (
    request.method === 'POST' &&
    (url === '/v1/consume' || url.startsWith('/v1/consume?')) &&
    request.headers['idempotency-key'] === undefined
  );
}

/**
 * `POST /v1/consume` on the same plain handler as checks: a consume is a check that writes, and
 * the router's per-request work was as much CPU as the consume's own statements. Differences
 * from a check, as in the Fastify route: customer tokens are refused (the route declares no
 * customer scope); domain errors (an idempotency conflict) answer their problem; and a granted
 * or refused answer leaves only after the change feed has been read up to the write (the
 * router's onSend hook), so this node's next check sees it.
 */
export function createFastConsume(deps: {
  authenticate: Authenticator;
  corsHeaders: (origin: string | undefined) => Record<string, string>;
  consume: (request: ConsumeRequest) => Promise<Decision>;
  /** Reads the change feed up to now; runs after a successful consume, before it answers. */
  afterWrite: () => Promise<void>;
  bodyLimitBytes: number;
  observe: RequestObserver;
  logger: Logger;
}) {
  return createFastHandler<ConsumeRequest>({
    ...deps,
    route: '/v1/consume',
    schema: ConsumeRequest,
    tokens: 'forbidden',
    run: (request) =>
      deps.consume(request).then(async (decision) => {
        await deps.afterWrite();
        return decision;
      }),
  });
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
  /** The context keys a customer token may set (see `tokenContext`). */
  clientContextKeys: readonly string[];
  bodyLimitBytes: number;
  observe: RequestObserver;
  logger: Logger;
}) {
  return createFastHandler<CheckRequest>({
    ...deps,
    route: '/v1/check',
    schema: CheckRequest,
    tokens: 'scoped',
    run: deps.check,
  });
}

function createFastHandler<Body extends { customer: string }>(deps: {
  route: string;
  schema: TSchema;
  /** scoped: a customer token may name only its own customer; forbidden: tokens are refused. */
  tokens: 'scoped' | 'forbidden';
  authenticate: Authenticator;
  corsHeaders: (origin: string | undefined) => Record<string, string>;
  run: (request: Body) => Decision | Promise<Decision>;
  clientContextKeys?: readonly string[];
  bodyLimitBytes: number;
  observe: RequestObserver;
  logger: Logger;
}) {
  const route = deps.route;
  const clientContext = new Set(deps.clientContextKeys);
  const validate = bodyValidator(deps.schema) as (
    data: unknown,
    text?: string,
  ) => { value?: Body; error?: { validation: AjvError[] } };
  const serialize = fastJson(DecisionSchema);
  const observeRoute = deps.observe.route('POST', route);

  // The helpers below take positional arguments: they run on every check, and building an
  // options object per call (or spreading one) costs more than the rest of the answer.
  const jsonType = 'application/json; charset=utf-8';
  const problemType = 'application/problem+json; charset=utf-8';

  function send(res: ServerResponse, requestId: string, started: number, status: number, body: string, type: string) {
    const cors = deps.corsHeaders(res.req.headers.origin);
    for (const name in cors) res.setHeader(name, cors[name]!);
    // As bytes: node:http writes a string body joined to the header block as one more string to
    // encode on the socket, which measured ~4 µs of CPU more per check than a Buffer (bench/).
    const bytes = Buffer.from(body);
    res.writeHead(status, {
      'content-type': type,
      'content-length': bytes.length,
      'x-request-id': requestId,
    });
    res.end(bytes);
    const seconds = (performance.now() - started) / 1000;
    observeRoute(status, seconds);
    if (deps.logger.isLevelEnabled?.('info')) {
      deps.logger.info(
        {
          reqId: requestId,
          req: { method: 'POST', url: route },
          res: { statusCode: status },
          responseTime: seconds * 1000,
        },
        'request completed',
      );
    }
  }

  function sendProblem(res: ServerResponse, requestId: string, started: number, problem: ProblemInput) {
    if (problem.status === 503) res.setHeader('retry-after', String(retryAfterSeconds));
    const body = JSON.stringify(problemDocument({ ...problem, requestId }));
    send(res, requestId, started, problem.status, body, problemType);
  }

  function fail(res: ServerResponse, requestId: string, started: number, error: unknown) {
    const domain = asDomainError(error);
    if (domain) {
      if (domain !== error) deps.logger.warn({ err: error, reqId: requestId }, 'database unavailable');
      return sendProblem(res, requestId, started, domainProblem(domain));
    }
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
        return sendProblem(res, requestId, started, malformedJsonProblem(error));
      }
    }
    const validated = validate(data, text);
    if (validated.error)
      return sendProblem(res, requestId, started, validationProblem(validated.error.validation, 'body'));
    const request = validated.value!;
    if (scope !== undefined) {
      if (request.customer !== scope)
        return sendProblem(res, requestId, started, customerMismatch({ token: scope, requested: request.customer }));
      const body = request as { context?: unknown };
      if (body.context !== undefined) body.context = tokenContext(body.context, clientContext);
    }
    // Checked where the router's hook checks it: after the body, before the service.
    const keyProblem = idempotencyKeyProblem(res.req.headers['idempotency-key']);
    if (keyProblem) return sendProblem(res, requestId, started, keyProblem);
    const decision = deps.run(request);
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
    if (scope !== undefined && deps.tokens === 'forbidden') {
      sendProblem(res, requestId, started, customerTokenForbidden);
      return;
    }
    const type = req.headers['content-type'];
    if (Number(req.headers['content-length'] ?? 0) > deps.bodyLimitBytes) {
      sendProblem(res, requestId, started, tooLarge);
      return;
    }
    const json = type === undefined || /^application\/json\s*(;|$)/i.test(type);
    if (!json && !/^text\/plain\s*(;|$)/i.test(type ?? '')) {
      sendProblem(res, requestId, started, unsupportedMediaTypeProblem(type));
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
