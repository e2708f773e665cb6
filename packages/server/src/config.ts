import type { KeyObject } from 'node:crypto';
import { Cron } from 'croner';
import { type DatabaseTarget, databaseTarget, defaultPostgresTimeouts, type PostgresTimeouts } from './db/database.js';
import type { RateLimit } from './http/rate-limit.js';
import { parseSigningKey } from './modules/audit/keys.js';
import { minimumPasswordLength } from './modules/users/passwords.js';
import { type Role, Roles } from './modules/users/permissions.js';
import { type EncryptionKeys, parseEncryptionKey } from './secrets-at-rest.js';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly database: DatabaseTarget;
  /** Bounds on PostgreSQL waits: past them a request answers 503 rather than hang. */
  readonly postgresTimeouts: PostgresTimeouts;
  readonly dataDir: string;
  /** Accepted as an admin secret key from the first start (containers, tests). */
  readonly adminKey: string | undefined;
  readonly logLevel: string;
  /** How often each node reads the change feed for writes made by other nodes. */
  readonly feedPollMs: number;
  /** How many customers' snapshots each node keeps in memory. */
  readonly cacheSize: number;
  readonly bodyLimitBytes: number;
  /** How often each node looks for subscription transitions that fell due. */
  readonly schedulerPollMs: number;
  /** How often each node turns new outbox events into customers' notifications. */
  readonly notificationsPollMs: number;
  /** Days a past-due subscription keeps access before it is suspended. */
  readonly pastDueGraceDays: number;
  /** Days before a credit grant expires that `credits.expiring` tells its customer; 0: never. */
  readonly creditsNoticeDays: number;
  /** Days the decision log keeps a decision. */
  readonly decisionRetainDays: number;
  /** How often each node writes the decisions it kept to the decision log. */
  readonly decisionFlushMs: number;
  /** Simulated time: the clock stands still until `POST /v1/test-clock/advance` moves it. */
  readonly testClock: boolean;
  /** The plan customers without a live subscription get (e.g. `free`); none when unset. */
  readonly fallbackPlan: string | undefined;
  /** How many changes the feed keeps: how far back a stream client can resume (see docs/api.md, Streaming changes). */
  readonly feedRetain: number;
  /** How often an open `GET /v1/stream` gets a comment line, so proxies keep it open. */
  readonly streamHeartbeatMs: number;
  /** Open streams one secret API key may hold on one node (a key is shared by a fleet of backends). */
  readonly streamMaxPerKey: number;
  /** Open streams one customer token may hold on one node (a browser's tabs). */
  readonly streamMaxPerToken: number;
  /**
   * Requests one API key, one console user or one client address (a request without a
   * credential) may make per window (`KEYMASTER_RATE_LIMIT`); undefined: no limit.
   */
  readonly rateLimit: RateLimit | undefined;
  /**
   * Requests one customer's tokens and portal sessions may make together per window
   * (`KEYMASTER_CUSTOMER_RATE_LIMIT`, else `KEYMASTER_RATE_LIMIT`); undefined: no limit.
   */
  readonly customerRateLimit: RateLimit | undefined;
  /** `REDIS_URL`: where every node keeps the rate-limit counts, shared; undefined: each node counts alone. */
  readonly redis: { readonly url: string; readonly prefix: string } | undefined;
  /** Slow clients: how long a request's line and headers may take to arrive, and the whole request. */
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Signs customer tokens when set; otherwise a key generated once and kept in the database. */
  readonly tokenSecret: string | undefined;
  /** KEYMASTER_TOKEN_SECRET_PREVIOUS: the secret KEYMASTER_TOKEN_SECRET replaced; tokens it signed still verify. */
  readonly tokenSecretPrevious: string | undefined;
  /** Origins browsers may call the customer-token routes from; empty: no CORS at all. */
  readonly corsOrigins: readonly string[];
  /**
   * The targeting-context keys a customer token's caller (a browser) may set; every other key of
   * its context is dropped. Secret-key callers are trusted with any context.
   */
  readonly clientContextKeys: readonly string[];
  /**
   * The Standard Webhooks secret (`whsec_<base64>`) signed contracts are verified with; when set,
   * `POST /v1/integrations/contracts/webhook` exists.
   */
  readonly contractsWebhookSecret: string | undefined;
  /**
   * Stripe in (see docs/stripe.md): the webhook signing secret enables
   * `POST /v1/integrations/stripe/webhook`; the API key, when set, lets Keymaster fetch a
   * subscription's current state from Stripe (and `keymaster stripe sync`); the API base is where
   * that API is (tests point it at a local fake).
   */
  readonly stripe: {
    readonly webhookSecret: string | undefined;
    readonly apiKey: string | undefined;
    readonly apiBase: URL;
  };
  /** Outbound webhooks (docs/webhooks.md): how deliveries are made, and where they may go. */
  readonly webhooks: {
    /**
     * Lets endpoints reach loopback, private, link-local and metadata addresses, and plain http
     * on loopback: for development and tests, never for a server that takes URLs from others.
     */
    readonly allowPrivate: boolean;
    /** Deliveries in flight on one node at once; one endpoint takes at most half. */
    readonly concurrency: number;
    /** How long a receiver has to answer an attempt. */
    readonly timeoutMs: number;
    /** How often each node looks for new events and due retries. */
    readonly pollMs: number;
  };
  /**
   * Notification emails (docs/notifications.md#email): set when `KEYMASTER_SMTP_URL` is, and then
   * `KEYMASTER_EMAIL_FROM` is required.
   */
  readonly email: EmailConfig | undefined;
  /**
   * When the quarterly usage-revenue report is made and stored (a cron expression, UTC; see
   * docs/reports.md#the-quarterly-report); undefined: never.
   */
  readonly revenueReportCron: string | undefined;
  /** The audit trail (docs/audit.md). */
  readonly audit: {
    /** Signs checkpoints (Ed25519) when set, from `KEYMASTER_AUDIT_SIGNING_KEY`. */
    readonly signingKey: KeyObject | undefined;
    /** Days rows are kept before pruning; undefined: forever. */
    readonly retainDays: number | undefined;
  };
  /**
   * BENCHMARK ONLY, never for a server that keeps anything: `KEYMASTER_BENCHMARK_SKIP_AUDIT=true`
   * makes every change skip its audit row (no head read, no hash, no insert), so that
   * `npm run bench -- --only audit` can measure what writing the row costs a write route against
   * the same build. Not a feature: the trail is then empty and `audit verify` vouches for nothing.
   * Undocumented for users on purpose (bench/README.md describes it); the server warns at start.
   */
  readonly benchmarkSkipAudit: boolean;
  /** The console (docs/console.md). */
  readonly console: ConsoleConfig;
  /**
   * KEYMASTER_ENCRYPTION_KEY and KEYMASTER_ENCRYPTION_KEY_PREVIOUS: the keys secrets kept in the
   * database are encrypted with (see secrets-at-rest.ts, docs/secrets.md).
   */
  readonly encryption: EncryptionKeys;
}

