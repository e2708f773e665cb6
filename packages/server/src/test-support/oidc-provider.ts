import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * A real OpenID Connect provider (panva's `oidc-provider`, certified) on a free port of this
 * machine, with one confidential client. Its development login form takes any login: the login
 * is the account's email, verified unless it starts with `unverified`.
 */
export async function startOidcProvider(input: { redirectUri: string }): Promise<{
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'keymaster-console';
  const clientSecret = 'a-client-secret-for-the-console-tests';
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [input.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { required: () => true },
    findAccount: (_context, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: id, email_verified: !id.startsWith('unverified'), name: 'Ada Lovelace' }),
    }),
    // The consent step is shown once per account and client; the tests click through it.
    cookies: { keys: ['a-cookie-signing-key-for-tests'] },
  });
  server.on('request', provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
