import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  cacheMisses: Counter;
  decisionsDropped: Counter;
}

/** Prometheus metrics: process defaults, request counts and latencies by route, cache figures. */
export function createMetrics(input: { cacheSize: () => number }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keymaster_' });
  new Gauge({
    name: 'keymaster_cached_customers',
    help: 'Customers whose snapshot is held in memory on this node.',
    registers: [registry],
    collect() {
      this.set(input.cacheSize());
    },
  });
  const cacheMisses = new Counter({
    name: 'keymaster_cache_misses_total',
    help: 'Customer snapshots loaded from the database.',
    registers: [registry],
  });
  const decisionsDropped = new Counter({
    name: 'keymaster_decisions_dropped_total',
    help: 'Decisions the decision log dropped: its buffer was full, or a batch failed to write.',
    registers: [registry],
  });
  return { registry, cacheMisses, decisionsDropped };
}

const durationBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/** One route's figures, kept in plain numbers: see `requestObserver`. */
interface RouteFigures {
  /** `method="POST",route="/v1/check"`, escaped once. */
  labels: string;
  /** Answers by status code. */
  statuses: Map<number, number>;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * Counts and times answered requests: `keymaster_http_requests_total` (by method, route and
 * status) and the `keymaster_http_request_duration_seconds` histogram (by method and route).
 *
 * These two are kept in plain numbers per route and written out as Prometheus text by `render`,
 * after prom-client's registry (which has everything else): prom-client's `inc`/`observe`
 * validate and hash the label set on every call, which measured 3-4 µs of CPU per check, a
 * tenth of a check's whole cost. They are recorded by the `observability` concern
 * (request-log.ts), for every route.
 */
export function requestObserver() {
  // By method, then route: found without building a key string per request.
  const byMethod = new Map<string, Map<string, RouteFigures>>();
  const figuresOf = (method: string, route: string): RouteFigures => {
    let routes = byMethod.get(method);
    if (!routes) {
      routes = new Map();
      byMethod.set(method, routes);
    }
    let figures = routes.get(route);
    if (!figures) {
      figures = {
        labels: `method="${escapeLabel(method)}",route="${escapeLabel(route)}"`,
        statuses: new Map(),
        buckets: new Float64Array(durationBuckets.length + 1),
        sum: 0,
        count: 0,
      };
      routes.set(route, figures);
    }
    return figures;
  };
  const all = function* () {
    for (const routes of byMethod.values()) yield* routes.values();
  };

  // The route of the request before: consecutive requests are mostly to the same route (checks),
  // and comparing the same strings is cheaper than two map lookups.
  let lastMethod = '';
  let lastRoute = '';
  let lastFigures: RouteFigures | undefined;

  /** Records one answered request. Positional: it runs on every request. */
  const observe = (method: string, route: string, status: number, seconds: number) => {
    let figures = lastFigures;
    if (figures === undefined || method !== lastMethod || route !== lastRoute) {
      figures = figuresOf(method, route);
      lastMethod = method;
      lastRoute = route;
      lastFigures = figures;
    }
    figures.statuses.set(status, (figures.statuses.get(status) ?? 0) + 1);
    let bucket = 0;
    while (bucket < durationBuckets.length && seconds > durationBuckets[bucket]!) bucket++;
    figures.buckets[bucket]!++;
    figures.sum += seconds;
    figures.count++;
  };
  /** Both metrics in the Prometheus text format (0.0.4). */
  observe.render = (): string => {
    const requests = 'keymaster_http_requests_total';
    const duration = 'keymaster_http_request_duration_seconds';
    const lines = [`# HELP ${requests} HTTP requests answered, by route and status.`, `# TYPE ${requests} counter`];
    for (const { labels, statuses } of all()) {
      for (const [status, count] of statuses) lines.push(`${requests}{${labels},status="${status}"} ${count}`);
    }
    lines.push(`# HELP ${duration} Time to answer HTTP requests, by route.`, `# TYPE ${duration} histogram`);
    for (const { labels, buckets, sum, count } of all()) {
      let cumulative = 0;
      for (let i = 0; i <= durationBuckets.length; i++) {
        cumulative += buckets[i]!;
        lines.push(`${duration}_bucket{${labels},le="${durationBuckets[i] ?? '+Inf'}"} ${cumulative}`);
      }
      lines.push(`${duration}_sum{${labels}} ${sum}`, `${duration}_count{${labels}} ${count}`);
    }
    return `${lines.join('\n')}\n`;
  };
  return observe;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export type RequestObserver = ReturnType<typeof requestObserver>;

/** `GET /metrics`: everything above, in the Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, input: { metrics: Metrics; observe: RequestObserver }) {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(input.metrics.registry.contentType);
    return `${await input.metrics.registry.metrics()}\n${input.observe.render()}`;
  });
}
