import { customerTokenTtl } from '@keymaster/contract';
import { ErrorCodes, notFound } from '@keymaster/core';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../../clock.js';
import { newId } from '../../ids.js';

export type CustomerTokenService = ReturnType<typeof createCustomerTokenService>;

/** What verifying a presented customer token found. */
export type TokenVerdict =
  | { valid: true; customer: string; tokenId: string }
  | { valid: false; reason: 'invalid' | 'expired' | 'revoked' };

const issuer = 'keymaster';
const audience = 'keymaster:customer';

/** Whether a bearer credential is a customer token (a JWT) rather than a secret key. */
export function looksLikeCustomerToken(credential: string): boolean {
  return credential.startsWith('eyJ') && credential.split('.').length === 3;
}

/**
 * Customer tokens: short-lived HS256 JWTs naming one customer (`sub`), for browsers that must
 * not hold a secret key. Verification is stateless apart from one question, answered from the
 * snapshot cache: does the customer still exist? Erasing a customer therefore ends their tokens
 * on every node within a change-feed poll, with no revocation list.
 */
export function createCustomerTokenService(deps: {
  secret: Uint8Array;
  clock: Clock;
  /** From the snapshot cache, which the change feed keeps current. */
  customerExists: (customerId: string) => boolean | Promise<boolean>;
}) {
  const { secret, clock } = deps;
  // Tokens recently verified, so a browser polling with one token costs a map lookup, not an
  // HMAC. Expiry and existence are still checked on every use.
  const verified = new Map<string, { customer: string; tokenId: string; expiresAt: number }>();
  const verifiedLimit = 10_000;

  async function signatureAndClaims(token: string) {
    const cached = verified.get(token);
    if (cached) return cached;
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ['HS256'],
      issuer,
      audience,
      requiredClaims: ['sub', 'exp', 'jti'],
      currentDate: new Date(clock.now()),
    });
    const claims = { customer: payload.sub!, tokenId: payload.jti!, expiresAt: payload.exp! * 1000 };
    if (verified.size >= verifiedLimit) verified.clear();
    verified.set(token, claims);
    return claims;
  }

  return {
    async issue(input: { customer: string; ttlSeconds: number | undefined }) {
      if (!(await deps.customerExists(input.customer)))
        throw notFound(ErrorCodes.customerNotFound, `Customer "${input.customer}" does not exist.`);
      // Whole seconds, as JWT times are: the answer's expires_at is exactly the token's exp.
      const issuedAt = Math.floor(clock.now() / 1000);
      const expiresAt = issuedAt + (input.ttlSeconds ?? customerTokenTtl.default);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(input.customer)
        .setJti(newId('ctok'))
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(secret);
      return { token, customer: input.customer, expiresAt: expiresAt * 1000 };
    },

    async verify(token: string): Promise<TokenVerdict> {
      let claims: Awaited<ReturnType<typeof signatureAndClaims>>;
      try {
        claims = await signatureAndClaims(token);
      } catch (error) {
        return { valid: false, reason: error instanceof errors.JWTExpired ? 'expired' : 'invalid' };
      }
      if (clock.now() >= claims.expiresAt) return { valid: false, reason: 'expired' };
      if (!(await deps.customerExists(claims.customer))) return { valid: false, reason: 'revoked' };
      return { valid: true, customer: claims.customer, tokenId: claims.tokenId };
    },
  };
}
