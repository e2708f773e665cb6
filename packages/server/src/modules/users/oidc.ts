import { createHmac, timingSafeEqual } from 'node:crypto';
import { DomainError, ErrorCodes } from '@keymaster/core';
import * as client from 'openid-client';
import type { OidcConfig } from '../../config.js';

/**
 * Sign-in with an OpenID Connect provider (Okta, Entra ID, Google Workspace, Keycloak…): the
 * authorization code flow with PKCE, a state and a nonce. What the flow must remember between
 * leaving for the provider and coming back travels in a short-lived HttpOnly cookie (`km_oidc`),
 * signed so it cannot be forged. Only a verified email address is taken from the ID token.
 */

export const oidcCookieName = 'km_oidc';
/** How long a sign-in at the provider may take. */
const flowTtlMs = 10 * 60_000;

interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  expiresAt: number;
}

/** Who the provider vouched for. */
export interface OidcIdentity {
  email: string;
  name: string | null;
}

/** Why a sign-in through the provider did not produce an identity (shown on the sign-in page). */
export type OidcFailure = 'flow_expired' | 'provider_refused' | 'email_unverified';

export function createOidc(input: { config: OidcConfig; publicUrl: string; secret: Uint8Array; now: () => number }) {
  const { config, secret, now } = input;
  const redirectUri = `${input.publicUrl}/v1/sessions/oidc/callback`;
  const issuer = new URL(config.issuer);
  // Plain HTTP only for a provider on this machine (a development or test provider).
  const local = issuer.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  let discovered: Promise<client.Configuration> | undefined;

  /** The provider's configuration, discovered once (again after a failure). */
  function provider(): Promise<client.Configuration> {
    discovered ??= client
      .discovery(issuer, config.clientId, config.clientSecret, undefined, {
        ...(local ? { execute: [client.allowInsecureRequests] } : {}),
      })
      .catch(() => {
        discovered = undefined;
        // The provider being away is an outage to retry, not a fault of Keymaster's: 503.
        throw new DomainError({
          kind: 'unavailable',
          code: ErrorCodes.unavailable,
          message: `The sign-in provider (${issuer.origin}) did not answer: try again shortly.`,
        });
      });
    return discovered;
  }

  const sign = (payload: string) => createHmac('sha256', secret).update(`oidc:${payload}`).digest('base64url');

  function seal(flow: Flow): string {
    const payload = Buffer.from(JSON.stringify(flow)).toString('base64url');
    return `${payload}.${sign(payload)}`;
  }

  function unseal(value: string | undefined): Flow | undefined {
    if (!value) return undefined;
    const [payload, signature] = value.split('.');
    if (!payload || !signature) return undefined;
    const expected = Buffer.from(sign(payload));
    const presented = Buffer.from(signature);
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return undefined;
    const flow = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Flow;
    return flow.expiresAt > now() ? flow : undefined;
  }

  return {
    name: config.name,
    defaultRole: config.defaultRole,
    issuer: config.issuer,

    /** Where to send the browser, and the cookie that remembers this sign-in. */
    async start(): Promise<{ url: string; cookie: string }> {
      const flow: Flow = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        verifier: client.randomPKCECodeVerifier(),
        expiresAt: now() + flowTtlMs,
      };
      const url = client.buildAuthorizationUrl(await provider(), {
        redirect_uri: redirectUri,
        scope: 'openid email profile',
        code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
        code_challenge_method: 'S256',
        state: flow.state,
        nonce: flow.nonce,
      });
      return { url: url.href, cookie: oidcCookie(seal(flow), flowTtlMs) };
    },

    /** The identity the provider's answer (`callbackUrl`, with its code) vouches for, or why not. */
    async finish(input: { callbackUrl: URL; cookie: string | undefined }): Promise<OidcIdentity | OidcFailure> {
      const flow = unseal(input.cookie);
      if (!flow) return 'flow_expired';
      let claims: Record<string, unknown>;
      try {
        const configuration = await provider();
        const tokens = await client.authorizationCodeGrant(configuration, input.callbackUrl, {
          pkceCodeVerifier: flow.verifier,
          expectedState: flow.state,
          expectedNonce: flow.nonce,
          idTokenExpected: true,
        });
        const idToken = tokens.claims()!;
        claims = idToken;
        // Many providers put the profile's claims only in the UserInfo answer, not the ID token.
        if (typeof idToken.email !== 'string') {
          claims = { ...(await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub)) };
        }
      } catch {
        return 'provider_refused';
      }
      const email = claims.email;
      if (typeof email !== 'string' || claims.email_verified !== true) return 'email_unverified';
      return { email, name: typeof claims.name === 'string' ? claims.name : null };
    },

    /** The callback URL as the provider redirected to it: the public one, with the query it carried. */
    callbackUrl(query: string): URL {
      return new URL(`${redirectUri}${query}`);
    },
  };
}

export type Oidc = ReturnType<typeof createOidc>;

export function oidcCookie(value: string, maxAgeMs: number): string {
  const maxAge = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${oidcCookieName}=${value}; Path=/v1/sessions/oidc; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Lax`;
}

export function oidcCookieOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === oidcCookieName) return part.slice(eq + 1).trim();
  }
  return undefined;
}
