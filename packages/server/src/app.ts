import type { KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { DatabaseHandle } from './db/database.js';
import { authentication, createAuthenticator, customerScope, declareScopes } from './http/auth.js';
import { clientErrorHandler, urlLength } from './http/client-errors.js';
import { type Concern, registerConcerns } from './http/concerns.js';
import { cors, registerPreflight } from './http/cors.js';
import { createDispatch } from './http/dispatch.js';
import { idempotencyKeyForm, registerIdempotency } from './http/idempotency.js';
import { parseJson, readBodyAsync } from './http/json-body.js';
import { type Metrics, registerMetricsRoute, requestObserver } from './http/metrics.js';
import { echo, handleError, sendProblem } from './http/problems.js';
import { requestIdFor } from './http/request-id.js';
import { observability } from './http/request-log.js';
import { validatorCompiler } from './http/validation.js';
import { registerWeb, webBuildDirectory } from './http/web.js';
import { alertRuleRoutes } from './modules/alerts/routes.js';
import type { AlertRuleService } from './modules/alerts/service.js';
import { apiKeyRoutes } from './modules/api-keys/routes.js';
import type { ApiKeyService } from './modules/api-keys/service.js';
import { auditRoutes } from './modules/audit/routes.js';
import { consumeRoute, consumeRoutes } from './modules/consume/routes.js';
import type { ConsumeService } from './modules/consume/service.js';
import { contractRoutes, contractWebhookRoutes } from './modules/contracts/routes.js';
import type { ContractService } from './modules/contracts/service.js';
import { customerTokenRoutes } from './modules/customer-tokens/routes.js';
import type { CustomerTokenService } from './modules/customer-tokens/service.js';
import { customerRoutes } from './modules/customers/routes.js';
import type { CustomerService } from './modules/customers/service.js';
import type { DecisionLog } from './modules/decisions/log.js';
import { decisionRoutes } from './modules/decisions/routes.js';
import { checkRoute, entitlementRoutes } from './modules/entitlements/routes.js';
import type { EntitlementService } from './modules/entitlements/service.js';
import { eventRoutes } from './modules/events/routes.js';
import type { EventIngester } from './modules/events/service.js';
import { featureRoutes } from './modules/features/routes.js';
import type { FeatureService } from './modules/features/service.js';
import { gaugeRoutes } from './modules/gauges/routes.js';
import type { GaugeService } from './modules/gauges/service.js';
import { grantRoutes } from './modules/grants/routes.js';
import type { GrantService } from './modules/grants/service.js';
import { stripeRoutes } from './modules/integrations/stripe/routes.js';
import type { StripeService } from './modules/integrations/stripe/service.js';
import { notificationRoutes } from './modules/notifications/routes.js';
import type { NotificationService } from './modules/notifications/service.js';
import { ofrepRoutes } from './modules/ofrep/routes.js';
import { planRoutes } from './modules/plans/routes.js';
import type { PlanService } from './modules/plans/service.js';
import { portalRoutes } from './modules/portal/routes.js';
import type { PortalService } from './modules/portal/service.js';
import type { PortalTokens } from './modules/portal/tokens.js';
import { reportRoutes } from './modules/reports/routes.js';
import type { ReportService } from './modules/reports/service.js';
import type { UsageRevenueService } from './modules/reports/usage-revenue.js';
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
import type { LinkDelivery } from './modules/users/link-delivery.js';
import type { Oidc } from './modules/users/oidc.js';
import { oidcRoutes } from './modules/users/oidc-routes.js';
import { userRoutes } from './modules/users/routes.js';
import type { UserService } from './modules/users/service.js';
import { webhookRoutes } from './modules/webhooks/routes.js';
import type { WebhookService } from './modules/webhooks/service.js';

export interface Services {
  features: FeatureService;
  plans: PlanService;
  customers: CustomerService;
  subscriptions: SubscriptionService;
  planMigration: PlanMigration;
  grants: GrantService;
  contracts: ContractService;
  entitlements: EntitlementService;
  apiKeys: ApiKeyService;
  customerTokens: CustomerTokenService;
  events: EventIngester;
  gauges: GaugeService;
  consume: ConsumeService;
  reservations: ReservationService;
  history: HistoryService;
  usageRevenue: UsageRevenueService;
  reports: ReportService;
  stripe: StripeService;
  webhooks: WebhookService;
  alertRules: AlertRuleService;
  notifications: NotificationService;
  decisionLog: DecisionLog;
  users: UserService;
  portal: PortalService;
  portalTokens: PortalTokens;
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
  /** Slow clients: how long a request's line and headers, and the whole request, may take to arrive. */
  timeouts: { headersMs: number; requestMs: number };
  /** Counts requests per caller and refuses those past the limit (http/rate-limit.ts); absent: no limit. */
  rateLimit?: Concern | undefined;
  logger: FastifyBaseLogger | boolean | { level: string };
  version: string;
  /** Present with KEYMASTER_TEST_CLOCK=true: the simulated-time routes. */
  testClock?: { clock: SettableClock; runDue: (now: number) => Promise<void> } | undefined;
  /** KEYMASTER_STRIPE_WEBHOOK_SECRET: enables `POST /v1/integrations/stripe/webhook`. */
  stripeWebhookSecret: string | undefined;
  /**
   * More concerns for every API route (`/v1`, `/ofrep`), after the built-in ones: tracing or an
   * audit trail of an embedding application. See http/concerns.ts.
   */
  concerns?: readonly Concern[] | undefined;
  /** KEYMASTER_CONTRACTS_WEBHOOK_SECRET: when set, the signed contracts webhook exists. */
  contractsWebhookSecret?: string | undefined;
  /** Signs audit checkpoints (`KEYMASTER_AUDIT_SIGNING_KEY`); unsigned without it. */
  auditSigningKey?: KeyObject | undefined;
  /** How invitation and password-reset links reach their people (modules/users/link-delivery.ts). */
  links: LinkDelivery;
  /** KEYMASTER_PUBLIC_URL: the origin portal links are made on (else the one a request came to). */
  publicUrl?: string | undefined;
  /** Console sign-in with an OpenID Connect provider (KEYMASTER_OIDC_*), when configured. */
  oidc?: Oidc | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The server's request listener: the plain handlers of the hot routes, the router for the
     * rest (see http/dispatch.ts). Tests send their requests through it.
     */
    dispatch: (request: IncomingMessage, response: ServerResponse) => void;
  }
  interface FastifyContextConfig {
    /** A POST that changes nothing (a check): no change-feed catch-up after it. */
    readOnly?: boolean;
    /**
     * A write whose service tells this node's cache what it changed (a consume: its customer's
     * usage), so that its answer need not wait for a change-feed catch-up; other nodes, and this
     * node's streams, hear of it from the feed as of any write.
     */
    cachesOwnWrite?: boolean;
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

/** Builds the HTTP app without listening: tests send requests to `app.dispatch`, main.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const observe = requestObserver();
  let dispatch: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let router: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  // The server's one request listener, and `app.dispatch`: the dispatch is made once the routes are.
  const listener = (req: IncomingMessage, res: ServerResponse) => dispatch!(req, res);
  const app = Fastify({
    serverFactory: (route) => {
      router = route;
      const { headersMs, requestMs } = deps.timeouts;
      const server = createServer(
        {
          noDelay: true,
          // A client that dribbles its headers or body (slowloris) is answered 408 and cut off
          // (see client-errors.ts), checked for this often rather than Node's every 30 s.
          headersTimeout: headersMs,
          requestTimeout: requestMs,
          connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(headersMs / 4))),
        },
        listener,
      );
      // Fastify's own default, which a custom server does not get: longer than the idle timeout
      // of common load balancers (60 s), so a connection is never closed just as a client reuses it.
      server.keepAliveTimeout = 72_000;
      return server;
    },
    ...(typeof deps.logger === 'object' && 'child' in deps.logger
      ? { loggerInstance: deps.logger }
      : { logger: deps.logger }),
    // Logged once per request, by the `observability` concern, on every dispatch.
    logController: new LogController({ disableRequestLogging: true }),
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
  // Bodies are read and parsed by json-body.ts, the same reader as the plain dispatch's; a text
  // body is a string to the schema (and so never a valid JSON body).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', async (request: FastifyRequest, payload: IncomingMessage) => {
    return parseJson((await readBodyAsync(payload, request.routeOptions.bodyLimit)).toString('utf8'));
  });
  app.addContentTypeParser('text/plain', async (request: FastifyRequest, payload: IncomingMessage) =>
    (await readBodyAsync(payload, request.routeOptions.bodyLimit)).toString('utf8'),
  );
  app.setErrorHandler(handleError);
  // The console and the portal: their assets, and their HTML for any page path a browser asks for.
  const web = await registerWeb(app, { root: webBuildDirectory() });
  app.setNotFoundHandler((request, reply) => {
    const page = web.pageFor(request);
    if (page !== undefined) return web.send(reply, page);
    return sendProblem(request, reply, {
      status: 404,
      code: 'not_found',
      detail: `No route ${echo(`${request.method} ${request.url}`)}.`,
    });
  });

  // What every route passes, in this order, on both dispatches: then, on the API's routes, `api`.
  const everyRoute: Concern[] = [
    {
      name: 'request id',
      onRequest(exchange) {
        exchange.header('x-request-id', exchange.requestId);
        return undefined;
      },
    },
    // Before authentication: a browser's preflight carries no credentials.
    ...(deps.corsOrigins.length > 0 ? [cors(deps.corsOrigins)] : []),
    urlLength,
    // Fastify's logger is the pino instance it was given (or made).
    observability({ observe, logger: app.log as unknown as Logger }),
  ];
  registerConcerns(app, everyRoute);
  if (deps.corsOrigins.length > 0) registerPreflight(app);

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
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer' },
          portalCookie: { type: 'apiKey', in: 'cookie', name: 'km_portal' },
        },
      },
    },
    transform: declareScopes,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
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

  const api: Concern[] = [
    authentication(authenticate, (token) => deps.services.users.session(token), deps.services.portalTokens),
    // Counted by whom authentication found; not made at all when no limit is set.
    ...(deps.rateLimit ? [deps.rateLimit] : []),
    customerScope({ clientContextKeys: deps.clientContextKeys }),
    idempotencyKeyForm,
    {
      // A write is visible to this node's checks as soon as it has answered: catch the cache up
      // with the change feed before the answer leaves.
      name: 'read your writes',
      onSend: (exchange, status) => {
        const { config } = exchange;
        const writes =
          exchange.method !== 'GET' && exchange.method !== 'HEAD' && !config.readOnly && !config.cachesOwnWrite;
        if (writes && status < 400) return deps.syncChanges();
      },
    },
    ...(deps.concerns ?? []),
  ];
  const hot = { check: checkRoute(deps.services.entitlements), consume: consumeRoute(deps.services.consume) };
  await app.register(async (scope) => {
    registerConcerns(scope, api);
    registerIdempotency(scope, { db: deps.database.db, clock: deps.clock });
    registerMetricsRoute(scope, { metrics: deps.metrics, observe });
    const { services, clock } = deps;
    await scope.register(featureRoutes, { features: services.features });
    await scope.register(planRoutes, { plans: services.plans });
    await scope.register(customerRoutes, { customers: services.customers });
    if (deps.testClock) await scope.register(testClockRoutes, deps.testClock);
    await scope.register(subscriptionRoutes, {
      subscriptions: services.subscriptions,
      planMigration: services.planMigration,
      clock,
      database: deps.database.db,
    });
    await scope.register(grantRoutes, { grants: services.grants, clock });
    await scope.register(contractRoutes, { contracts: services.contracts });
    if (deps.contractsWebhookSecret) {
      await scope.register(contractWebhookRoutes, {
        contracts: services.contracts,
        secret: deps.contractsWebhookSecret,
      });
    }
    await scope.register(entitlementRoutes, { entitlements: services.entitlements, check: hot.check });
    await scope.register(ofrepRoutes, { entitlements: services.entitlements });
    await scope.register(apiKeyRoutes, { apiKeys: services.apiKeys });
    await scope.register(customerTokenRoutes, { customerTokens: services.customerTokens });
    await scope.register(streamRoutes, {
      hub: deps.streams.hub,
      streams: deps.streams.service,
      heartbeatMs: deps.streams.heartbeatMs,
      authenticate,
      session: (token) => deps.services.users.session(token),
    });
    await scope.register(eventRoutes, { events: services.events });
    await scope.register(consumeRoutes, { route: hot.consume });
    await scope.register(gaugeRoutes, { gauges: services.gauges });
    await scope.register(usageHistoryRoutes, { history: services.history });
    await scope.register(reportRoutes, { usageRevenue: services.usageRevenue, reports: services.reports });
    await scope.register(auditRoutes, { db: deps.database.db, clock, signingKey: deps.auditSigningKey });
    await scope.register(decisionRoutes, { db: deps.database.db, log: services.decisionLog });
    await scope.register(reservationRoutes, { reservations: services.reservations });
    await scope.register(stripeRoutes, { stripe: services.stripe, webhookSecret: deps.stripeWebhookSecret, clock });
    await scope.register(webhookRoutes, { webhooks: services.webhooks });
    await scope.register(alertRuleRoutes, { alertRules: services.alertRules });
    await scope.register(notificationRoutes, { notifications: services.notifications });
    await scope.register(userRoutes, { users: services.users, links: deps.links });
    await scope.register(oidcRoutes, { oidc: deps.oidc, users: services.users });
    await scope.register(portalRoutes, {
      portal: services.portal,
      tokens: services.portalTokens,
      publicUrl: deps.publicUrl,
      clock,
    });
  });

  dispatch = createDispatch({
    routes: [hot.check, hot.consume],
    concerns: [...everyRoute, ...api],
    router: router!,
    bodyLimitBytes: deps.bodyLimitBytes,
    logger: app.log,
  });
  app.decorate('dispatch', listener);
  return app;
}
