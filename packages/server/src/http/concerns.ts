import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../modules/api-keys/service.js';
import { type ProblemInput, sendProblem } from './problems.js';

/**
 * One request as a cross-cutting concern sees it, whichever dispatch answers it: the router
 * (Fastify) or the plain handler of the hot routes (see dispatch.ts). A concern is written once
 * against this and runs on every route of the scope it is registered in.
 */
export interface Exchange {
  readonly method: string;
  /** The route as declared (`/v1/customers/:id`), or `unmatched` when none matched. */
  readonly route: string;
  /** The request line's target as sent: path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: IncomingMessage;
  readonly requestId: string;
  /** The route's declared policy: who may call it, whether it writes (see `FastifyContextConfig`). */
  readonly config: FastifyContextConfig;
  /** The parsed query string. */
  readonly query: unknown;
  /** Who the credential authenticates, once authentication has run. */
  principal: Principal | undefined;
  /** Sets a header of the answer, whatever the answer turns out to be (problems included). */
  header(name: string, value: string): void;
}

/** A concern's verdict on a request: undefined lets it through, a problem answers it instead. */
export type Refusal = ProblemInput | undefined;

/** What a request carries once its body is parsed and validated. */
export interface RequestInput {
  body: unknown;
  params: unknown;
  query: unknown;
}

/**
 * Something every request must pass, written once: authentication, CORS, rate limits, metrics,
 * logs, audit. Each phase may be omitted. Phases that can refuse answer synchronously when they
 * can: checks pass through here, and a promise per phase would cost more than the check.
 */
export interface Concern {
  readonly name: string;
  /** After routing, before the body is read. */
  onRequest?(exchange: Exchange): Refusal | Promise<Refusal>;
  /** Once the body is parsed and validated, before the handler. */
  preHandler?(exchange: Exchange, input: RequestInput): Refusal | Promise<Refusal>;
  /** When the answer is ready, before it leaves. */
  onSend?(exchange: Exchange, status: number): void | Promise<void>;
  /** Once the answer has left. */
  onResponse?(exchange: Exchange, status: number, seconds: number): void;
}

type Step<A> = (exchange: Exchange, argument: A) => Refusal | Promise<Refusal>;

/**
 * Runs steps in order until one refuses, then calls `done` with `context` and the refusal (or
 * undefined when all let the request through), or with the error one threw. A step that answers
 * synchronously costs no promise hop, and `done` can be one function made once rather than a
 * closure per request: this runs on every check.
 */
export function runSteps<A, C>(
  steps: readonly Step<A>[],
  exchange: Exchange,
  argument: A,
  context: C,
  done: (context: C, refusal: Refusal, error?: unknown) => void,
  from = 0,
): void {
  for (let i = from; i < steps.length; i++) {
    let verdict: Refusal | Promise<Refusal>;
    try {
      verdict = steps[i]!(exchange, argument);
    } catch (error) {
      done(context, undefined, error);
      return;
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (refusal) => (refusal ? done(context, refusal) : runSteps(steps, exchange, argument, context, done, i + 1)),
        (error: unknown) => done(context, undefined, error),
      );
      return;
    }
    if (verdict) {
      done(context, verdict);
      return;
    }
  }
  done(context, undefined);
}

/** The phases of a list of concerns, each as a list of bound steps (built once, run per request). */
export function phasesOf(concerns: readonly Concern[]) {
  const onRequest: Step<undefined>[] = [];
  const preHandler: Step<RequestInput>[] = [];
  const onSend: ((exchange: Exchange, status: number) => void | Promise<void>)[] = [];
  const onResponse: ((exchange: Exchange, status: number, seconds: number) => void)[] = [];
  for (const concern of concerns) {
    // Bound rather than wrapped: one call fewer per concern and phase, on every check.
    if (concern.onRequest) onRequest.push(concern.onRequest.bind(concern));
    if (concern.preHandler) preHandler.push(concern.preHandler.bind(concern));
    if (concern.onSend) onSend.push(concern.onSend.bind(concern));
    if (concern.onResponse) onResponse.push(concern.onResponse.bind(concern));
  }
  return { onRequest, preHandler, onSend, onResponse };
}

export type Phases = ReturnType<typeof phasesOf>;

