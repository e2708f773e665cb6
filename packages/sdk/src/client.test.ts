import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { expectStatus, grantBody, planBody, seedCustomer } from '../../server/src/test-support/builders.js';
import { createKeymaster, type KeymasterOptions, type TrackError } from './index.js';
import { eventually, startFaultProxy, startLiveServer, testAdminKey } from './test-support/live-server.js';

type Live = Awaited<ReturnType<typeof startLiveServer>>;
type Proxy = Awaited<ReturnType<typeof startFaultProxy>>;

describe('@keymaster/sdk against a real server [sqlite]', () => {
  let live: Live;
  let proxy: Proxy;
  const clients: { close(): Promise<void> }[] = [];
  const client = (options: Partial<KeymasterOptions> = {}) => {
    const km = createKeymaster({
      baseUrl: proxy.url,
      apiKey: testAdminKey,
      clock: live.server.clock,
      stream: false,
      ...options,
    });
    clients.push(km);
    return km;
  };
  const snapshotFetches = (customer: string) =>
    proxy.log.filter((r) => r.path === `/v1/customers/${customer}/entitlements`).length;

  beforeAll(async () => {
    live = await startLiveServer({ dialect: 'sqlite' });
    proxy = await startFaultProxy(live.url);
    const post = async (url: string, body: unknown, status = 201) =>
      expectStatus(await live.server.request({ method: 'POST', url, body }), status);
    await post('/v1/features', {
      key: 'searches',
      name: 'Searches',
      type: 'metered',
      meter: { event_type: 'search', aggregation: 'count' },
    });
    await post(
      '/v1/plans',
      planBody({
        key: 'search_plan',
        entitlements: [
          { feature: 'searches', limit: 1000 },
          { feature: 'api_calls', limit: 10 },
        ],
      }),
    );
    await post('/v1/plans/search_plan/publish', undefined, 200);
  });

  afterAll(async () => {
    for (const km of clients) await km.close();
    await proxy?.close();
    await live?.close();
  });

  it('shares one fetch between concurrent loads and checks of an uncached customer', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    const km = client();
    const first = km.check(id, 'sso');
    expect(first).toMatchObject({ source: 'fallback', reason: 'loading', allowed: false });
    await Promise.all([km.load(id), km.load(id), km.checkAsync(id, 'sso'), km.checkAsync(id, 'api_calls')]);
    expect(snapshotFetches(id)).toBe(1);
    expect(km.check(id, 'sso')).toMatchObject({ source: 'cache', allowed: true, reason: 'entitled' });
  });

  it('loads many customers at once without process warnings', async () => {
    const ids = await Promise.all(
      Array.from({ length: 30 }, async () => (await seedCustomer(live.server, { plan: 'pro' })).id),
    );
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const km = client();
      await Promise.all(ids.map((id) => km.load(id)));
      for (const id of ids) expect(km.check(id, 'sso')).toMatchObject({ source: 'cache', allowed: true });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });

  it('keeps at most cacheSize customers, evicting one not checked lately', async () => {
    const ids = await Promise.all(
      [1, 2, 3, 4].map(() => seedCustomer(live.server, { plan: 'free' }).then((c) => c.id)),
    );
    const km = client({ cacheSize: 3 });
    for (const id of ids.slice(0, 3)) await km.load(id);
    // The CLOCK pass clears every bit once; the first customer, checked again after it, survives.
    await km.load(ids[3]!);
    expect(km.status().cached).toBe(3);
    km.check(ids[3]!, 'sso');
    await km.load(ids[0]!);
    expect(km.status().cached).toBe(3);
    expect(km.check(ids[3]!, 'sso').source).toBe('cache');
    expect(km.check(ids[0]!, 'sso').source).toBe('cache');
  });

  it('updates the cached usage from a consume', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'search_plan' });
    const km = client();
    await km.load(id);
    expect(km.check(id, 'api_calls', 10).allowed).toBe(true);
    const consumed = await km.consume({ customer: id, feature: 'api_calls', quantity: 7 });
    expect(consumed).toMatchObject({ allowed: true, usage: 7, balance: 3, source: 'server' });
    expect(km.check(id, 'api_calls', 4)).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      usage: 7,
      balance: 3,
    });
    expect(km.check(id, 'api_calls', 3)).toMatchObject({ allowed: true, usage: 7 });
  });

  it('records a gauge level, refreshing the cached entitlements, and refuses a level below zero', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    const km = client();
    await km.load(id);
    expect(km.check(id, 'seats')).toMatchObject({ usage: 0, balance: 10 });
    expect(await km.setUsage({ customer: id, feature: 'seats', set: 8 })).toBe(8);
    expect(await km.setUsage({ customer: id, feature: 'seats', delta: 1 })).toBe(9);
    await eventually(() => km.check(id, 'seats').usage === 9);
    expect(km.check(id, 'seats', 2)).toMatchObject({ allowed: false, reason: 'limit_reached', balance: 1 });
    await expect(km.setUsage({ customer: id, feature: 'seats', delta: -10 })).rejects.toMatchObject({
      status: 400,
      code: 'validation_failed',
    });
  });

  it('reads usage history in buckets that add up to what check reports', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'search_plan' });
    const km = client();
    const at = live.server.clock.now();
    const event = (n: number, offsetMs: number) => ({
      id: `${id}-h${n}`,
      customer: id,
      type: 'search',
      timestamp: new Date(at - offsetMs).toISOString(),
    });
    expectStatus(
      await live.server.request({
        method: 'POST',
        url: '/v1/events',
        body: { events: [event(1, 0), event(2, 0), event(3, 3_600_000)] },
      }),
      200,
    );
    const from = new Date(at - 2 * 3_600_000);
    const history = await km.usageHistory({ customer: id, feature: 'searches', from, granularity: 'hour' });
    expect(history).toMatchObject({ customer: id, feature: 'searches', granularity: 'hour', total: 3 });
    expect(history.buckets.map((b) => b.usage).filter((usage) => usage > 0)).toEqual([1, 2]);
    const current = await km.usageHistory({ customer: id, feature: 'searches' });
    expect(current.total).toBe((await km.checkRemote({ customer: id, feature: 'searches' })).usage);
  });

  it('gives tracked events time-ordered ids (UUIDv7), which the server counts once each', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'search_plan' });
    const km = client({ tracking: { batchSize: 100, flushIntervalMs: 50 } });
    const before = proxy.log.length;
    km.track(Array.from({ length: 50 }, () => ({ customer: id, type: 'search' })));
    await km.flush();
    km.track(Array.from({ length: 50 }, () => ({ customer: id, type: 'search' })));
    await km.flush();
    const sent = proxy.log
      .slice(before)
      .filter((r) => r.path === '/v1/events')
      .flatMap((r) => (JSON.parse(r.body) as { events: { id: string }[] }).events.map((e) => e.id));
    expect(sent).toHaveLength(100);
    for (const eventId of sent)
      expect(eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // In the order they were made, so they land side by side in the server's index.
    expect([...sent].sort()).toEqual(sent);
    expect((await km.checkRemote({ customer: id, feature: 'searches' })).usage).toBe(100);
  });

  it('batches tracked events and retries with the same ids after 5xx, cuts and timeouts; the server counts each once', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'search_plan' });
    const errors: TrackError[] = [];
    const km = client({
      timeoutMs: 500,
      tracking: { batchSize: 4, flushIntervalMs: 50 },
      onTrackError: (e) => errors.push(e),
    });
    const before = proxy.log.length;
    proxy.faults = [{ kind: 'status', status: 503 }, { kind: 'drop' }, { kind: 'delay', ms: 1000 }];
    km.track(Array.from({ length: 6 }, () => ({ customer: id, type: 'search' })));
    await km.flush();
    const posts = proxy.log.slice(before).filter((r) => r.path === '/v1/events');
    const ids = posts.map((r) => (JSON.parse(r.body) as { events: { id: string }[] }).events.map((e) => e.id));
    // The first batch of 4 went at least four times (503, cut, timed out, answered) with the same
    // ids; then the rest. On a loaded machine an answer can itself outlast the timeout, which only
    // adds another attempt with the same ids.
    const [first] = ids;
    expect(first).toHaveLength(4);
    const firstAttempts = ids.findIndex((attempt) => attempt.length !== 4);
    expect(firstAttempts).toBeGreaterThanOrEqual(4);
    for (const attempt of ids.slice(0, firstAttempts)) expect(attempt).toEqual(first);
    const rest = ids.slice(firstAttempts);
    expect(rest.length).toBeGreaterThanOrEqual(1);
    for (const attempt of rest) expect(attempt).toEqual(rest[0]);
    expect(rest[0]).toHaveLength(2);
    expect(rest[0]!.some((eventId) => first!.includes(eventId))).toBe(false);
    expect(errors).toEqual([]);
    await eventually(() => true);
    const check = expectStatus<{ usage: number }>(
      await live.server.request({
        method: 'POST',
        url: '/v1/check',
        body: { customer: id, feature: 'searches', quantity: 0 },
      }),
      200,
    );
    expect(check.usage).toBe(6);
  });

  it('drops a batch answered with a 4xx and reports it, and reports events the server rejected', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'search_plan' });
    const errors: TrackError[] = [];
    const km = client({ tracking: { batchSize: 2, flushIntervalMs: 10 }, onTrackError: (e) => errors.push(e) });
    proxy.faults = [{ kind: 'status', status: 400 }];
    km.track([
      { customer: id, type: 'search' },
      { customer: id, type: 'search' },
    ]);
    await km.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toMatchObject({ status: 400, code: 'injected' });
    expect(errors[0]!.events).toHaveLength(2);
    km.track([{ customer: id, type: 'search', timestamp: 'not a time' }]);
    await km.flush();
    expect(errors).toHaveLength(2);
    expect(errors[1]!.error.code).toBe('event_rejected');
  });

  it('answers by the failure policy when the server is down, recovers by itself, and marks an old cache stale', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    let now = live.server.clock.now();
    const km = client({
      clock: { now: () => now },
      staleAfterMs: 1000,
      failurePolicy: { default: 'closed', features: { sso: 'open' } },
    });
    proxy.fallback = { kind: 'drop' };
    try {
      await expect(km.load(id)).rejects.toMatchObject({ status: 0, code: 'network_error' });
      expect(km.check(id, 'sso')).toMatchObject({
        allowed: true,
        reason: 'unavailable',
        source: 'fallback',
        stale: true,
      });
      expect(km.check(id, 'api_calls')).toMatchObject({ allowed: false, reason: 'unavailable', source: 'fallback' });
      expect(await km.checkAsync(id, 'api_calls')).toMatchObject({ allowed: false, reason: 'unavailable' });
      expect(km.status().reachable).toBe(false);
    } finally {
      proxy.fallback = { kind: 'pass' };
    }
    // Back up: after the backoff a check loads by itself.
    now += 60_000;
    km.check(id, 'sso');
    await eventually(() => km.check(id, 'sso').source === 'cache');
    expect(km.check(id, 'sso')).toMatchObject({ allowed: true, reason: 'entitled', stale: false });
    // Down again, and the snapshot grows old: still served, marked stale.
    proxy.fallback = { kind: 'status', status: 503 };
    try {
      now += 1001;
      expect(km.check(id, 'sso')).toMatchObject({ allowed: true, reason: 'entitled', source: 'cache', stale: true });
    } finally {
      proxy.fallback = { kind: 'pass' };
    }
  });

  it('polls when the server has no stream, and picks up a grant change', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    proxy.missing.push('/v1/stream'); // as a server without the stream route answers
    onTestFinished(() => {
      proxy.missing.length = 0;
    });
    const km = client({ stream: true, pollIntervalMs: 100 });
    await km.load(id);
    expect(km.check(id, 'sso').allowed).toBe(false);
    expect(km.status().mode).toBe('polling');
    const changed: (string | null)[] = [];
    km.onChange((c) => changed.push(c));
    expectStatus(
      await live.server.request({
        method: 'POST',
        url: `/v1/customers/${id}/grants`,
        body: grantBody({ feature: 'sso', enabled: true }),
      }),
      201,
    );
    await eventually(() => km.check(id, 'sso').allowed);
    expect(km.check(id, 'sso')).toMatchObject({ reason: 'entitled', source: 'cache' });
    expect(changed).toContain(id);
  });

  it('leaves no timers or sockets after close(): a process using it exits by itself', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const km = createKeymaster({
      baseUrl: proxy.url,
      apiKey: testAdminKey,
      clock: live.server.clock,
      pollIntervalMs: 50,
    });
    await km.load(id);
    km.check(`${id}_missing`, 'sso');
    km.track({ customer: id, type: 'search' });
    await km.close();
    expect(timers()).toBeLessThanOrEqual(before);
    expect(proxy.log.filter((r) => r.path === '/v1/events').at(-1)?.body).toContain(id);

    // Sockets are best judged by a process of its own: it must exit without being told to.
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      const { createKeymaster } = await import(${JSON.stringify(dist)});
      const km = createKeymaster({ baseUrl: ${JSON.stringify(proxy.url)}, apiKey: ${JSON.stringify(testAdminKey)}, pollIntervalMs: 50 });
      await km.load(${JSON.stringify(id)});
      km.track({ customer: ${JSON.stringify(id)}, type: 'search', timestamp: ${JSON.stringify(new Date(live.server.clock.now()).toISOString())} });
      await new Promise((r) => setTimeout(r, 200));
      await km.close();
      console.log(JSON.stringify(process.getActiveResourcesInfo()));`;
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 15_000,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(JSON.parse(stdout) as string[]).not.toContain('Timeout');
  });
});
