import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  cacheMisses: Counter;
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
  return { registry, cacheMisses };
}

/** Counts and times answered requests; label sets are bound once and reused. */
export function requestObserver(metrics: Metrics) {
  const requests = new Counter({
    name: 'keymaster_http_requests_total',
    help: 'HTTP requests answered, by route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [metrics.registry],
  });
  const duration = new Histogram({
    name: 'keymaster_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by route.',
    labelNames: ['method', 'route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [metrics.registry],
  });
  const counters = new Map<string, Counter.Internal>();
  const timers = new Map<string, Histogram.Internal<string>>();
  return (input: { method: string; route: string; status: number; seconds: number }) => {
    const routeKey = `${input.method} ${input.route}`;
    const countKey = `${routeKey} ${input.status}`;
    let counter = counters.get(countKey);
    if (!counter) {
      counter = requests.labels({ method: input.method, route: input.route, status: input.status });
      counters.set(countKey, counter);
    }
    let timer = timers.get(routeKey);
    if (!timer) {
      timer = duration.labels({ method: input.method, route: input.route });
      timers.set(routeKey, timer);
    }
    counter.inc();
    timer.observe(input.seconds);
  };
}

export type RequestObserver = ReturnType<typeof requestObserver>;

export function registerRequestMetrics(app: FastifyInstance, input: { metrics: Metrics; observe: RequestObserver }) {
  app.addHook('onResponse', (request, reply, done) => {
    input.observe({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      seconds: reply.elapsedTime / 1000,
    });
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(input.metrics.registry.contentType);
    return input.metrics.registry.metrics();
  });
}
