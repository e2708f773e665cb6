import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, notFound } from '@keymaster/core';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../../clock.js';
import { newId } from '../../ids.js';
import { type TokenKeys, verifyUnder } from '../customer-tokens/secret.js';

/** How long a portal link, and the session it opens, lasts. */
export const portalTtlMs = 60 * 60 * 1000;

const issuer = 'keymaster';
/** Not a customer token's audience: a portal token is refused wherever a customer token is asked for, and back. */
const audience = 'keymaster:portal';
const sinceClaim = 'km_customer_since';
const returnClaim = 'km_return_url';
const clockSkewSeconds = 60;

/** Whom a valid portal token stands for. */
export interface PortalGrant {
  customer: string;
  tokenId: string;
  expiresAt: number;
  returnUrl: string | null;
  /** What a cookie-carried request that changes something must echo as `X-CSRF-Token`. */
  csrfToken: string;
}

export type PortalVerdict =
  | { valid: true; grant: PortalGrant }
  | { valid: false; reason: 'invalid' | 'expired' | 'revoked' };

/** Whether a credential is shaped as a JWT (a portal token is one, like a customer token). */
export const looksLikePortalToken = (credential: string): boolean =>
  credential.startsWith('eyJ') && credential.split('.').length === 3;

/**
 * Portal tokens: HS256 JWTs for one customer, one hour long, signed with the customer-token secret
 * under their own audience. The token is both the link's fragment and the `km_portal` cookie's
 * value; its CSRF token is derived from it (an HMAC of its id), so nothing is stored. Like
 * customer tokens, a token ends when its customer is erased or the id is re-created.
 */
export function createPortalTokens(deps: {
  /** The customer-token keys (see customer-tokens/secret.ts). */
  keys: TokenKeys;
  clock: Clock;
  customerSince: (customerId: string) => number | null | Promise<number | null>;
}) {
  const { keys, clock } = deps;
  // Under the key that signed the token, so a session minted before a rotation keeps its CSRF token.
  const csrfOf = (tokenId: string, key: Uint8Array) =>
    createHmac('sha256', key).update(`portal-csrf:${tokenId}`).digest('base64url');

  return {
    async mint(input: { customer: string; returnUrl: string | undefined }) {
      const since = await deps.customerSince(input.customer);
      if (since === null) throw notFound(ErrorCodes.customerNotFound, `Customer "${input.customer}" does not exist.`);
      const issuedAt = Math.floor(clock.now() / 1000);
      const expiresAt = issuedAt + portalTtlMs / 1000;
      const tokenId = newId('ptok');
      const token = await new SignJWT({
        [sinceClaim]: since,
        ...(input.returnUrl ? { [returnClaim]: input.returnUrl } : {}),
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keys.current.id })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(input.customer)
        .setJti(tokenId)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(keys.current.key);
      return { token, tokenId, expiresAt: expiresAt * 1000 };
    },

    async verify(token: string): Promise<PortalVerdict> {
      let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
      let signedWith: Uint8Array;
      try {
        ({ payload, signedWith } = await verifyUnder(keys, token, async ({ key }) => ({
          ...(await jwtVerify(token, key, {
            algorithms: ['HS256'],
            issuer,
            audience,
            requiredClaims: ['sub', 'exp', 'jti', 'iat', sinceClaim],
            currentDate: new Date(clock.now()),
          })),
          signedWith: key,
        })));
      } catch (error) {
        return { valid: false, reason: error instanceof errors.JWTExpired ? 'expired' : 'invalid' };
      }
      // However it was signed, a portal token lives no longer than minting makes it.
      if (payload.exp! - payload.iat! > portalTtlMs / 1000 || payload.iat! > clock.now() / 1000 + clockSkewSeconds) {
        return { valid: false, reason: 'invalid' };
      }
      const customer = payload.sub!;
      const since = await deps.customerSince(customer);
      if (since === null || since !== payload[sinceClaim]) return { valid: false, reason: 'revoked' };
      const returnUrl = payload[returnClaim];
      return {
        valid: true,
        grant: {
          customer,
          tokenId: payload.jti!,
          expiresAt: payload.exp! * 1000,
          returnUrl: typeof returnUrl === 'string' ? returnUrl : null,
          csrfToken: csrfOf(payload.jti!, signedWith),
        },
      };
    },

    /** Whether `presented` is the grant's CSRF token (compared in constant time). */
    csrfMatches(grant: PortalGrant, presented: string | undefined): boolean {
      if (presented === undefined) return false;
      const a = Buffer.from(presented);
      const b = Buffer.from(grant.csrfToken);
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}

export type PortalTokens = ReturnType<typeof createPortalTokens>;

/** The portal session's cookie: HttpOnly, Secure, SameSite=Lax, for the whole origin. */
export const portalCookieName = 'km_portal';

export function portalCookie(token: string, maxAgeMs: number): string {
  const maxAge = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${portalCookieName}=${token}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Lax`;
}

/** The portal token a `Cookie` header carries, if any. */
export function portalTokenOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === portalCookieName) {
      const value = part.slice(eq + 1).trim();
      return looksLikePortalToken(value) ? value : undefined;
    }
  }
  return undefined;
}
