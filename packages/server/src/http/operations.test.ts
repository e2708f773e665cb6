import type { Problem } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, expectStatus, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { expectProblem } from '../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../test-support/server.js';

/** Generated request ids: a per-process random prefix and a counter. */
const generatedId = /^[0-9a-f]{12}-[0-9a-z]+$/;

describeEachDialect('operations', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
  });
  afterAll(() => server.close());

  const anonymous = { authorization: undefined };

  it('keeps idle keep-alive connections longer than load balancers do (60 s)', () => {
    expect(server.keymaster.app.server.keepAliveTimeout).toBeGreaterThan(60_000);
  });

  describe('health', () => {
    it('GET /healthz answers ok without a key', async () => {
      const response = await server.request({ method: 'GET', url: '/healthz', headers: anonymous });
      expect(expectStatus(response, 200)).toEqual({ status: 'ok' });
    });

    it('GET /readyz checks the database, without a key', async () => {
      const response = await server.request({ method: 'GET', url: '/readyz', headers: anonymous });
      expect(expectStatus(response, 200)).toEqual({ status: 'ready', database: dialect });
    });
  });

  describe('GET /metrics', () => {
    it('needs a key', async () => {
      expectProblem(await server.request({ method: 'GET', url: '/metrics', headers: anonymous }), {
        status: 401,
        code: 'unauthenticated',
      });
    });

    it('serves Prometheus text: request counts by route template, latencies and cache figures', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      await check(server, { customer: id, feature: 'sso' });
      await check(server, { customer: id, feature: 'sso' });
      expectStatus(await server.request({ method: 'GET', url: '/v1/features/sso' }), 200);
      expectStatus(await server.request({ method: 'GET', url: '/v1/features/api_calls' }), 200);

      const response = await server.request({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const lines = response.body.split('\n').filter((line) => line !== '');
      // Every line is a comment or a sample: `name{labels} value`.
      for (const line of lines) {
        expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+|\w+(\{[^}]*\})? (NaN|[+-]Inf))$/);
      }
      const sample = (name: string, labels: string) =>
        Number(
          lines
            .find((line) => line.startsWith(`${name}{${labels}}`))
            ?.split(' ')
            .at(-1),
        );
      expect(sample('keymaster_http_requests_total', 'method="POST",route="/v1/check",status="200"')).toBe(2);
      // The route template, not the URL: one series however many features there are.
      expect(sample('keymaster_http_requests_total', 'method="GET",route="/v1/features/:key",status="200"')).toBe(2);
      expect(response.body).not.toContain('route="/v1/features/sso"');
      expect(response.body).toContain('# TYPE keymaster_http_request_duration_seconds histogram');
      const latency = 'keymaster_http_request_duration_seconds';
      const check2 = 'method="POST",route="/v1/check"';
      expect(sample(`${latency}_count`, check2)).toBe(2);
      expect(sample(`${latency}_bucket`, `${check2},le="+Inf"`)).toBe(2);
      expect(sample(`${latency}_bucket`, `${check2},le="5"`)).toBe(2);
      expect(sample(`${latency}_sum`, check2)).toBeGreaterThan(0);
      // Buckets are cumulative: never fewer at a larger bound.
      const buckets = lines.filter((line) => line.startsWith(`${latency}_bucket{${check2},`));
      const counts = buckets.map((line) => Number(line.split(' ').at(-1)));
      expect(buckets).toHaveLength(12);
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(response.body).toMatch(/^keymaster_cache_misses_total [1-9]\d*$/m);
      expect(response.body).toMatch(/^keymaster_cached_customers [1-9]\d*$/m);
      expect(response.body).toMatch(/^keymaster_process_cpu_user_seconds_total /m);
    });
  });

  describe('x-request-id', () => {
    it('echoes a well-formed incoming id, on successes and problems', async () => {
      for (const [url, status] of [
        ['/v1/features', 200],
        ['/v1/features/nope', 404],
        ['/healthz', 200],
      ] as const) {
        const id = `req-${status}-abc.DEF:123_x`;
        const response = await server.request({ method: 'GET', url, headers: { 'x-request-id': id } });
        expect(response.statusCode).toBe(status);
        expect(response.headers['x-request-id']).toBe(id);
        if (status >= 400) expect(response.json<Problem>().request_id).toBe(id);
      }
    });

    it('generates one when none is sent, different every time', async () => {
      const first = await server.request({ method: 'GET', url: '/v1/features' });
      const second = await server.request({ method: 'GET', url: '/v1/features' });
      expect(first.headers['x-request-id']).toMatch(generatedId);
      expect(second.headers['x-request-id']).toMatch(generatedId);
      expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']);
    });

    it.each([
      ['with a space', 'a b'],
      ['with a newline-ish character', 'a\tb'],
      ['of 129 characters', 'r'.repeat(129)],
      ['with markup', '<script>'],
      ['empty', ''],
    ])('replaces an id %s with a generated one', async (_name, id) => {
      const response = await server.request({ method: 'GET', url: '/v1/nothing', headers: { 'x-request-id': id } });
      const problem = expectProblem(response, { status: 404, code: 'not_found' });
      expect(response.headers['x-request-id']).toMatch(generatedId);
      expect(problem.request_id).toBe(response.headers['x-request-id']);
    });

    it('is on 401s too, so a refused call can be traced', async () => {
      const response = await server.request({
        method: 'GET',
        url: '/v1/features',
        headers: { ...anonymous, 'x-request-id': 'trace-401' },
      });
      expect(expectProblem(response, { status: 401, code: 'unauthenticated' }).request_id).toBe('trace-401');
    });
  });
});
