import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus } from '../../test-support/builders.js';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { linkTtlMs } from './service.js';

const ownerEmail = 'owner@example.com';
const ownerPassword = 'the owner password';

interface Link {
  email: string;
  expires_at: string;
  url: string | null;
  emailed: boolean;
}
interface User {
  id: string;
  email: string;
  role: string;
  name: string | null;
}

/** Invitations, password resets, role changes and removal of console users, and the setup link. */
describeEachDialect('console user links', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_ADMIN_EMAIL: ownerEmail, KEYMASTER_ADMIN_PASSWORD: ownerPassword },
    });
  });
  afterAll(() => server.close());

  const anonymous = (method: 'POST' | 'GET', url: string, body?: unknown) =>
    server.request({ method, url, body, headers: { authorization: undefined } });
  const signIn = async (email: string, password: string) => {
    const answer = await anonymous('POST', '/v1/sessions', { email, password });
    return {
      status: answer.statusCode,
      cookie: String(answer.headers['set-cookie']).split(';')[0]!,
      body: answer.json(),
    };
  };
  const tokenOf = (link: Link) => link.url!.split('#')[1]!;

  it('invites a user by link: the link sets their password once, with the role it was made for', async () => {
    const link = expectStatus<Link>(
      await server.request({
        method: 'POST',
        url: '/v1/users/invitations',
        body: { email: 'Dana@Example.com', role: 'support', name: 'Dana' },
      }),
      201,
    );
    expect(link).toMatchObject({ email: 'dana@example.com', emailed: false });
    expect(link.url).toMatch(/^\/accept-invitation#km_lnk_[\w-]+$/);
    // Not a user until accepted.
    expect((await signIn('dana@example.com', 'dana password')).status).toBe(401);
    const short = await anonymous('POST', '/v1/invitations/accept', { token: tokenOf(link), password: 'short' });
    expect(short.statusCode).toBe(400);
    expect(JSON.stringify(short.json())).toContain('/password');

    const user = expectStatus<User>(
      await anonymous('POST', '/v1/invitations/accept', { token: tokenOf(link), password: 'dana password' }),
      201,
    );
    expect(user).toMatchObject({ email: 'dana@example.com', role: 'support', name: 'Dana' });
    expect((await signIn('dana@example.com', 'dana password')).status).toBe(201);
    // Once.
    const again = await anonymous('POST', '/v1/invitations/accept', {
      token: tokenOf(link),
      password: 'other password',
    });
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: 'link_invalid' });
    // A taken address cannot be invited.
    const taken = await server.request({
      method: 'POST',
      url: '/v1/users/invitations',
      body: { email: 'dana@example.com', role: 'viewer' },
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'user_exists' });
  });

  it('refuses an expired invitation, and a forged token', async () => {
    const link = expectStatus<Link>(
      await server.request({
        method: 'POST',
        url: '/v1/users/invitations',
        body: { email: 'late@example.com', role: 'viewer' },
      }),
      201,
    );
    server.clock.advance(linkTtlMs.invitation + 1);
    const late = await anonymous('POST', '/v1/invitations/accept', { token: tokenOf(link), password: 'late password' });
    expect(late.statusCode).toBe(404);
    const forged = await anonymous('POST', '/v1/invitations/accept', {
      token: 'km_lnk_forged',
      password: 'late password',
    });
    expect(forged.statusCode).toBe(404);
  });

  it('resets a password by link, ending the user’s sessions', async () => {
    const user = expectStatus<User>(
      await anonymous('POST', '/v1/invitations/accept', {
        token: tokenOf(
          expectStatus<Link>(
            await server.request({
              method: 'POST',
              url: '/v1/users/invitations',
              body: { email: 'eve@example.com', role: 'viewer' },
            }),
            201,
          ),
        ),
        password: 'eve password 1',
      }),
      201,
    );
    const session = await signIn('eve@example.com', 'eve password 1');
    const reset = expectStatus<Link>(
      await server.request({ method: 'POST', url: `/v1/users/${user.id}/password-reset` }),
      201,
    );
    expect(reset.url).toMatch(/^\/reset-password#km_lnk_/);
    // An invitation token is no reset token.
    expect(
      (await anonymous('POST', '/v1/invitations/accept', { token: tokenOf(reset), password: 'eve password 2' }))
        .statusCode,
    ).toBe(404);
    expectStatus(
      await anonymous('POST', '/v1/password-resets/accept', { token: tokenOf(reset), password: 'eve password 2' }),
      200,
    );
    expect(
      (
        await server.request({
          method: 'GET',
          url: '/v1/sessions/current',
          headers: { authorization: undefined, cookie: session.cookie },
        })
      ).statusCode,
    ).toBe(401);
    expect((await signIn('eve@example.com', 'eve password 1')).status).toBe(401);
    expect((await signIn('eve@example.com', 'eve password 2')).status).toBe(201);
  });

  it('changes roles and removes users, keeping an owner, and only an owner touches owners', async () => {
    const users = expectStatus<{ data: User[] }>(
      await server.request({ method: 'GET', url: '/v1/users?limit=100' }),
      200,
    ).data;
    const owner = users.find((u) => u.role === 'owner')!;
    const dana = users.find((u) => u.email === 'dana@example.com')!;
    const lastOwner = await server.request({ method: 'PATCH', url: `/v1/users/${owner.id}`, body: { role: 'admin' } });
    expect(lastOwner.statusCode).toBe(409);
    expect(lastOwner.json()).toMatchObject({ code: 'last_owner' });
    expect((await server.request({ method: 'DELETE', url: `/v1/users/${owner.id}` })).statusCode).toBe(409);

    // An admin (signed in) may change a support user, but not make an owner.
    expectStatus(await server.request({ method: 'PATCH', url: `/v1/users/${dana.id}`, body: { role: 'admin' } }), 200);
    const admin = await signIn('dana@example.com', 'dana password');
    const asAdmin = (method: 'PATCH' | 'DELETE', url: string, body?: unknown) =>
      server.request({
        method,
        url,
        body,
        headers: { authorization: undefined, cookie: admin.cookie, 'x-csrf-token': admin.body.csrf_token },
      });
    const eve = users.find((u) => u.email === 'eve@example.com')!;
    const promote = await asAdmin('PATCH', `/v1/users/${eve.id}`, { role: 'owner' });
    expect(promote.statusCode).toBe(403);
    expect(promote.json()).toMatchObject({ code: 'forbidden' });
    expect((await asAdmin('DELETE', `/v1/users/${owner.id}`)).statusCode).toBe(403);
    expectStatus(await asAdmin('PATCH', `/v1/users/${eve.id}`, { role: 'finance', name: 'Eve' }), 200);
    expectStatus(await asAdmin('DELETE', `/v1/users/${eve.id}`), 200);
    expect((await signIn('eve@example.com', 'eve password 2')).status).toBe(401);
    const audit = expectStatus<{ data: { action: string }[] }>(
      await server.request({ method: 'GET', url: '/v1/audit-events?target_type=user&limit=100' }),
      200,
    );
    expect(new Set(audit.data.map((row) => row.action))).toEqual(
      new Set([
        'user.created',
        'user.invited',
        'user.password_reset_requested',
        'user.password_reset',
        'user.updated',
        'user.deleted',
      ]),
    );
    expect(JSON.stringify(audit)).not.toContain('km_lnk_');
  });
});

