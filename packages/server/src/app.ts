import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { DatabaseHandle } from './db/database.js';
import { createAuthenticator, enforceCustomerScope, requireAuth } from './http/auth.js';
import { clientErrorHandler } from './http/client-errors.js';
import { corsDelegator, corsHeaders } from './http/cors.js';
import { createFastCheck, createFastConsume, isCheckRequest, isConsumeRequest } from './http/fast-check.js';
import { registerIdempotency } from './http/idempotency.js';
import { type Metrics, registerRequestMetrics, requestObserver } from './http/metrics.js';
import { echo, handleError, sendProblem } from './http/problems.js';
import { requestIdFor } from './http/request-id.js';
import { validatorCompiler } from './http/validation.js';
import { apiKeyRoutes } from './modules/api-keys/routes.js';
import type { ApiKeyService } from './modules/api-keys/service.js';
import { consumeRoutes } from './modules/consume/routes.js';
import type { ConsumeService } from './modules/consume/service.js';
import { customerTokenRoutes } from './modules/customer-tokens/routes.js';
import type { CustomerTokenService } from './modules/customer-tokens/service.js';
import { customerRoutes } from './modules/customers/routes.js';
import type { CustomerService } from './modules/customers/service.js';
import { entitlementRoutes } from './modules/entitlements/routes.js';
import type { EntitlementService } from './modules/entitlements/service.js';
import { eventRoutes } from './modules/events/routes.js';
import type { EventIngester } from './modules/events/service.js';
import { featureRoutes } from './modules/features/routes.js';
import type { FeatureService } from './modules/features/service.js';
import { gaugeRoutes } from './modules/gauges/routes.js';
import type { GaugeService } from './modules/gauges/service.js';
import { grantRoutes } from './modules/grants/routes.js';
import type { GrantService } from './modules/grants/service.js';
import { ofrepRoutes } from './modules/ofrep/routes.js';
import { planRoutes } from './modules/plans/routes.js';
import type { PlanService } from './modules/plans/service.js';
import { reservationRoutes } from './modules/reservations/routes.js';
import type { ReservationService } from './modules/reservations/service.js';
import { streamRoutes } from './modules/stream/routes.js';
import type { StreamService } from './modules/stream/service.js';
import type { StreamHub } from './modules/stream/stream-hub.js';
import type { PlanMigration } from './modules/subscriptions/plan-migration.js';
import { subscriptionRoutes } from './modules/subscriptions/routes.js';
import type { SubscriptionService } from './modules/subscriptions/service.js';
import { type SettableClock, testClockRoutes } from './modules/test-clock/routes.js';
import { usageHistoryRoutes } from './modules/usage-history/routes.js';
import type { HistoryService } from './modules/usage-history/service.js';

export interface Services {
  features: FeatureService;
  plans: PlanService;
  customers: CustomerService;
  subscriptions: SubscriptionService;
  planMigration: PlanMigration;
  grants: GrantService;
  entitlements: EntitlementService;
  apiKeys: ApiKeyService;
  customerTokens: CustomerTokenService;
  events: EventIngester;
  gauges: GaugeService;
  consume: ConsumeService;
  reservations: ReservationService;
  history: HistoryService;
}

export interface AppDeps {
  services: Services;
  database: DatabaseHandle;
  clock: Clock;
  metrics: Metrics;
  /** Reads the change feed up to now: called after every write, before it answers. */
  syncChanges: () => Promise<void>;
  /** `GET /v1/stream`: this node's open streams and how they resume. */
  streams: { hub: StreamHub; service: StreamService; heartbeatMs: number };
  /** Origins browsers may call the customer-token routes from (KEYMASTER_CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** Context keys a customer token may set for targeting (KEYMASTER_CLIENT_CONTEXT_KEYS). */
  clientContextKeys: readonly string[];
  bodyLimitBytes: number;
  logger: FastifyBaseLogger | boolean | { level: string };
  version: string;
  /** Present with KEYMASTER_TEST_CLOCK=true: the simulated-time routes. */
  testClock?: { clock: SettableClock; runDue: (now: number) => Promise<void> } | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A POST that changes nothing (a check): no change-feed catch-up after it. */
    readOnly?: boolean;
  }
}

/**
 * How long `/readyz` waits for the database to answer: one that cannot answer in time (every
 * connection stuck, the network gone quiet) is not ready, however long its requests would wait.
 */
const readinessTimeoutMs = 2000;