const rateWindows: Record<string, number> = { s: 1, sec: 1, second: 1, min: 60, minute: 60, h: 3600, hour: 3600 };

/** Reads `100/s`, `6000/min` or `100000/h`; undefined when the text is none of these. */
export function parseRateLimit(text: string): RateLimit | undefined {
  const match = /^\s*(\d{1,10})\s*\/\s*([a-z]+)\s*$/.exec(text);
  const windowSeconds = match ? rateWindows[match[2]!] : undefined;
  const points = match ? Number(match[1]) : 0;
  if (windowSeconds === undefined || points < 1 || points > 1_000_000_000) return undefined;
  return Object.freeze({ points, windowSeconds });
}

export interface ConsoleConfig {
  /** KEYMASTER_ADMIN_EMAIL and KEYMASTER_ADMIN_PASSWORD: the first owner, created at start if missing. */
  readonly adminEmail: string | undefined;
  readonly adminPassword: string | undefined;
  /**
   * KEYMASTER_PUBLIC_URL: where people reach this server (`https://keymaster.example.com`), for
   * the links in invitation and password-reset emails. Never taken from a request's Host header,
   * which a caller chooses.
   */
  readonly publicUrl: string | undefined;
  /** Sign-in with an OpenID Connect provider (KEYMASTER_OIDC_*), when configured. */
  readonly oidc: OidcConfig | undefined;
}

