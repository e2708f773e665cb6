import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, grantBody, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import {
  type JsonSchema,
  type OpenApiDocument,
  type Operation,
  type Vocabulary,
  validValue,
} from '../test-support/openapi-arbitraries.js';
import { dispatch, startTestServer, type TestServer } from '../test-support/server.js';
import { openSse } from '../test-support/sse-client.js';
import { changedTables, stateDigest } from '../test-support/state-digest.js';

/**
 * Object-level authorization (OWASP API1, API3, API5), generated from the route table: a customer
 * token or a portal session of customer A sent to every operation of /openapi.json, with every
 * place a request can name a customer (path, body `customer`, query `customer`,
 * `context.targetingKey`, nested events) and every id of B's objects filled with customer B's.
 * No answer may carry B's data, no refusal may be a 5xx, and B's stored rows stay as they were.
 * KEYMASTER_AUTHZ_RUNS sets the bodies tried an operation and credential (default 5).
 */
const runs = Number(process.env.KEYMASTER_AUTHZ_RUNS ?? 5);

const a = 'cus_authz_alpha';
const b = 'cus_authz_bravo';
/** What B's data looks like in an answer: any of these in a 2xx body is a leak. */
const bName = 'Bravo Secret Holdings';
const bEmail = 'ceo@bravo-secret.example';

interface Credential {
  name: string;
  headers: Record<string, string>;
  /** Added to the query (`?access_token=`). */
  query?: string;
  /** Operations it may be answered 2xx on (its own customer's), by `METHOD /route`. */
  mayAnswer: (operation: string) => boolean;
}

/** Every customer-naming field of a generated body set to `customer`, at any depth. */
function nameEverywhere(value: unknown, customer: string, ids: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => nameEverywhere(item, customer, ids));
  if (value === null || typeof value !== 'object') return value;
  const named: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === 'customer' || key === 'targetingKey' || key === 'customer_id') named[key] = customer;
    else if ((key === 'id' || key === 'subscription' || key === 'grant') && typeof item === 'string')
      named[key] = ids[0] ?? item;
    else named[key] = nameEverywhere(item, customer, ids);
  }
  // A targeting context always names the customer it is about.
  if ('context' in named && named.context !== null && typeof named.context === 'object') {
    named.context = { ...(named.context as object), targetingKey: customer };
  }
  return named;
}

