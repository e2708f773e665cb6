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

export function registerRequestMetrics(app: FastifyInstance, metrics: Metrics) {
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
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: reply.statusCode });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
