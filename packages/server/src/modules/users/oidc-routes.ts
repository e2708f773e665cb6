import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { problemResponses } from '../../http/route-helpers.js';
import { type Oidc, oidcCookie, oidcCookieOf } from './oidc.js';
import { sessionTtlMs, type UserService } from './service.js';
import { sessionCookie } from './session-cookie.js';

const tags = ['Console users'];

const Providers = Type.Object(
  {
    oidc: Type.Union([
      Type.Object({
        name: Type.String({ description: 'How the sign-in button names the provider.' }),
        url: Type.String({ description: 'Open it (a navigation, not a fetch) to sign in there.' }),
      }),
      Type.Null(),
    ]),
  },
  { description: 'How people may sign in to the console besides email and password.' },
);

/**
 * The console's sign-in with an OpenID Connect provider: the sign-in page asks whether one is
 * configured, the browser goes to the provider and comes back to the callback, which opens a
 * console session like a password sign-in does and returns to the console.
 */
export const oidcRoutes: FastifyPluginAsyncTypebox<{ oidc: Oidc | undefined; users: UserService }> = async (
  app,
  { oidc, users },
) => {
  app.get(
    '/v1/sessions/providers',
    {
      config: { anonymous: true },
      schema: {
        tags,
        security: [],
        summary: 'Sign-in providers',
        description: 'Whether the console offers sign-in with an OpenID Connect provider (KEYMASTER_OIDC_ISSUER).',
        response: { 200: Providers, ...problemResponses },
      },
    },
    async () => ({ oidc: oidc ? { name: oidc.name, url: '/v1/sessions/oidc' } : null }),
  );

  if (!oidc) return;

  app.get(
    '/v1/sessions/oidc',
    {
      config: { anonymous: true },
      schema: {
        tags,
        security: [],
        summary: 'Sign in with the OpenID Connect provider',
        description: 'Redirects the browser to the provider (authorization code flow with PKCE).',
        response: { 302: { type: 'null', description: 'To the provider.' }, ...problemResponses },
      },
    },
    async (_request, reply) => {
      const { url, cookie } = await oidc.start();
      reply.header('set-cookie', cookie);
      return reply.redirect(url, 302);
    },
  );

  app.get(
    '/v1/sessions/oidc/callback',
    {
      config: { anonymous: true },
      schema: {
        tags,
        security: [],
        summary: 'Where the OpenID Connect provider sends the browser back',
        description:
          'Opens a console session for the user with the verified email address the provider vouches for (or, with ' +
          'KEYMASTER_OIDC_DEFAULT_ROLE, makes them a user of that role) and redirects to the console; on failure, to ' +
          'the sign-in page with `?sign_in_error=` (`flow_expired`, `provider_refused`, `email_unverified`, `not_a_user`).',
        response: { 302: { type: 'null', description: 'To the console.' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      const identity = await oidc.finish({
        callbackUrl: oidc.callbackUrl(query),
        cookie: oidcCookieOf(request.headers.cookie),
      });
      const cookies = [oidcCookie('', 0)];
      const back = (error: string) => {
        reply.header('set-cookie', cookies);
        return reply.redirect(`/?sign_in_error=${error}`, 302);
      };
      if (typeof identity === 'string') return back(identity);
      const signedIn = await users.signInExternally({
        ...identity,
        provider: `oidc:${oidc.issuer}`,
        createAs: oidc.defaultRole,
      });
      if (!signedIn) return back('not_a_user');
      cookies.push(sessionCookie(signedIn.token, sessionTtlMs));
      reply.header('set-cookie', cookies);
      return reply.redirect('/', 302);
    },
  );
};
