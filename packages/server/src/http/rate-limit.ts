import type { RateLimiterRes } from 'rate-limiter-flexible';
import type { Principal } from '../modules/api-keys/service.js';
import type { Concern, Exchange, Refusal } from './concerns.js';
import { httpProblem } from './problems.js';

/**
 * Rate limits (`KEYMASTER_RATE_LIMIT`, `KEYMASTER_CUSTOMER_RATE_LIMIT`): every request to an API
 * route counts against its caller's bucket, per fixed window — an API key by its id, a console
 * user by theirs, a customer (all its customer tokens and portal sessions together) by its id,
 * and a request without a credential by the client's address. Past the limit it answers 429
 * `rate_limited` with `Retry-After`; every answer of a limited route carries the IETF
 * `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers).
 */

/** A rate limit: at most `points` requests per fixed window of `windowSeconds` (`100/s`). */
export interface RateLimit {
  readonly points: number;
  readonly windowSeconds: number;
}

/** The two policies, as the `RateLimit-Policy` field names them. */
type PolicyName = 'default' | 'customer';

/** One request counted: whether it may pass, what is left of the window, and when the window ends. */
export interface Count {
  allowed: boolean;
  remaining: number;
  resetSeconds: number;
}

/** Where the counts are kept: this node's memory, or Redis for every node. */
interface Counter {
  take(policy: PolicyName, bucket: string): Count | Promise<Count>;
  close(): Promise<void>;
}

/** What is known of a clock here: the time now (ms). */
interface Now {
  now(): number;
}

interface Logger {
  warn(obj: object, msg: string): void;
  info(msg: string): void;
}

/**
 * One policy's counts in this node's memory, in fixed windows aligned on the clock (every bucket
 * shares the window's bounds): when a window ends, all its counts go at once, so memory holds only
 * the buckets seen in the current window. Synchronous and read from the injected clock: checks
 * pass through here, and a promise per request (as `RateLimiterMemory` answers) would cost more
 * than the count.
 */
class WindowCounts {
  private window = -1;
  private readonly counts = new Map<string, number>();
  private readonly windowMs: number;
  constructor(
    private readonly limit: RateLimit,
    private readonly clock: Now,
  ) {
    this.windowMs = limit.windowSeconds * 1000;
  }

  take(bucket: string): Count {
    const now = this.clock.now();
    const window = Math.floor(now / this.windowMs);
    if (window !== this.window) {
      this.counts.clear();
      this.window = window;
    }
    const points = this.limit.points;
    // Past the limit the count stays at one over it: refusals need no larger number.
    const used = Math.min((this.counts.get(bucket) ?? 0) + 1, points + 1);
    this.counts.set(bucket, used);
    return {
      allowed: used <= points,
      remaining: points - Math.min(used, points),
      resetSeconds: Math.max(1, Math.ceil(((window + 1) * this.windowMs - now) / 1000)),
    };
  }
}

function memoryCounter(limits: Limits, clock: Now): Counter {
  const counts = {
    default: limits.default && new WindowCounts(limits.default, clock),
    customer: limits.customer && new WindowCounts(limits.customer, clock),
  };
  return {
    take: (policy, bucket) => counts[policy]!.take(bucket),
    close: async () => {},
  };
}

function countOf(allowed: boolean, result: RateLimiterRes): Count {
  return {
    allowed,
    remaining: result.remainingPoints,
    resetSeconds: Math.max(1, Math.ceil(result.msBeforeNext / 1000)),
  };
}

/**
 * Counts in Redis, shared by every node (`REDIS_URL`). Should Redis be unreachable, each node
 * counts in its own memory meanwhile (the insurance limiter) rather than refuse or fail requests:
 * a Redis outage does not take the API down. The outage is logged once, and its end once.
 */
function redisCounter(input: { url: string; prefix: string; limits: Limits; logger: Logger }): Counter {
  const connected = connectRedis(input);
  return {
    take: (policy, bucket) =>
      connected.then(({ limiters, RateLimiterRes }) =>
        limiters[policy]!.consume(bucket).then(
          (result) => countOf(true, result),
          (refused: unknown) => {
            if (refused instanceof RateLimiterRes) return countOf(false, refused);
            throw refused;
          },
        ),
      ),
    close: async () => {
      (await connected).client.disconnect();
    },
  };
}

/**
 * The Redis client and limiters, their libraries loaded only here: a node without `REDIS_URL`
 * (every one by default) never loads them at start.
 */
