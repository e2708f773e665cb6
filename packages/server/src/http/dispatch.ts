import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { TSchema } from '@sinclair/typebox';
import fastJson from 'fast-json-stringify';
import type { FastifyBaseLogger, FastifyContextConfig, FastifyReply, FastifyRequest } from 'fastify';
import type { EffectClaim } from '../db/transaction.js';
import type { Principal } from '../modules/api-keys/service.js';
import { type Concern, type Exchange, phasesOf, type Refusal, runOnSend, runSteps } from './concerns.js';
import { claimOf } from './idempotency.js';
import { isJsonMediaType, isTextMediaType, parseJson, readBody } from './json-body.js';
import {
  type AjvError,
  asDomainError,
  domainProblem,
  internalProblem,
  type ProblemInput,
  problemDocument,
  retryAfterSeconds,
  unsupportedMediaTypeProblem,
  validationProblem,
} from './problems.js';
import { requestIdFor } from './request-id.js';
import { bodyValidator } from './validation.js';

/**
 * A route answered by a plain `node:http` handler as well as by the router: `POST /v1/check`
 * and `POST /v1/consume`. A product asks for a check before every gated action, and a
 * general-purpose router's per-request work (hook runner, reply decoration, a child logger,
 * promise hops) costs more than the check itself. The route is declared once: the router
 * registers it (for the OpenAPI document and for the requests it is given, see `routerOnly`) and
 * the plain dispatch serves it with the same schema, the same handler and the same concerns.
 */
export interface HotRoute<Body = never> {
  readonly url: string;
  readonly config: FastifyContextConfig;
  readonly body: TSchema;
  /** The schema of a 200 answer. */
  readonly response: TSchema;
  /** The route's work, once the body is valid and every concern has let it through. */
  handle(body: Body, context: { claim: EffectClaim | undefined }): unknown;
  /** Requests the plain dispatch leaves to the router (which has hooks this route needs for them). */
  readonly routerOnly?: (request: IncomingMessage) => boolean;
}

/** Declares a hot route (typed by its body). */
export function hotRoute<Body>(route: HotRoute<Body>): HotRoute<Body> {
  return route;
}

/** The router's handler for a hot route: the same `handle`, answered without a promise when it has none. */
export function routerHandler<Body>(route: HotRoute<Body>) {
  return (request: FastifyRequest, reply: FastifyReply) => {
    const answer = route.handle(request.body as Body, { claim: claimOf(request) });
    if (answer instanceof Promise) return answer;
    return reply.send(answer) as unknown as undefined;
  };
}

const noQuery = Object.freeze({});

/**
 * An exchange over a plain request: headers are kept until the answer is written. It also carries
 * the request's own state through the steps below, which are functions made once per route rather
 * than closures per request.
 */
class PlainExchange implements Exchange {
  principal: Principal | undefined = undefined;
  /** The answer's headers as `writeHead` takes them; the type and length are set when it is sent. */
  readonly head: Record<string, string | number> = { 'content-type': '', 'content-length': 0 };
  /** Whether the body is JSON (otherwise plain text, which no schema here accepts). */
  json = true;
  /** The valid body, between validation and the handler. The exchange is its own `RequestInput`. */
  body: unknown = undefined;
  readonly params = noQuery;
  constructor(
    readonly raw: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: string,
    readonly config: FastifyContextConfig,
    readonly requestId: string,
    readonly started: number,
  ) {}
  get method() {
    return this.raw.method ?? 'POST';
  }
  get url() {
    return this.raw.url ?? '';
  }
  get headers() {
    return this.raw.headers;
  }
  get query() {
    const url = this.url;
    const start = url.indexOf('?');
    return start < 0 ? noQuery : parseQuery(url.slice(start + 1));
  }
  header(name: string, value: string) {
    this.head[name] = value;
  }
}

const jsonType = 'application/json; charset=utf-8';
const problemType = 'application/problem+json; charset=utf-8';
const noContext = { claim: undefined };

/**
 * The server's request listener: hot routes to their plain handler, everything else to the
 * router. Every request a socket brings goes through this function, and so do the tests' (see
 * test-support/server.ts), so what is tested is what serves.
 *
 * `concerns` are the same lists, in the same order, that the router runs as hooks (see
 * `registerConcerns`): those of every route, then those of the API's routes.
 */