/** The work's outcome, or a failure once `ms` have passed without one. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** Builds the HTTP app without listening: tests inject requests, main.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const observe = requestObserver();
  let fastCheck: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let fastConsume: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const app = Fastify({
    // Checks and consumes go straight to their own handlers (see fast-check.ts); everything
    // else to the router.
    serverFactory: (route) => {
      const server = createServer({ noDelay: true }, (req, res) => {
        if (fastCheck && isCheckRequest(req)) fastCheck(req, res);
        else if (fastConsume && isConsumeRequest(req)) fastConsume(req, res);
        else route(req, res);
      });
      // Fastify's own default, which a custom server does not get: longer than the idle timeout
      // of common load balancers (60 s), so a connection is never closed just as a client reuses it.
      server.keepAliveTimeout = 72_000;
      return server;
    },
    ...(typeof deps.logger === 'object' && 'child' in deps.logger
      ? { loggerInstance: deps.logger }
      : { logger: deps.logger }),
    bodyLimit: deps.bodyLimitBytes,
    // Customer ids may be 255 characters; longer ones reach the schema and get a 400 naming them.
    routerOptions: { maxParamLength: 1024 },
    // Errors Fastify raises before routing (a malformed URL) answer as problems too.
    frameworkErrors: (error, request, reply) =>
      sendProblem(request, reply, { status: 400, code: 'malformed_request', detail: echo(error.message) }),
    // Requests Node's parser refuses before there is a request (headers too large, not HTTP).
    clientErrorHandler,
    requestIdHeader: false,
    genReqId: (request) => requestIdFor(request.headers['x-request-id']),
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler());
  // `curl -X POST .../publish -H 'Content-Type: application/json'` sends no body: treat it as
  // none rather than as malformed JSON. Everything else goes to Fastify's own (safe) parser.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return parseJson(request, body as string, done);
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, {
      status: 404,
      code: 'not_found',
      detail: `No route ${echo(`${request.method} ${request.url}`)}.`,
    }),
  );
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keymaster API',
        version: deps.version,
        description:
          'Entitlement management: features, plans, customers, subscriptions, grants and checks. ' +
          'Authenticate with `Authorization: Bearer <secret key>`. Errors are RFC 9457 problem documents.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Before authentication: a browser's preflight carries no credentials.
  if (deps.corsOrigins.length > 0) await app.register(cors, { delegator: corsDelegator(deps.corsOrigins) });
  const authenticate = createAuthenticator({
    apiKey: (secret) => deps.services.apiKeys.authenticate(secret),
    customerToken: (token) => deps.services.customerTokens.verify(token),
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (request, reply) => {
    try {
      await within(sql`select 1`.execute(deps.database.db), readinessTimeoutMs);
      return { status: 'ready', database: deps.database.dialect };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      return sendProblem(request, reply, {
        status: 503,
        code: 'unavailable',
        detail: 'The database is not reachable.',
      });
    }
  });

  await app.register(async (api) => {
    api.addHook('onRequest', requireAuth(authenticate));
    api.addHook('preHandler', enforceCustomerScope({ clientContextKeys: deps.clientContextKeys }));
    registerIdempotency(api, { db: deps.database.db, clock: deps.clock });
    // A write is visible to this node's checks as soon as it has answered: catch the cache up
    // with the change feed before the response leaves.
    api.addHook('onSend', async (request, reply, payload) => {
      const writes = request.method !== 'GET' && request.method !== 'HEAD' && !request.routeOptions.config.readOnly;
      if (writes && reply.statusCode < 400) await deps.syncChanges();
      return payload;
    });
    registerRequestMetrics(api, { metrics: deps.metrics, observe });
    const { services, clock } = deps;
    await api.register(featureRoutes, { features: services.features });
    await api.register(planRoutes, { plans: services.plans });
    await api.register(customerRoutes, { customers: services.customers });
    if (deps.testClock) await api.register(testClockRoutes, deps.testClock);
    await api.register(subscriptionRoutes, {
      subscriptions: services.subscriptions,
      planMigration: services.planMigration,
      clock,
      database: deps.database.db,
    });
    await api.register(grantRoutes, { grants: services.grants, clock });
    await api.register(entitlementRoutes, { entitlements: services.entitlements });
    await api.register(ofrepRoutes, { entitlements: services.entitlements });
    await api.register(apiKeyRoutes, { apiKeys: services.apiKeys });
    await api.register(customerTokenRoutes, { customerTokens: services.customerTokens });
    await api.register(streamRoutes, {
      hub: deps.streams.hub,
      streams: deps.streams.service,
      heartbeatMs: deps.streams.heartbeatMs,
      authenticate,
    });
    await api.register(eventRoutes, { events: services.events });
    await api.register(consumeRoutes, { consume: services.consume });
    await api.register(gaugeRoutes, { gauges: services.gauges });
    await api.register(usageHistoryRoutes, { history: services.history });
    await api.register(reservationRoutes, { reservations: services.reservations });
  });

  fastCheck = createFastCheck({
    authenticate,
    corsHeaders: corsHeaders(deps.corsOrigins),
    check: (request) => deps.services.entitlements.check(request),
    clientContextKeys: deps.clientContextKeys,
    bodyLimitBytes: deps.bodyLimitBytes,
    observe,
    logger: app.log as unknown as Logger,
  });
  // @fastify/cors, once registered, still adds `Vary: Origin` to the routes it disables.
  const noCors: Record<string, string> = deps.corsOrigins.length > 0 ? { vary: 'Origin' } : {};
  fastConsume = createFastConsume({
    authenticate,
    // Not a browser route (see cors.ts): no CORS headers, as @fastify/cors answers it.
    corsHeaders: () => noCors,
    consume: (request) => deps.services.consume.consume(request),
    afterWrite: deps.syncChanges,
    bodyLimitBytes: deps.bodyLimitBytes,
    observe,
    logger: app.log as unknown as Logger,
  });
  return app;
}