/** Runs the `onSend` steps in order; synchronous ones cost no promise. */
export function runOnSend(phases: Phases, exchange: Exchange, status: number): void | Promise<void> {
  const steps = phases.onSend;
  for (let i = 0; i < steps.length; i++) {
    const pending = steps[i]!(exchange, status);
    if (pending instanceof Promise) {
      return pending.then(async () => {
        for (let j = i + 1; j < steps.length; j++) await steps[j]!(exchange, status);
      });
    }
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    exchange: Exchange;
  }
}

/** An exchange over a Fastify request: headers go on its reply. */
class RouterExchange implements Exchange {
  principal: Principal | undefined = undefined;
  /** The phases of each scope whose concerns this request entered, outermost first (see `hijack`). */
  readonly scopes: Phases[] = [];
  constructor(
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
  ) {}
  get method() {
    return this.request.method;
  }
  get route() {
    return this.request.routeOptions.url ?? 'unmatched';
  }
  get url() {
    return this.request.url;
  }
  get headers() {
    return this.request.headers;
  }
  get raw() {
    return this.request.raw;
  }
  get requestId() {
    return String(this.request.id);
  }
  get config() {
    return this.request.routeOptions.config;
  }
  get query() {
    return this.request.query;
  }
  header(name: string, value: string) {
    this.reply.header(name, value);
  }
}

/** The request's exchange, made on first use (an answer to a malformed request skips `onRequest`). */
function exchangeOf(request: FastifyRequest, reply: FastifyReply): RouterExchange {
  request.exchange ??= new RouterExchange(request, reply);
  return request.exchange as RouterExchange;
}

/**
 * Takes the response over from the router (`reply.hijack()`) for an answer the route writes
 * itself, a stream: the router then runs no more hooks, so the concerns' `onSend` run here, before
 * the route writes its status, and their `onResponse` once the response is over.
 */
export async function hijack(request: FastifyRequest, reply: FastifyReply, status: number): Promise<void> {
  const exchange = exchangeOf(request, reply);
  for (const phases of exchange.scopes) await runOnSend(phases, exchange, status);
  reply.hijack();
  const started = performance.now() - reply.elapsedTime;
  reply.raw.once('close', () => {
    const seconds = (performance.now() - started) / 1000;
    for (const phases of exchange.scopes) for (const step of phases.onResponse) step(exchange, status, seconds);
  });
}

/**
 * Runs concerns as the router's hooks, on every route of `app`'s scope (and, at the root, on
 * requests no route matches). Registered at the root for the concerns of every route, and in the
 * API's scope for those of the authenticated routes; the plain dispatch runs both lists in the
 * same order.
 */
export function registerConcerns(app: FastifyInstance, concerns: readonly Concern[]): void {
  const phases = phasesOf(concerns);
  if (!app.hasRequestDecorator('exchange')) app.decorateRequest('exchange', undefined as unknown as Exchange);
  type Hook = { request: FastifyRequest; reply: FastifyReply; done: (error?: Error) => void };
  const refuse = ({ request, reply, done }: Hook, refusal: Refusal, error?: unknown) => {
    if (error !== undefined) return done(error as Error);
    if (refusal) {
      sendProblem(request, reply, refusal);
      return;
    }
    request.principal = request.exchange.principal;
    done();
  };
  app.addHook('onRequest', (request, reply, done) => {
    const exchange = exchangeOf(request, reply);
    exchange.scopes.push(phases);
    runSteps(phases.onRequest, exchange, undefined, { request, reply, done }, refuse);
  });
  if (phases.preHandler.length > 0) {
    app.addHook('preHandler', (request, reply, done) => {
      const input = { body: request.body, params: request.params, query: request.query };
      runSteps(phases.preHandler, request.exchange, input, { request, reply, done }, refuse);
    });
  }
  if (phases.onSend.length > 0) {
    app.addHook('onSend', async (request, reply, payload) => {
      await runOnSend(phases, exchangeOf(request, reply), reply.statusCode);
      return payload;
    });
  }
  if (phases.onResponse.length > 0) {
    app.addHook('onResponse', (request, reply, done) => {
      const exchange = exchangeOf(request, reply);
      for (const step of phases.onResponse) step(exchange, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }
}
