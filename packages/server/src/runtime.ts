import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from './app.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { type DatabaseHandle, openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import type { Concern } from './http/concerns.js';
import { pruneIdempotencyKeys } from './http/idempotency.js';
import { createMetrics } from './http/metrics.js';
import { createRateLimit } from './http/rate-limit.js';
import { serializeRequest } from './http/request-log.js';
import { withAlertRules } from './modules/alerts/listener.js';
import { createRefusedCheckAlerts } from './modules/alerts/refused-check.js';
import { AlertRuleCache } from './modules/alerts/rule-cache.js';
import { createAlertRuleService } from './modules/alerts/service.js';
import { createApiKeyService } from './modules/api-keys/service.js';
import { createAuditPruner } from './modules/audit/retention.js';
import { createAuditSealer } from './modules/audit/sealer.js';
import { setAuditWriting } from './modules/audit/trail.js';
import { createBillingSource } from './modules/billing/service.js';
import { ChangeFeed } from './modules/changes/change-feed.js';
import { createConsumeService } from './modules/consume/service.js';
import { createContractService } from './modules/contracts/service.js';
import { loadTokenSecret, type TokenKeys } from './modules/customer-tokens/secret.js';
import { createCustomerTokenService } from './modules/customer-tokens/service.js';
import { createCustomerService } from './modules/customers/service.js';
import { createDecisionLog } from './modules/decisions/log.js';
import { decisionListeners } from './modules/decisions/recorder.js';
import { pruneDecisions } from './modules/decisions/store.js';
import { cachedCatalogSource } from './modules/entitlements/around.js';
import { toApiEntitlements } from './modules/entitlements/convert.js';
import { entitlementsOver } from './modules/entitlements/over-database.js';
import { groupedBatchWriter, localBatchWriter } from './modules/events/batch-writer.js';
import { cachedEventService, localEventIngester, threadEventIngester } from './modules/events/ingester.js';
import { createFeatureService } from './modules/features/service.js';
import { createGaugeService } from './modules/gauges/service.js';
import { createRollover } from './modules/grants/rollover.js';
import { createGrantService } from './modules/grants/service.js';
import { createStripeService } from './modules/integrations/stripe/service.js';
import { stripeApi } from './modules/integrations/stripe/stripe-api.js';
import { createNotificationConsumer, type NotificationConsumer } from './modules/notifications/consumer.js';
import { toApiNotification } from './modules/notifications/convert.js';
import { createEmailSender, type EmailSender, smtpTransport } from './modules/notifications/email-sender.js';
import { loadEmailTemplates } from './modules/notifications/email-templates.js';
import { createNotificationService } from './modules/notifications/service.js';
import { listNotifications } from './modules/notifications/store.js';
import { createPlanService } from './modules/plans/service.js';
import { findPlanVersions } from './modules/plans/store.js';
import { createPortalService } from './modules/portal/service.js';
import { createPortalTokens } from './modules/portal/tokens.js';
import { createReportSchedule, type ReportSchedule } from './modules/reports/schedule.js';
import { createReportService } from './modules/reports/service.js';
import { createUsageRevenueReport } from './modules/reports/usage-revenue.js';
import { createReservationService } from './modules/reservations/service.js';
import { createStreamService } from './modules/stream/service.js';
import { StreamHub } from './modules/stream/stream-hub.js';
import { createPlanMigration } from './modules/subscriptions/plan-migration.js';
import { createScheduler, type Scheduler } from './modules/subscriptions/scheduler.js';
import { createSubscriptionService } from './modules/subscriptions/service.js';
import type { SettableClock } from './modules/test-clock/routes.js';
import { createHistoryService } from './modules/usage-history/service.js';
import { createLinkDelivery } from './modules/users/link-delivery.js';
import { createOidc } from './modules/users/oidc.js';
import { createUserService } from './modules/users/service.js';
import { createWebhookService } from './modules/webhooks/service.js';
import { resealEndpointSecrets } from './modules/webhooks/store.js';
import { createWebhookWorker, type WebhookWorker } from './modules/webhooks/worker.js';
import { type SecretsAtRest, secretsAtRest } from './secrets-at-rest.js';
import { version } from './version.js';