/** Body schemas that name a customer get the field even when the generator left it out. */
function withCustomerFields(schema: JsonSchema | undefined, body: unknown, customer: string): unknown {
  if (schema?.properties === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const filled: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  if ('customer' in schema.properties) filled.customer = customer;
  if ('context' in schema.properties) {
    filled.context = { ...((filled.context as object | undefined) ?? {}), targetingKey: customer };
  }
  return filled;
}

describeEachDialect("a customer's credentials never reach another customer", (dialect) => {
  let server: TestServer;
  let doc: OpenApiDocument;
  let credentials: Credential[];
  /** B's objects by the path segment that holds their ids. */
  let bIds: Record<string, string>;
  let leaks: string[];
  let vocabulary: Vocabulary;

  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    await seedCustomer(server, { id: a, plan: 'pro' });
    const bSubscription = (await seedCustomer(server, { id: b, plan: 'pro' })).subscription!;
    expectStatus(
      await server.request({
        method: 'PUT',
        url: `/v1/customers/${b}`,
        body: { name: bName, email: bEmail, traits: { tier: 'gold' } },
      }),
      200,
    );
    const grant = expectStatus<{ id: string }>(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${b}/grants`,
        body: grantBody({ feature: 'api_calls', mode: 'add', limit: 5 }),
      }),
      201,
    );
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/consume',
        body: { customer: b, feature: 'api_calls', quantity: 3 },
      }),
      200,
    );
    const reservation = expectStatus<{ id: string }>(
      await server.request({
        method: 'POST',
        url: '/v1/reservations',
        body: { customer: b, feature: 'api_calls', quantity: 2, ttl_seconds: 86_400 },
      }),
      201,
    );
    bIds = { customers: b, subscriptions: bSubscription.id, grants: grant.id, reservations: reservation.id };
    leaks = [b, bName, bEmail, bSubscription.id, grant.id, reservation.id];
    const token = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: a } }),
      201,
    );
    const portal = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/portal-sessions', body: { customer: a } }),
      201,
    );
    // The browser's way in: the link's token exchanged for the cookie, changes sent with the CSRF token.
    const exchanged = expectStatus<{ csrf_token: string }>(
      await server.request({
        method: 'POST',
        url: '/v1/portal/session',
        headers: { authorization: undefined },
        body: { token: portal.token },
      }),
      201,
    );
    const portalRoute = (operation: string) => /^\w+ \/v1\/portal(\/|$)/.test(operation);
    credentials = [
      { name: "A's customer token", headers: { authorization: `Bearer ${token.token}` }, mayAnswer: () => false },
      {
        name: "A's customer token in ?access_token=",
        headers: {},
        query: `access_token=${token.token}`,
        mayAnswer: () => false,
      },
      // The portal acts on its own customer whatever a request says: A's answers are allowed.
      { name: "A's portal session", headers: { authorization: `Bearer ${portal.token}` }, mayAnswer: portalRoute },
      {
        name: "A's portal cookie",
        headers: { cookie: `km_portal=${portal.token}`, 'x-csrf-token': exchanged.csrf_token },
        mayAnswer: portalRoute,
      },
    ];
    vocabulary = { strings: [b, 'sso', 'api_calls', 'seats', 'pro', 'free'] };
    doc = expectStatus<OpenApiDocument>(await server.request({ method: 'GET', url: '/openapi.json' }), 200);
  });
  afterAll(() => server.close());

  /** The operation's path with every parameter filled with B's id of that kind (or B itself). */
  function pathFor(route: string): string {
    return route.replace(/\/([\w-]+)\/\{(\w+)\}/g, (_, segment: string) => `/${segment}/${bIds[segment] ?? b}`);
  }

  function queryFor(operation: Operation, credential: Credential): string {
    const names = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    const query = [
      ...(names.includes('customer') ? [`customer=${b}`] : []),
      ...(names.includes('target_id') ? [`target_id=${b}`] : []),
      ...(credential.query ? [credential.query] : []),
    ];
    return query.length === 0 ? '' : `?${query.join('&')}`;
  }

  it('walks every operation of the document', () => {
    expect(Object.values(doc.paths).flatMap((methods) => Object.keys(methods)).length).toBeGreaterThanOrEqual(90);
  });

  it("answers no operation with B's data and changes none of B's rows", async () => {
    const broken: string[] = [];
    const bBefore = await stateDigest(server.keymaster.database, { customer: b });
    const operations = Object.entries(doc.paths).flatMap(([route, methods]) =>
      Object.entries(methods).map(([lower, operation]) => ({ route, method: lower.toUpperCase(), operation })),
    );
    // Signing out of the portal ends A's session: last, so that every portal route sees it live.
    const signOut = (o: { route: string; method: string }) => o.method === 'DELETE' && o.route === '/v1/portal/session';
    operations.sort((x, y) => Number(signOut(x)) - Number(signOut(y)));
    for (const { route, method, operation } of operations) {
      const name = `${method} ${route}`;
      // The stream never ends when it opens: its own test below reads it over a socket.
      if (route === '/v1/stream') continue;
      const content = operation.requestBody?.content;
      const [type, media] = Object.entries(content ?? {})[0] ?? [];
      const bodies =
        media === undefined
          ? fc.constant(undefined)
          : validValue(media.schema, vocabulary).map((body) =>
              nameEverywhere(withCustomerFields(media.schema, body, b), b, [bIds.subscriptions!]),
            );
      for (const credential of credentials) {
        const url = `${pathFor(route)}${queryFor(operation, credential)}`;
        const details = await fc.check(
          fc.asyncProperty(bodies, async (body) => {
            const response = await dispatch(server.keymaster.app, {
              method: method as 'GET',
              url,
              headers: { ...credential.headers, ...(type ? { 'content-type': type } : {}) },
              ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
            });
            const what = `${name} with ${credential.name} (${url} ${JSON.stringify(body)?.slice(0, 200) ?? ''})`;
            if (response.statusCode >= 500) throw new Error(`${what}: ${response.statusCode} ${response.body}`);
            if (response.statusCode < 400) {
              // A public operation (sign-in's providers) answers anyone; it knows no customer.
              if (!credential.mayAnswer(name) && operation.security?.length !== 0) {
                throw new Error(`${what}: answered ${response.statusCode} ${response.body.slice(0, 300)}`);
              }
              const leaked = leaks.filter((secret) => response.body.includes(secret));
              if (leaked.length > 0) throw new Error(`${what}: answered with B's ${leaked.join(', ')}`);
            }
            const changed = changedTables(bBefore, await stateDigest(server.keymaster.database, { customer: b }));
            if (changed.length > 0) throw new Error(`${what}: changed B's ${changed.join(', ')}`);
          }),
          { numRuns: media === undefined ? 1 : runs, endOnFailure: true },
        );
        if (details.failed) {
          const error =
            details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
          broken.push(`${error} (seed ${details.seed})`);
        }
      }
    }
    expect(broken).toEqual([]);
  }, 300_000);

  it("refuses A's token a stream of B, by header and by ?access_token=", async () => {
    const base = await server.listen();
    const token = credentials[0]!.headers.authorization!.slice('Bearer '.length);
    const byHeader = await openSse({
      url: `${base}/v1/stream?customer=${b}`,
      headers: { authorization: `Bearer ${token}` },
    });
    const byQuery = await openSse({ url: `${base}/v1/stream?customer=${b}&access_token=${token}` });
    const unnamed = await openSse({ url: `${base}/v1/stream`, headers: { authorization: `Bearer ${token}` } });
    try {
      for (const refused of [byHeader, byQuery, unnamed]) {
        expect(refused.status, refused.body).toBe(403);
        expect(JSON.parse(refused.body)).toMatchObject({ code: 'customer_mismatch' });
      }
    } finally {
      for (const sse of [byHeader, byQuery, unnamed]) sse.close();
    }

    // A's own stream carries A's changes and none of B's, however many B has meanwhile.
    const own = await openSse({ url: `${base}/v1/stream?customer=${a}&access_token=${token}` });
    try {
      expect(own.status, own.body).toBe(200);
      for (const body of [grantBody({ feature: 'sso' }), grantBody({ feature: 'seats', limit: 3, mode: 'add' })]) {
        expectStatus(await server.request({ method: 'POST', url: `/v1/customers/${b}/grants`, body }), 201);
      }
      expectStatus(
        await server.request({ method: 'POST', url: '/v1/consume', body: { customer: b, feature: 'api_calls' } }),
        200,
      );
      expectStatus(
        await server.request({ method: 'POST', url: `/v1/customers/${a}/grants`, body: grantBody({ feature: 'sso' }) }),
        201,
      );
      await own.next((event) => JSON.stringify(event.data).includes(a), 5000);
      const seen = JSON.stringify(own.events);
      expect(leaks.filter((secret) => seen.includes(secret))).toEqual([]);
    } finally {
      own.close();
    }
  });
});