describeEachDialect('the setup link of a first start', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  it('creates the first owner once, and no more once one exists', async () => {
    const link = server.keymaster.setupLink!;
    expect(link).toMatch(/^\/setup#km_lnk_/);
    const token = link.split('#')[1]!;
    const owner = expectStatus<User>(
      await server.request({
        method: 'POST',
        url: '/v1/setup',
        body: { token, email: 'first@example.com', password: 'first password' },
        headers: { authorization: undefined },
      }),
      201,
    );
    expect(owner).toMatchObject({ email: 'first@example.com', role: 'owner' });
    const again = await server.request({
      method: 'POST',
      url: '/v1/setup',
      body: { token, email: 'second@example.com', password: 'second password' },
      headers: { authorization: undefined },
    });
    expect(again.statusCode).toBe(404);
    expect((await server.keymaster.services.users.list({ after: undefined, limit: 10 })).length).toBe(1);
  });
});

describeEachDialect('the setup token a first start prints', (dialect) => {
  let database: TestDatabase;
  let process: ServerProcess | undefined;
  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
  });
  afterAll(async () => {
    await process?.stop();
    await database.drop();
  });

  it('prints the setup page and the call that creates the first owner, and the call works', async () => {
    process = await startServerProcess({ target: database.target, adminKey: 'km_sk_setup_print_admin_key_01' });
    const started = process;
    const pattern = /curl -s (\S+)\/v1\/setup .*\n.*"token":"(km_lnk_[\w-]+)"/;
    await expect.poll(() => pattern.test(started.output()), { timeout: 5000 }).toBe(true);
    const printed = pattern.exec(started.output());
    expect(printed![1]).toBe(started.url.replace('127.0.0.1', 'localhost'));
    // The console's setup page, for a browser, with the same token.
    expect(started.output()).toContain(`${printed![1]}/setup#${printed![2]}`);
    const made = await process.call(
      'POST',
      '/v1/setup',
      { token: printed![2], email: 'first@example.com', password: 'first password' },
      { headers: { authorization: '' } },
    );
    expect(made.status, JSON.stringify(made.json)).toBe(201);
    expect(made.json).toMatchObject({ role: 'owner' });
  }, 30_000);
});

describeEachDialect('invitation emails', (dialect) => {
  let server: TestServer;
  let smtp: SMTPServer;
  const mails: string[] = [];
  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _session, done) {
        let text = '';
        stream.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        stream.on('end', () => {
          mails.push(text);
          done();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const address = smtp.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    server = await startTestServer({
      dialect,
      env: {
        KEYMASTER_ADMIN_EMAIL: ownerEmail,
        KEYMASTER_ADMIN_PASSWORD: ownerPassword,
        KEYMASTER_SMTP_URL: `smtp://127.0.0.1:${port}`,
        KEYMASTER_EMAIL_FROM: 'keymaster@example.com',
        KEYMASTER_PUBLIC_URL: 'https://keymaster.example.com/',
      },
    });
  });
  afterAll(async () => {
    await server.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  it('emails the link to the invited person and does not show it to whoever invited them', async () => {
    const link = expectStatus<Link>(
      await server.request({
        method: 'POST',
        url: '/v1/users/invitations',
        body: { email: 'new@example.com', role: 'viewer' },
      }),
      201,
    );
    expect(link).toMatchObject({ email: 'new@example.com', url: null, emailed: true });
    expect(mails).toHaveLength(1);
    const mail = mails[0]!.replace(/=\r?\n/g, '');
    expect(mail).toContain('To: new@example.com');
    const token = /https:\/\/keymaster\.example\.com\/accept-invitation#(km_lnk_[\w-]+)/.exec(mail)?.[1];
    expect(token).toBeDefined();
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token, password: 'new password' },
        headers: { authorization: undefined },
      }),
      201,
    );
  });
});