export interface Keymaster {
  app: FastifyInstance;
  database: DatabaseHandle;
  services: Awaited<ReturnType<typeof createServices>>;
  /** Runs due subscription transitions; started on every node. */
  scheduler: Scheduler;
  /** Makes the quarterly report when KEYMASTER_REVENUE_REPORT_CRON fires; started on every node. */
  reportSchedule: ReportSchedule;
  /** Delivers the outbox to webhook endpoints; started on every node. */
  webhooks: WebhookWorker;
  /** Makes customers' in-app notifications from the outbox; started on every node. */
  notifications: NotificationConsumer;
  /** Sends the notification emails queued (when email is configured); started on every node. */
  emails: EmailSender | undefined;
  /** A secret created on this first start (no key existed and none was configured), to print once. */
  bootstrapSecret: string | undefined;
  /**
   * With no console user yet and no KEYMASTER_ADMIN_EMAIL: the one-time link (its path, or its
   * URL under KEYMASTER_PUBLIC_URL) that creates the first owner, to print.
   */
  setupLink: string | undefined;
  close(): Promise<void>;
}

function createServices(input: {
  database: DatabaseHandle;
  clock: Clock;
  config: Config;
  tokenKeys: TokenKeys;
  secrets: SecretsAtRest;
  logger: pino.Logger;
}) {
  const { database, clock, config } = input;
  const db = database.db;
  const metrics = createMetrics({ cacheSize: () => cache.size });
  const decisionLog = createDecisionLog({
    db: database.db,
    logger: input.logger,
    flushMs: config.decisionFlushMs,
    onDropped: (count) => metrics.decisionsDropped.inc(count),
  });
  const decisionsHeard = decisionListeners(decisionLog);
  const { cache, entitlements, snapshot } = entitlementsOver({
    database,
    clock,
    config,
    onMiss: () => metrics.cacheMisses.inc(),
    onLimitRefused: createRefusedCheckAlerts({ db: database.db, logger: input.logger }),
    onDecision: decisionsHeard.checked,
  });
  const usageRevenue = createUsageRevenueReport({ db, clock, catalog: () => cache.getCatalog() });
  const apiKeys = createApiKeyService({ db, clock, adminKey: config.adminKey });
  const alertRules = new AlertRuleCache(db);
  // The node's cached catalog (fallback plan included), for whatever resolves entitlements in a change.
  const catalog = cachedCatalogSource({ cached: () => cache.getCatalog(), fallbackPlan: config.fallbackPlan });
  const rollover = createRollover({ catalog });
  // Every billing source (contracts, Stripe) applies its changes through this one seam.
  const billing = createBillingSource({ db, dialect: database.dialect, clock, onRenewal: rollover, catalog });
  const planMigration = createPlanMigration({
    onRenewal: rollover,
    db,
    dialect: database.dialect,
    clock,
    catalog: () => cache.getCatalog(),
    customerState: async (customerId) => (await cache.getCustomer(customerId)).state,
    usageOf: async (customerId) => {
      const usage = new Map<string, number>();
      for (const [feature, decision] of (await entitlements.snapshot(customerId)).decisions) {
        if (decision.usage !== null) usage.set(feature, decision.usage);
      }
      return usage;
    },
  });
  /** When a customer was created, or null for none; from the cache (the change feed drops it on erasure). */
  const customerSince = (customerId: string) => {
    const entry = cache.getCustomer(customerId);
    return entry instanceof Promise
      ? entry.then((e) => e.state?.customer.createdAt ?? null)
      : (entry.state?.customer.createdAt ?? null);
  };
  // On a SQLite file, event batches are planned and written on threads of their own (see
  // ingester.ts); elsewhere on this one.
  const events = database.sqliteFile
    ? threadEventIngester({
        settings: {
          file: database.sqliteFile,
          fallbackPlan: config.fallbackPlan,
          cacheSize: config.cacheSize,
          feedPollMs: config.feedPollMs,
          feedRetain: config.feedRetain,
          logLevel: config.logLevel,
        },
        clock,
        hold: (work) => db.connection().execute(() => work()),
      })
    : localEventIngester(
        cachedEventService({
          cache,
          db,
          readNow: database.readNow,
          writer: database.dialect === 'postgres' ? groupedBatchWriter(db) : localBatchWriter(db, database.dialect),
          clock,
          alerts: alertRules,
        }),
      );
  const subscriptions = createSubscriptionService({
    db,
    dialect: database.dialect,
    clock,
    lifecycle: { pastDueGraceDays: config.pastDueGraceDays },
    onRenewal: rollover,
    catalog,
  });
  const notifications = createNotificationService({ db, clock });
  const portalTokens = createPortalTokens({ keys: input.tokenKeys, clock, customerSince });
  const customers = createCustomerService({ db, clock });
  const stripe =
    config.stripe.apiKey === undefined
      ? undefined
      : stripeApi({ apiKey: config.stripe.apiKey, base: config.stripe.apiBase });
  return {
    metrics,
    cache,
    alertRuleCache: alertRules,
    alertRules: createAlertRuleService({ db, clock }),
    customerTokens: createCustomerTokenService({ db, keys: input.tokenKeys, clock, customerSince }),
    streamHub: new StreamHub({
      heartbeatMs: config.streamHeartbeatMs,
      maxPerKey: config.streamMaxPerKey,
      maxPerToken: config.streamMaxPerToken,
      clock,
      logger: input.logger,
      snapshot: async (customerId) => {
        if ((await customerSince(customerId)) === null) return null;
        const { resolved, now, decisions } = await entitlements.snapshot(customerId);
        return toApiEntitlements({ resolved, now, decisionOf: (feature) => decisions.get(feature)! });
      },
      unreadNotifications: async (customer) =>
        (await listNotifications(db, { customer, unread: true, before: undefined, limit: 20 })).map(toApiNotification),
    }),
    features: createFeatureService({ db, clock }),
    plans: createPlanService({ db, clock }),
    customers,
    subscriptions,
    rollover,
    catalog,
    grants: createGrantService({ db, clock, catalog }),
    billing,
    contracts: createContractService({ db, clock, billing }),
    entitlements,
    planMigration,
    apiKeys,
    gauges: createGaugeService({ db, clock, alerts: { rules: alertRules, snapshot } }),
    consume: createConsumeService({
      db,
      dialect: database.dialect,
      clock,
      snapshot,
      alerts: alertRules,
      onDecision: decisionsHeard.consumed,
      cache,
    }),
    decisionLog,
    reservations: createReservationService({
      db,
      dialect: database.dialect,
      clock,
      snapshot,
      catalog: () => cache.getCatalog(),
      alerts: alertRules,
    }),
    history: createHistoryService({ db, clock, snapshot }),
    usageRevenue,
    reports: createReportService({ db, dialect: database.dialect, clock, usageRevenue }),
    webhooks: createWebhookService({
      db,
      clock,
      allowPrivate: config.webhooks.allowPrivate,
      secrets: input.secrets,
    }),
    notifications,
    users: createUserService({ db, clock }),
    portalTokens,
    portal: createPortalService({
      clock,
      catalog: () => cache.getCatalog(),
      customerState: async (customerId) => (await cache.getCustomer(customerId)).state,
      entitlements,
      notifications,
      subscriptions,
      stripe,
      stripeProductOf: async (planKey) => {
        const published = (await findPlanVersions(db, planKey)).filter((v) => v.status === 'published');
        return published.at(-1)?.stripeProduct ?? null;
      },
      stripeCustomerOf: async (customerId) => (await customers.get(customerId)).stripeCustomer,
    }),
    events,
    stripe: createStripeService({
      db,
      clock,
      billing,
      api: stripe,
      logger: input.logger,
    }),
  };
}

