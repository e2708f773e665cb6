import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, featureBody, planBody, uniqueKey } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { areaOf, permissionFor, placedArea, type Role } from './permissions.js';
import { failuresAllowed, sessionTtlMs, throttleWindowMs } from './service.js';

const ownerEmail = 'Owner@Example.com';
const ownerPassword = 'correct horse battery staple';

interface Session {
  user: { id: string; email: string; role: string };
  csrf_token: string;
  expires_at: string;
}

/** Console users: sign-in with a session cookie, CSRF on changes, roles, throttling, sign-out. */
describeEachDialect('console sessions', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_ADMIN_EMAIL: ownerEmail, KEYMASTER_ADMIN_PASSWORD: ownerPassword },
    });
  });
  afterAll(() => server.close());

  /** A request with no API key: only what the browser would send. */
  const browser = (input: {
    method: 'GET' | 'POST' | 'PUT' | 'DELETE';
    url: string;
    cookie?: string;
    csrf?: string;
    body?: unknown;
  }) =>
    server.request({
      method: input.method,
      url: input.url,
      body: input.body,
      headers: {
        authorization: undefined,
        ...(input.cookie ? { cookie: input.cookie } : {}),
        ...(input.csrf ? { 'x-csrf-token': input.csrf } : {}),
      },
    });

  const signIn = async (email: string, password: string) => {
    const answer = await browser({ method: 'POST', url: '/v1/sessions', body: { email, password } });
    const session = expectStatus<Session>(answer, 201);
    const setCookie = String(answer.headers['set-cookie']);
    return { session, setCookie, cookie: setCookie.split(';')[0]! };
  };

  it('signs the first owner in with a session cookie, and says who is signed in', async () => {
    const { session, setCookie, cookie } = await signIn('owner@example.com', ownerPassword);
    expect(session.user).toMatchObject({ email: 'owner@example.com', role: 'owner' });
    expect(setCookie).toMatch(/^km_session=km_ses_[\w-]+; Path=\/; Max-Age=43200; HttpOnly; Secure; SameSite=Lax$/);
    const current = expectStatus<Session>(await browser({ method: 'GET', url: '/v1/sessions/current', cookie }), 200);
    expect(current).toEqual(session);
  });

  it('refuses a wrong password or an unknown address alike, and a request without any credential', async () => {
    const wrong = await browser({
      method: 'POST',
      url: '/v1/sessions',
      body: { email: ownerEmail, password: 'nope nope' },
    });
    const unknown = await browser({
      method: 'POST',
      url: '/v1/sessions',
      body: { email: 'nobody@example.com', password: ownerPassword },
    });
    for (const answer of [wrong, unknown]) {
      expect(answer.statusCode).toBe(401);
      expect(answer.json()).toMatchObject({ code: 'invalid_credentials' });
      expect(answer.headers['set-cookie']).toBeUndefined();
    }
    expect((await browser({ method: 'GET', url: '/v1/features' })).statusCode).toBe(401);
    expect((await browser({ method: 'GET', url: '/v1/features', cookie: 'km_session=km_ses_forged' })).statusCode).toBe(
      401,
    );
    const bad = await browser({ method: 'POST', url: '/v1/sessions', body: { email: ownerEmail } });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json())).toContain('password');
  });

  it('changes things only with the session’s CSRF token, and audits them as the user', async () => {
    const { session, cookie } = await signIn(ownerEmail, ownerPassword);
    const body = featureBody({ key: 'console_made', type: 'boolean' });
    const withoutToken = await browser({ method: 'POST', url: '/v1/features', cookie, body });
    expect(withoutToken.statusCode).toBe(403);
    expect(withoutToken.json()).toMatchObject({ code: 'csrf_token_invalid' });
    const wrongToken = await browser({ method: 'POST', url: '/v1/features', cookie, csrf: 'guess', body });
    expect(wrongToken.statusCode).toBe(403);
    expect((await server.request({ method: 'GET', url: '/v1/features/console_made' })).statusCode).toBe(404);

    expectStatus(await browser({ method: 'POST', url: '/v1/features', cookie, csrf: session.csrf_token, body }), 201);
    const audit = expectStatus<{ data: { actor: { type: string; id: string } }[] }>(
      await server.request({ method: 'GET', url: '/v1/audit-events?target_id=console_made' }),
      200,
    );
    expect(audit.data[0]?.actor).toMatchObject({ type: 'user', id: session.user.id });

    // A subscription's history names the user too, as the audit trail does.
    const customer = uniqueKey('cus');
    expectStatus(await server.request({ method: 'PUT', url: `/v1/customers/${customer}`, body: {} }), 201);
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/plans',
        body: planBody({ key: 'console_plan', entitlements: [] }),
      }),
      201,
    );
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans/console_plan/publish' }), 200);
    const subscription = expectStatus<{ id: string }>(
      await browser({
        method: 'POST',
        url: `/v1/customers/${customer}/subscriptions`,
        cookie,
        csrf: session.csrf_token,
        body: { plan: 'console_plan' },
      }),
      201,
    );
    const history = expectStatus<{ data: { actor: string }[] }>(
      await server.request({ method: 'GET', url: `/v1/subscriptions/${subscription.id}/history` }),
      200,
    );
    expect(history.data[0]?.actor).toBe(`user:${session.user.id}`);
  });

  it('lets each role do what its table says, naming the permission it lacks', async () => {
    const as = async (role: Role) => {
      const email = `${role}@example.com`;
      await server.keymaster.services.users.create({ email, role, password: `${role} password` });
      return signIn(email, `${role} password`);
    };
    const viewer = await as('viewer');
    const support = await as('support');
    const finance = await as('finance');
    const admin = await as('admin');

    const put = (who: { cookie: string; session: Session }, id: string) =>
      browser({
        method: 'PUT',
        url: `/v1/customers/${id}`,
        cookie: who.cookie,
        csrf: who.session.csrf_token,
        body: { name: id },
      });
    const get = (who: { cookie: string }, url: string) => browser({ method: 'GET', url, cookie: who.cookie });

    expect((await get(viewer, '/v1/features')).statusCode).toBe(200);
    const refused = await put(viewer, 'by-viewer');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'role_forbidden' });
    expect(refused.json().detail).toContain('customers:write');
    expect((await get(viewer, '/v1/audit-events')).statusCode).toBe(403);
    expect((await get(viewer, '/v1/users')).statusCode).toBe(403);
    // A check only reads, whatever its method.
    const check = await browser({
      method: 'POST',
      url: '/v1/check',
      cookie: viewer.cookie,
      csrf: viewer.session.csrf_token,
      body: { customer: 'nobody', feature: 'nothing' },
    });
    expect(check.statusCode).toBe(200);

    expect((await put(support, 'by-support')).statusCode).toBe(201);
    expect((await get(support, '/v1/audit-events')).statusCode).toBe(403);
    expect((await get(finance, '/v1/audit-events')).statusCode).toBe(200);
    expect((await put(finance, 'by-finance')).statusCode).toBe(403);
    expect((await get(admin, '/v1/users')).statusCode).toBe(200);
    const listed = expectStatus<{ data: { email: string; role: string }[] }>(
      await get(admin, '/v1/users?limit=100'),
      200,
    );
    expect(listed.data.map((user) => user.role).sort()).toEqual(['admin', 'finance', 'owner', 'support', 'viewer']);
    expect(JSON.stringify(listed)).not.toContain('scrypt');
  });

  it('ends a session on sign-out, and after 12 hours', async () => {
    const first = await signIn(ownerEmail, ownerPassword);
    const out = await browser({
      method: 'DELETE',
      url: '/v1/sessions/current',
      cookie: first.cookie,
      csrf: first.session.csrf_token,
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await browser({ method: 'GET', url: '/v1/sessions/current', cookie: first.cookie })).statusCode).toBe(401);

    const second = await signIn(ownerEmail, ownerPassword);
    server.clock.advance(sessionTtlMs + 1);
    expect((await browser({ method: 'GET', url: '/v1/features', cookie: second.cookie })).statusCode).toBe(401);
  });

  // Four processes, each starting the command line: slower than one request on a busy machine.
  it('creates and lists users from the command line, the password from standard input', {
    timeout: 60_000,
  }, async () => {
    const made = await runKeymaster(
      server.target,
      ['users', 'create', '--email', 'cli@example.com', '--role', 'support'],
      {
        stdin: 'from the cli 1\n',
      },
    );
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain('cli@example.com, support');
    expect((await signIn('cli@example.com', 'from the cli 1')).session.user.role).toBe('support');
    const again = await runKeymaster(
      server.target,
      ['users', 'create', '--email', 'CLI@example.com', '--role', 'viewer'],
      {
        stdin: 'another password\n',
      },
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists already');
    const short = await runKeymaster(
      server.target,
      ['users', 'create', '--email', 'x@example.com', '--role', 'viewer'],
      {
        stdin: 'short\n',
      },
    );
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('password');
    const listed = await runKeymaster(server.target, ['users', 'list']);
    expect(listed.stdout).toContain('cli@example.com  support');
    expect(listed.stdout).not.toContain('x@example.com');
  });

  it('refuses sign-ins after five failures for an address until the window has passed', async () => {
    await server.keymaster.services.users.create({
      email: 'target@example.com',
      role: 'viewer',
      password: 'right password',
    });
    for (let i = 0; i < failuresAllowed; i++) {
      const answer = await browser({
        method: 'POST',
        url: '/v1/sessions',
        body: { email: 'target@example.com', password: `wrong ${i}` },
      });
      expect(answer.statusCode).toBe(401);
    }
    const throttled = await browser({
      method: 'POST',
      url: '/v1/sessions',
      body: { email: 'TARGET@example.com', password: 'right password' },
    });
    expect(throttled.statusCode).toBe(429);
    expect(throttled.json()).toMatchObject({ code: 'rate_limited' });
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    server.clock.advance(throttleWindowMs + 1);
    expectStatus(
      await browser({
        method: 'POST',
        url: '/v1/sessions',
        body: { email: 'target@example.com', password: 'right password' },
      }),
      201,
    );
  });
});

describe('console permissions', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect: 'sqlite' });
  });
  afterAll(() => server.close());

  it('places every route of the API in an area of the permission table', async () => {
    const spec = expectStatus<{ paths: Record<string, Record<string, unknown>> }>(
      await server.request({ method: 'GET', url: '/openapi.json' }),
      200,
    );
    const routes = Object.keys(spec.paths).map((path) => path.replace(/\{(\w+)\}/g, ':$1'));
    expect(routes.length).toBeGreaterThan(40);
    expect(routes.filter((route) => placedArea(route) === undefined)).toEqual([]);
  });

  it('reads are GET and HEAD, checks read whatever their method, anything unplaced is admin’s', () => {
    expect(permissionFor('GET', '/v1/customers/:id')).toBe('customers:read');
    expect(permissionFor('DELETE', '/v1/customers/:id')).toBe('customers:write');
    expect(permissionFor('POST', '/v1/check')).toBe('check:read');
    expect(permissionFor('GET', '/v1/customers/:id/entitlements')).toBe('check:read');
    expect(areaOf('/v1/something-new')).toBe('admin');
  });
});