export function createDispatch(deps: {
  routes: readonly HotRoute<never>[];
  concerns: readonly Concern[];
  router: (request: IncomingMessage, response: ServerResponse) => void;
  bodyLimitBytes: number;
  logger: FastifyBaseLogger;
}) {
  const phases = phasesOf(deps.concerns);
  const handlers = new Map(
    deps.routes.map((route) => [route.url, { serve: plainHandler(route), routerOnly: route.routerOnly }]),
  );

  function plainHandler(route: HotRoute<never>) {
    const validate = bodyValidator(route.body) as (
      data: unknown,
      text?: string,
    ) => { value?: unknown; error?: { validation: AjvError[] } };
    const serialize = fastJson(route.response);

    function send(exchange: PlainExchange, status: number, body: string, type: string) {
      // As bytes: node:http writes a string body joined to the header block as one more string to
      // encode on the socket, which measured ~4 µs of CPU more per check than a Buffer (bench/).
      const bytes = Buffer.from(body);
      // One header object for writeHead: cheaper than a setHeader per header.
      const { res, head } = exchange;
      head['content-type'] = type;
      head['content-length'] = bytes.length;
      res.writeHead(status, head);
      res.end(bytes);
      const seconds = (performance.now() - exchange.started) / 1000;
      const after = phases.onResponse;
      for (let i = 0; i < after.length; i++) after[i]!(exchange, status, seconds);
    }

    /** Runs the `onSend` concerns, then sends. */
    function answer(exchange: PlainExchange, status: number, body: string, type: string) {
      const pending = runOnSend(phases, exchange, status);
      if (pending === undefined) return send(exchange, status, body, type);
      pending.then(
        () => send(exchange, status, body, type),
        (error: unknown) => fail(exchange, error),
      );
    }

    function sendProblem(exchange: PlainExchange, problem: ProblemInput) {
      if (problem.status === 503) exchange.header('retry-after', String(retryAfterSeconds));
      const body = JSON.stringify(problemDocument({ ...problem, requestId: exchange.requestId }));
      answer(exchange, problem.status, body, problemType);
    }

    function fail(exchange: PlainExchange, error: unknown) {
      const domain = asDomainError(error);
      if (domain) {
        if (domain !== error) deps.logger.warn({ err: error, reqId: exchange.requestId }, 'database unavailable');
        return sendProblem(exchange, domainProblem(domain));
      }
      deps.logger.error({ err: error, reqId: exchange.requestId }, 'unhandled error');
      // Past `onSend`, a failure can only be written as it is.
      if (exchange.res.headersSent) return exchange.res.destroy();
      const body = JSON.stringify(problemDocument({ ...internalProblem, requestId: exchange.requestId }));
      send(exchange, 500, body, problemType);
    }

    /** The body is valid and every concern let it through: the route's work. */
    function handle(exchange: PlainExchange, refusal: Refusal, error?: unknown) {
      if (error !== undefined) return fail(exchange, error);
      if (refusal) return sendProblem(exchange, refusal);
      try {
        const result = route.handle(exchange.body as never, noContext);
        if (!(result instanceof Promise)) return answer(exchange, 200, serialize(result), jsonType);
        result.then(
          (value) => answer(exchange, 200, serialize(value), jsonType),
          (thrown: unknown) => fail(exchange, thrown),
        );
      } catch (thrown) {
        fail(exchange, thrown);
      }
    }

    /** The body as read: parsed, validated, passed to the concerns' `preHandler`. */
    function proceed(exchange: PlainExchange, problem: ProblemInput | undefined, bytes: Buffer) {
      if (problem) return sendProblem(exchange, problem);
      try {
        const text = bytes.toString('utf8');
        // A text/plain body is a string to the schema (and so never a valid body), as in the router.
        if (!exchange.json) {
          return sendProblem(exchange, validationProblem(validate(text).error?.validation ?? [], 'body'));
        }
        const validated = validate(parseJson(text), text);
        if (validated.error) return sendProblem(exchange, validationProblem(validated.error.validation, 'body'));
        exchange.body = validated.value;
        runSteps(phases.preHandler, exchange, exchange, exchange, handle);
      } catch (error) {
        fail(exchange, error);
      }
    }

    /** Every concern let the request in: read its body. */
    function admitted(exchange: PlainExchange, refusal: Refusal, error?: unknown) {
      if (error !== undefined) return fail(exchange, error);
      const req = exchange.raw;
      if (refusal) {
        req.resume();
        return sendProblem(exchange, refusal);
      }
      const type = req.headers['content-type'];
      exchange.json = isJsonMediaType(type);
      if (!exchange.json && !isTextMediaType(type)) {
        req.resume();
        return sendProblem(exchange, unsupportedMediaTypeProblem(type));
      }
      readBody(req, deps.bodyLimitBytes, exchange, proceed);
    }

    return (req: IncomingMessage, res: ServerResponse): void => {
      const exchange = new PlainExchange(
        req,
        res,
        route.url,
        route.config,
        requestIdFor(req.headers['x-request-id']),
        performance.now(),
      );
      runSteps(phases.onRequest, exchange, undefined, exchange, admitted);
    };
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'POST') {
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const hot = handlers.get(query < 0 ? url : url.slice(0, query));
      if (hot !== undefined && !hot.routerOnly?.(req)) {
        hot.serve(req, res);
        return;
      }
    }
    deps.router(req, res);
  };
}