async function connectRedis(input: { url: string; prefix: string; limits: Limits; logger: Logger }) {
  const [{ Redis }, { RateLimiterMemory, RateLimiterRedis, RateLimiterRes }] = await Promise.all([
    import('ioredis'),
    import('rate-limiter-flexible'),
  ]);
  const client = new Redis(input.url, {
    // `CLIENT LIST` tells which Keymaster a connection is.
    connectionName: input.prefix,
    // Fail at once while disconnected (the insurance answers) rather than queue the request.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A Redis that stopped answering would hold every request: past this, the insurance answers.
    commandTimeout: 250,
  });
  let down = false;
  client.on('error', (error: unknown) => {
    if (down) return;
    down = true;
    input.logger.warn({ err: error }, 'Redis is unreachable: each node counts rate limits on its own until it is back');
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    input.logger.info('Redis is reachable again: rate limits are counted for all nodes');
  });
  const limiterFor = (policy: PolicyName, limit: RateLimit | undefined) => {
    if (limit === undefined) return undefined;
    const keyPrefix = `${input.prefix}:rate:${policy}`;
    return new RateLimiterRedis({
      storeClient: client,
      keyPrefix,
      points: limit.points,
      duration: limit.windowSeconds,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points: limit.points, duration: limit.windowSeconds }),
    });
  };
  const limiters = {
    default: limiterFor('default', input.limits.default),
    customer: limiterFor('customer', input.limits.customer),
  };
  return { client, limiters, RateLimiterRes };
}

/** The limits by policy: `default` for keys, users and addresses, `customer` for customers. */
export interface Limits {
  default: RateLimit | undefined;
  customer: RateLimit | undefined;
}

const units: Record<number, string> = { 1: 'second', 60: 'minute', 3600: 'hour' };

/** What a policy says, made once. */
function policyOf(name: PolicyName, limit: RateLimit) {
  return {
    name,
    field: `"${name}";q=${limit.points};w=${limit.windowSeconds}`,
    per: `${limit.points} requests per ${units[limit.windowSeconds] ?? `${limit.windowSeconds} s`}`,
  };
}
type Policy = ReturnType<typeof policyOf>;

/** Whose bucket a refused request is in, for the problem's detail. */
function callerOf(principal: Principal | undefined): string {
  if (principal === undefined) return 'this client address (requests without a credential)';
  if (principal.customer !== undefined || principal.portal !== undefined) return 'this customer';
  if (principal.user !== undefined) return 'this console user';
  return 'this API key';
}

function verdict(exchange: Exchange, policy: Policy, count: Count): Refusal {
  exchange.header('ratelimit-policy', policy.field);
  exchange.header('ratelimit', `"${policy.name}";r=${count.remaining};t=${count.resetSeconds}`);
  if (count.allowed) return undefined;
  exchange.header('retry-after', String(count.resetSeconds));
  return httpProblem(
    'rate_limited',
    `Too many requests from ${callerOf(exchange.principal)}: at most ${policy.per}. Retry in ${count.resetSeconds} s.`,
  );
}

/**
 * The rate-limit concern, registered right after authentication (it counts by principal), and
 * how to let go of what it holds (a Redis connection). Only made when a limit is set.
 */
export function createRateLimit(input: {
  limits: Limits;
  clock: Now;
  /** `REDIS_URL` and the prefix of the keys there; undefined: this node counts alone, in memory. */
  redis: { url: string; prefix: string } | undefined;
  logger: Logger;
}): { concern: Concern; close(): Promise<void> } {
  const { limits } = input;
  const counter = input.redis
    ? redisCounter({ ...input.redis, limits, logger: input.logger })
    : memoryCounter(limits, input.clock);
  const policies = {
    default: limits.default && policyOf('default', limits.default),
    customer: limits.customer && policyOf('customer', limits.customer),
  };
  const concern: Concern = {
    name: 'rate limit',
    onRequest(exchange) {
      const principal = exchange.principal;
      const customer = principal?.customer ?? principal?.portal?.customer;
      const policy = customer === undefined ? policies.default : policies.customer;
      if (policy === undefined) return undefined;
      const bucket =
        customer !== undefined
          ? `customer:${customer}`
          : principal !== undefined
            ? principal.keyId
            : `ip:${exchange.raw.socket?.remoteAddress ?? 'unknown'}`;
      const count = counter.take(policy.name, bucket);
      return count instanceof Promise
        ? count.then((counted) => verdict(exchange, policy, counted))
        : verdict(exchange, policy, count);
    },
  };
  return { concern, close: () => counter.close() };
}