/**
 * Opens the database, migrates it, wires the services, follows the change feed and builds the
 * app. Listening is the caller's business.
 */
export async function createKeymaster(input: {
  config: Config;
  clock: Clock;
  logger?: boolean | { level: string };
  /** Where log lines go: standard output unless given. */
  logDestination?: pino.DestinationStream;
  /** More concerns for every API route, after the built-in ones (see `AppDeps.concerns`). */
  concerns?: readonly Concern[];
}): Promise<Keymaster> {
  const { config, clock } = input;
  const logger = pino(
    {
      level: input.logger === false ? 'silent' : config.logLevel,
      serializers: { req: serializeRequest },
    },
    input.logDestination,
  );
  // Before anything opens: a bad template directory fails the start, not an email hours later.
  const emailTemplates = config.email ? loadEmailTemplates(config.email.templatesDir) : undefined;
  const database = openDatabase(config.database, {
    postgresTimeouts: config.postgresTimeouts,
    onConnectionError: (error) =>
      logger.warn({ err: error }, 'a database connection failed; the pool opens another on next use'),
  });
  // Holds a Redis connection when REDIS_URL is set: let go of it if the start fails past it.
  let rateLimit: ReturnType<typeof createRateLimit> | undefined;
  try {
    await migrateToLatest(database);
    setAuditWriting(!config.benchmarkSkipAudit);
    if (config.benchmarkSkipAudit) {
      logger.warn(
        'KEYMASTER_BENCHMARK_SKIP_AUDIT is set: changes write no audit rows. For benchmarks only, never for data you keep.',
      );
    }
    // Every secret kept in the database is read here, so one no configured key opens fails the
    // start with a message naming its key, rather than a delivery or a token later.
    const secrets = secretsAtRest(config.encryption);
    const resealed = await resealEndpointSecrets(database.db, secrets);
    if (resealed > 0) {
      logger.info(
        { endpoints: resealed },
        secrets.encrypting
          ? 'encrypted the webhook endpoint secrets kept in the database with KEYMASTER_ENCRYPTION_KEY'
          : 'stored the webhook endpoint secrets unencrypted: KEYMASTER_ENCRYPTION_KEY is not set',
      );
    }
    const tokenSecret = await loadTokenSecret({
      db: database.db,
      clock,
      configured: config.tokenSecret,
      configuredPrevious: config.tokenSecretPrevious,
      secrets,
    });
    if (tokenSecret.removedStoredCopy) {
      logger.info('deleted the customer-token secret kept in the database: KEYMASTER_TOKEN_SECRET replaces it');
    }
    // On SQLite the file is this host's alone (0600); a PostgreSQL database is read by more
    // people and tools — replicas, backups, analysts — and any of them could mint tokens.
    if (tokenSecret.source === 'database' && database.dialect === 'postgres' && !secrets.encrypting) {
      logger.warn(
        'customer tokens are signed with a secret kept in the database (settings table): anyone who can ' +
          'read the database can mint a token for any customer. Set KEYMASTER_TOKEN_SECRET to keep it out ' +
          '(or KEYMASTER_ENCRYPTION_KEY to keep it encrypted).',
      );
    }
    const services = createServices({ database, clock, config, tokenKeys: tokenSecret.keys, secrets, logger });
    const feed = new ChangeFeed({
      db: database.db,
      readColumnNow: database.readColumnNow,
      listener: withAlertRules(services.cache, services.alertRuleCache),
      pollMs: config.feedPollMs,
      logger,
      retain: config.feedRetain,
    });
    feed.observe(services.streamHub);
    const streams = createStreamService({
      db: database.db,
      sync: () => feed.sync(),
      position: () => feed.position,
    });
    // Streams opened with a key this node now knows to be revoked end once the keys are reloaded.
    services.cache.onApiKeysChanged(() => {
      services.apiKeys.reload().then(
        () => services.streamHub.reauthorize(),
        (error: unknown) => logger.warn({ err: error }, 'reloading API keys failed'),
      );
    });
    await feed.start();
    const scheduler = createScheduler({
      db: database.db,
      dialect: database.dialect,
      clock,
      logger,
      onRenewal: services.rollover,
      catalog: services.catalog,
      creditsNoticeMs: config.creditsNoticeDays * 86_400_000,
    });
    const reportSchedule = createReportSchedule({
      cron: config.revenueReportCron,
      reports: services.reports,
      clock,
      logger,
    });
    const webhooks = createWebhookWorker({
      db: database.db,
      dialect: database.dialect,
      clock,
      logger,
      settings: config.webhooks,
      secrets,
    });
    const notifications = createNotificationConsumer({
      db: database.db,
      dialect: database.dialect,
      clock,
      logger,
      pollMs: config.notificationsPollMs,
      email: config.email && emailTemplates && { templates: emailTemplates, productName: config.email.productName },
    });
    const emails =
      config.email &&
      createEmailSender({
        db: database.db,
        dialect: database.dialect,
        clock,
        logger,
        transport: smtpTransport(config.email.smtpUrl),
        from: config.email.from,
        pollMs: config.email.pollMs,
      });
    const auditPruner = createAuditPruner({
      db: database.db,
      logger,
      retainMs: config.audit.retainDays === undefined ? undefined : config.audit.retainDays * 86_400_000,
      signingKey: config.audit.signingKey,
    });
    // Changes' audit rows join the hash chain within a quarter of a second (modules/audit/trail.ts).
    const auditSealer = createAuditSealer({ db: database.db, logger, everyMs: 250 });
    let testClock: { clock: SettableClock; runDue: (now: number) => Promise<void> } | undefined;
    if (config.testClock) {
      if (!('set' in clock)) throw new Error('KEYMASTER_TEST_CLOCK needs a settable clock');
      testClock = {
        clock: clock as SettableClock,
        runDue: async (now) => {
          await scheduler.runDue(now);
          await services.reservations.expireDue();
          // Before the webhooks: the `report.ready` of a report made now is delivered in the same move.
          await reportSchedule.runDue(now);
          await webhooks.runDue();
          await notifications.runDue();
          await emails?.runDue();
          await auditPruner.runDue(now);
        },
      };
    }
    await services.apiKeys.reload();
    const bootstrapSecret = await services.apiKeys.bootstrap();
    const links = createLinkDelivery({
      publicUrl: config.console.publicUrl,
      mail: config.email ? { transport: smtpTransport(config.email.smtpUrl), from: config.email.from } : undefined,
    });
    let setupLink: string | undefined;
    if (config.console.adminEmail && config.console.adminPassword) {
      const created = await services.users.ensureOwner({
        email: config.console.adminEmail,
        password: config.console.adminPassword,
      });
      if (created)
        logger.info({ email: config.console.adminEmail }, 'created the console owner from KEYMASTER_ADMIN_EMAIL');
    } else if (!(await services.users.any())) {
      setupLink = links.urlOf(await services.users.makeLink({ kind: 'setup' }));
    }
    rateLimit =
      config.rateLimit || config.customerRateLimit
        ? createRateLimit({
            limits: { default: config.rateLimit, customer: config.customerRateLimit },
            clock,
            redis: config.redis,
            logger,
          })
        : undefined;
    const app = await buildApp({
      services,
      database,
      clock,
      metrics: services.metrics,
      syncChanges: () => feed.sync(),
      streams: { hub: services.streamHub, service: streams, heartbeatMs: config.streamHeartbeatMs },
      corsOrigins: config.corsOrigins,
      clientContextKeys: config.clientContextKeys,
      bodyLimitBytes: config.bodyLimitBytes,
      timeouts: { headersMs: config.headersTimeoutMs, requestMs: config.requestTimeoutMs },
      rateLimit: rateLimit?.concern,
      logger,
      version,
      testClock,
      stripeWebhookSecret: config.stripe.webhookSecret,
      concerns: input.concerns,
      contractsWebhookSecret: config.contractsWebhookSecret,
      auditSigningKey: config.audit.signingKey,
      links,
      publicUrl: config.console.publicUrl,
      oidc:
        config.console.oidc && config.console.publicUrl
          ? createOidc({
              config: config.console.oidc,
              publicUrl: config.console.publicUrl,
              secret: tokenSecret.keys.current.key,
              now: () => clock.now(),
            })
          : undefined,
    });
    scheduler.start(config.schedulerPollMs);
    reportSchedule.start(config.schedulerPollMs);
    webhooks.start();
    notifications.start();
    emails?.start();
    services.decisionLog.start();
    auditSealer.start();
    const pruner = setInterval(() => {
      pruneIdempotencyKeys({ db: database.db, now: clock.now() }).catch((error: unknown) =>
        logger.warn({ err: error }, 'pruning idempotency keys failed'),
      );
      pruneDecisions(database.db, clock.now() - config.decisionRetainDays * 86_400_000).catch((error: unknown) =>
        logger.warn({ err: error }, 'pruning the decision log failed'),
      );
    }, 600_000);
    pruner.unref();
    // Expired holds give their units back within a second; every node sweeps, each hold once.
    const sweeper = setInterval(() => {
      services.reservations
        .expireDue()
        .catch((error: unknown) => logger.warn({ err: error }, 'expiring reservations failed'));
    }, 1000);
    sweeper.unref();
    // Audit rows past the retention go once a minute, on every node (see modules/audit/retention.ts).
    const auditPruning = setInterval(() => {
      auditPruner
        .runDue(clock.now())
        .catch((error: unknown) => logger.warn({ err: error }, 'pruning the audit trail failed'));
    }, 60_000);
    auditPruning.unref();
    return {
      app,
      database,
      services,
      scheduler,
      reportSchedule,
      webhooks,
      notifications,
      emails,
      bootstrapSecret,
      setupLink,
      async close() {
        await scheduler.stop();
        await reportSchedule.stop();
        await webhooks.stop();
        await notifications.stop();
        await emails?.stop();
        await services.decisionLog.stop();
        await auditSealer.stop();
        clearInterval(pruner);
        clearInterval(sweeper);
        clearInterval(auditPruning);
        feed.stop();
        await app.close();
        await rateLimit?.close();
        await services.events.close();
        await database.close();
      },
    };
  } catch (error) {
    await rateLimit?.close();
    await database.close();
    throw error;
  }
}