export interface OidcConfig {
  /** KEYMASTER_OIDC_ISSUER: the provider's issuer URL (its discovery document is under it). */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** KEYMASTER_OIDC_NAME: how the sign-in button names the provider ("Sign in with Okta"). */
  readonly name: string;
  /** KEYMASTER_OIDC_DEFAULT_ROLE: the role of people the provider vouches for who are not users yet; unset: invite them first. */
  readonly defaultRole: Role | undefined;
}

export interface EmailConfig {
  /** Where nodemailer sends: `smtp://host:port` or `smtps://user:pass@host:465`. */
  readonly smtpUrl: string;
  /** The From header: `billing@example.com` or `"Acme" <billing@example.com>`. */
  readonly from: string;
  /** Named in the built-in templates (`{{product_name}}`); unset: left out. */
  readonly productName: string | undefined;
  /** Templates that replace the built-in ones, by notice type (see templates.ts). */
  readonly templatesDir: string | undefined;
  /** How often each node looks for emails due (new ones and retries). */
  readonly pollMs: number;
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads and validates the environment, reporting every problem at once. The only reader of
 * process.env: everything else receives the frozen result.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  const flag = (name: string) => {
    const raw = env[name];
    if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
    if (raw === 'true' || raw === '1') return true;
    problems.push(`${name} must be true or false, got "${raw}"`);
    return false;
  };
  const dataDir = env.KEYMASTER_DATA_DIR || './data';
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^(postgres(ql)?|sqlite):/.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// URL (or sqlite:<file>)');
  }
  const migrationUrl = env.KEYMASTER_MIGRATION_DATABASE_URL || undefined;
  if (migrationUrl !== undefined && !/^postgres(ql)?:\/\//.test(migrationUrl)) {
    problems.push('KEYMASTER_MIGRATION_DATABASE_URL must be a postgres:// URL');
  } else if (migrationUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl ?? '')) {
    problems.push('KEYMASTER_MIGRATION_DATABASE_URL needs a postgres:// DATABASE_URL (the role the server serves as)');
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!logLevels.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${logLevels.join(', ')}`);
  const adminKey = env.KEYMASTER_ADMIN_KEY || undefined;
  if (adminKey !== undefined && adminKey.length < 16)
    problems.push('KEYMASTER_ADMIN_KEY must be at least 16 characters');
  const adminEmail = env.KEYMASTER_ADMIN_EMAIL || undefined;
  const adminPassword = env.KEYMASTER_ADMIN_PASSWORD || undefined;
  if ((adminEmail === undefined) !== (adminPassword === undefined)) {
    problems.push('KEYMASTER_ADMIN_EMAIL and KEYMASTER_ADMIN_PASSWORD are set together (the first console owner)');
  }
  if (adminPassword !== undefined && adminPassword.length < minimumPasswordLength) {
    problems.push(`KEYMASTER_ADMIN_PASSWORD must be at least ${minimumPasswordLength} characters`);
  }
  const publicUrl = env.KEYMASTER_PUBLIC_URL ? env.KEYMASTER_PUBLIC_URL.replace(/\/+$/, '') : undefined;
  if (publicUrl !== undefined && !/^https?:\/\/[^/\s]+$/.test(publicUrl)) {
    problems.push('KEYMASTER_PUBLIC_URL must be an origin like https://keymaster.example.com');
  }
  let oidc: OidcConfig | undefined;
  if (env.KEYMASTER_OIDC_ISSUER) {
    const defaultRole = env.KEYMASTER_OIDC_DEFAULT_ROLE || undefined;
    if (!env.KEYMASTER_OIDC_CLIENT_ID || !env.KEYMASTER_OIDC_CLIENT_SECRET) {
      problems.push('KEYMASTER_OIDC_ISSUER needs KEYMASTER_OIDC_CLIENT_ID and KEYMASTER_OIDC_CLIENT_SECRET');
    }
    if (publicUrl === undefined) {
      problems.push('KEYMASTER_OIDC_ISSUER needs KEYMASTER_PUBLIC_URL (the redirect URI is made on it)');
    }
    if (!/^https?:\/\/\S+$/.test(env.KEYMASTER_OIDC_ISSUER)) problems.push('KEYMASTER_OIDC_ISSUER must be a URL');
    if (defaultRole !== undefined && (!Roles.includes(defaultRole as Role) || defaultRole === 'owner')) {
      problems.push(`KEYMASTER_OIDC_DEFAULT_ROLE must be one of ${Roles.filter((r) => r !== 'owner').join(', ')}`);
    }
    oidc = {
      issuer: env.KEYMASTER_OIDC_ISSUER,
      clientId: env.KEYMASTER_OIDC_CLIENT_ID ?? '',
      clientSecret: env.KEYMASTER_OIDC_CLIENT_SECRET ?? '',
      name: env.KEYMASTER_OIDC_NAME || 'single sign-on',
      defaultRole: defaultRole as Role | undefined,
    };
  }
  const fallbackPlan = env.KEYMASTER_FALLBACK_PLAN || undefined;
  if (fallbackPlan !== undefined && !/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(fallbackPlan)) {
    problems.push(`KEYMASTER_FALLBACK_PLAN must be a plan key, got "${fallbackPlan}"`);
  }
  const tokenSecret = env.KEYMASTER_TOKEN_SECRET || undefined;
  if (tokenSecret !== undefined && tokenSecret.length < 32)
    problems.push('KEYMASTER_TOKEN_SECRET must be at least 32 characters');
  const tokenSecretPrevious = env.KEYMASTER_TOKEN_SECRET_PREVIOUS || undefined;
  if (tokenSecretPrevious !== undefined && tokenSecret === undefined)
    problems.push('KEYMASTER_TOKEN_SECRET_PREVIOUS needs KEYMASTER_TOKEN_SECRET (the secret that replaced it)');
  const corsOrigins = (env.KEYMASTER_CORS_ORIGINS ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin))
      problems.push(`KEYMASTER_CORS_ORIGINS must list origins like https://app.example.com (or *), got "${origin}"`);
  }
  const clientContextKeys = (env.KEYMASTER_CLIENT_CONTEXT_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  for (const key of clientContextKeys) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(key) || key === 'targetingKey')
      problems.push(`KEYMASTER_CLIENT_CONTEXT_KEYS must list context keys like app_version, got "${key}"`);
  }
  const contractsWebhookSecret = env.KEYMASTER_CONTRACTS_WEBHOOK_SECRET || undefined;
  if (contractsWebhookSecret !== undefined && !/^(whsec_)?[A-Za-z0-9+/]{24,}={0,2}$/.test(contractsWebhookSecret)) {
    problems.push(
      'KEYMASTER_CONTRACTS_WEBHOOK_SECRET must be a Standard Webhooks secret: whsec_ and at least 18 bytes in base64',
    );
  }
  const stripeWebhookSecret = env.KEYMASTER_STRIPE_WEBHOOK_SECRET || undefined;
  if (stripeWebhookSecret !== undefined && !stripeWebhookSecret.startsWith('whsec_'))
    problems.push('KEYMASTER_STRIPE_WEBHOOK_SECRET must be a Stripe signing secret (whsec_…)');
  const stripeApiKey = env.KEYMASTER_STRIPE_API_KEY || undefined;
  if (stripeApiKey !== undefined && !/^(sk|rk)_/.test(stripeApiKey))
    problems.push('KEYMASTER_STRIPE_API_KEY must be a Stripe secret or restricted key (sk_… or rk_…)');
  const stripeApiBaseRaw = env.KEYMASTER_STRIPE_API_BASE || 'https://api.stripe.com';
  let stripeApiBase = new URL('https://api.stripe.com');
  try {
    stripeApiBase = new URL(stripeApiBaseRaw);
    if (stripeApiBase.protocol !== 'https:' && stripeApiBase.protocol !== 'http:') throw new Error('not http');
  } catch {
    problems.push(`KEYMASTER_STRIPE_API_BASE must be an http(s) URL, got "${stripeApiBaseRaw}"`);
  }
  const smtpUrl = env.KEYMASTER_SMTP_URL || undefined;
  const emailFrom = env.KEYMASTER_EMAIL_FROM || undefined;
  if (smtpUrl !== undefined && !/^smtps?:\/\/[^/\s]+/.test(smtpUrl))
    problems.push('KEYMASTER_SMTP_URL must be an smtp:// or smtps:// URL, like smtp://mail.example.com:587');
  if (smtpUrl !== undefined && emailFrom === undefined)
    problems.push('KEYMASTER_EMAIL_FROM must be set when KEYMASTER_SMTP_URL is: the address emails are sent from');
  if (emailFrom !== undefined && !/^[^@\s<>]+@[^@\s<>]+$|^.*<[^@\s<>]+@[^@\s<>]+>$/.test(emailFrom))
    problems.push(`KEYMASTER_EMAIL_FROM must be an address like billing@example.com or "Acme" <billing@example.com>`);
  const emailPollMs = int('KEYMASTER_EMAIL_POLL_MS', 1000, 10, 60_000);
  let auditSigningKey: KeyObject | undefined;
  if (env.KEYMASTER_AUDIT_SIGNING_KEY) {
    try {
      auditSigningKey = parseSigningKey(env.KEYMASTER_AUDIT_SIGNING_KEY);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      problems.push(
        `KEYMASTER_AUDIT_SIGNING_KEY must be an Ed25519 private key, PEM or PKCS#8 in base64 (openssl genpkey -algorithm ed25519): ${reason}`,
      );
    }
  }
  const auditRetainDays = env.KEYMASTER_AUDIT_RETAIN_DAYS
    ? int('KEYMASTER_AUDIT_RETAIN_DAYS', 0, 1, 36_500)
    : undefined;
  const encryptionKey = (name: string) => {
    const raw = env[name];
    if (!raw) return undefined;
    try {
      return parseEncryptionKey(raw);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      problems.push(`${name} must be 32 random bytes in base64 (openssl rand -base64 32): ${reason}`);
      return undefined;
    }
  };
  const encryption = Object.freeze({
    current: encryptionKey('KEYMASTER_ENCRYPTION_KEY'),
    previous: encryptionKey('KEYMASTER_ENCRYPTION_KEY_PREVIOUS'),
  });
  const revenueReportCron = env.KEYMASTER_REVENUE_REPORT_CRON?.trim() || undefined;
  if (revenueReportCron !== undefined) {
    const example = 'like "0 6 1 1,4,7,10 *" (06:00 UTC on the first day of each quarter)';
    try {
      if (new Cron(revenueReportCron, { timezone: 'UTC' }).nextRun() === null) {
        problems.push(
          `KEYMASTER_REVENUE_REPORT_CRON "${revenueReportCron}" never fires: give a cron expression ${example}`,
        );
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      problems.push(
        `KEYMASTER_REVENUE_REPORT_CRON must be a cron expression ${example}, got "${revenueReportCron}": ${reason}`,
      );
    }
  }
  const rate = (name: string) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const limit = parseRateLimit(raw);
    if (limit === undefined)
      problems.push(`${name} must be a number of requests per s, min or h, like 100/s or 6000/min, got "${raw}"`);
    return limit;
  };
  const rateLimit = rate('KEYMASTER_RATE_LIMIT');
  const customerRateLimit = rate('KEYMASTER_CUSTOMER_RATE_LIMIT') ?? rateLimit;
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl !== undefined && !/^rediss?:\/\/\S+$/.test(redisUrl))
    problems.push('REDIS_URL must be a redis:// or rediss:// URL, like redis://127.0.0.1:6379');
  const redisPrefix = env.KEYMASTER_REDIS_PREFIX || 'keymaster';
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(redisPrefix))
    problems.push(`KEYMASTER_REDIS_PREFIX must be 1 to 64 letters, digits or _.:-, got "${redisPrefix}"`);
  const headersTimeoutMs = int('KEYMASTER_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000);
  const requestTimeoutMs = int('KEYMASTER_REQUEST_TIMEOUT_MS', 60_000, 100, 3_600_000);
  if (headersTimeoutMs > requestTimeoutMs)
    problems.push('KEYMASTER_HEADERS_TIMEOUT_MS must not be longer than KEYMASTER_REQUEST_TIMEOUT_MS');
  const config: Config = {
    port: int('PORT', 8080, 0, 65535),
    host: env.HOST || '0.0.0.0',
    database: databaseTarget({ databaseUrl, migrationUrl, dataDir }),
    postgresTimeouts: Object.freeze({
      statementMs: int('KEYMASTER_PG_STATEMENT_TIMEOUT_MS', defaultPostgresTimeouts.statementMs, 0, 3_600_000),
      lockMs: int('KEYMASTER_PG_LOCK_TIMEOUT_MS', defaultPostgresTimeouts.lockMs, 0, 3_600_000),
      connectMs: int('KEYMASTER_PG_CONNECT_TIMEOUT_MS', defaultPostgresTimeouts.connectMs, 0, 600_000),
    }),
    dataDir,
    adminKey,
    logLevel,
    feedPollMs: int('KEYMASTER_FEED_POLL_MS', 200, 10, 10_000),
    cacheSize: int('KEYMASTER_CACHE_SIZE', 100_000, 100, 10_000_000),
    bodyLimitBytes: int('KEYMASTER_BODY_LIMIT', 1_048_576, 1024, 64 * 1_048_576),
    schedulerPollMs: int('KEYMASTER_SCHEDULER_POLL_MS', 1000, 10, 60_000),
    notificationsPollMs: int('KEYMASTER_NOTIFICATIONS_POLL_MS', 500, 10, 60_000),
    pastDueGraceDays: int('KEYMASTER_PAST_DUE_GRACE_DAYS', 7, 0, 365),
    creditsNoticeDays: int('KEYMASTER_CREDITS_NOTICE_DAYS', 7, 0, 365),
    decisionRetainDays: int('KEYMASTER_DECISION_RETAIN_DAYS', 30, 1, 3650),
    decisionFlushMs: int('KEYMASTER_DECISION_FLUSH_MS', 250, 10, 60_000),
    testClock: flag('KEYMASTER_TEST_CLOCK'),
    fallbackPlan,
    feedRetain: int('KEYMASTER_FEED_RETAIN', 100_000, 1000, 100_000_000),
    streamHeartbeatMs: int('KEYMASTER_STREAM_HEARTBEAT_MS', 15_000, 10, 300_000),
    streamMaxPerKey: int('KEYMASTER_STREAM_MAX_PER_KEY', 1000, 1, 1_000_000),
    streamMaxPerToken: int('KEYMASTER_STREAM_MAX_PER_TOKEN', 10, 1, 10_000),
    rateLimit,
    customerRateLimit,
    redis: redisUrl === undefined ? undefined : Object.freeze({ url: redisUrl, prefix: redisPrefix }),
    headersTimeoutMs,
    requestTimeoutMs,
    tokenSecret,
    tokenSecretPrevious,
    corsOrigins: Object.freeze(corsOrigins),
    clientContextKeys: Object.freeze(clientContextKeys),
    contractsWebhookSecret,
    stripe: Object.freeze({ webhookSecret: stripeWebhookSecret, apiKey: stripeApiKey, apiBase: stripeApiBase }),
    webhooks: Object.freeze({
      allowPrivate: flag('KEYMASTER_WEBHOOK_ALLOW_PRIVATE'),
      concurrency: int('KEYMASTER_WEBHOOK_CONCURRENCY', 64, 2, 10_000),
      timeoutMs: int('KEYMASTER_WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
      pollMs: int('KEYMASTER_WEBHOOK_POLL_MS', 500, 10, 60_000),
    }),
    email:
      smtpUrl === undefined || emailFrom === undefined
        ? undefined
        : Object.freeze({
            smtpUrl,
            from: emailFrom,
            productName: env.KEYMASTER_EMAIL_PRODUCT_NAME || undefined,
            templatesDir: env.KEYMASTER_EMAIL_TEMPLATES_DIR || undefined,
            pollMs: emailPollMs,
          }),
    revenueReportCron,
    audit: Object.freeze({ signingKey: auditSigningKey, retainDays: auditRetainDays }),
    benchmarkSkipAudit: flag('KEYMASTER_BENCHMARK_SKIP_AUDIT'),
    console: Object.freeze({ adminEmail, adminPassword, publicUrl, oidc }),
    encryption,
  };
  if (problems.length > 0) {
    throw new Error(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return Object.freeze(config);
}
