import { hash } from 'node:crypto';
import { customerTokenTtl } from '@keymaster/contract';
import { ErrorCodes, notFound } from '@keymaster/core';
import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { type AuditActor, appendAudit, systemActor } from '../audit/trail.js';
import { type TokenKeys, verifyUnder } from './secret.js';

export type CustomerTokenService = ReturnType<typeof createCustomerTokenService>;

/** What verifying a presented customer token found. */
export type TokenVerdict =
  | { valid: true; customer: string; tokenId: string; expiresAt: number }
  | { valid: false; reason: 'invalid' | 'expired' | 'revoked' };

const issuer = 'keymaster';
/**
 * How far ahead of this node's clock a token's `iat` may be: another node minted it, and node
 * clocks differ by a little. More than that is a token no node issued.
 */
const clockSkewSeconds = 60;
const audience = 'keymaster:customer';
/** Private claim: when the named customer was created (ms), so a re-created id does not inherit tokens. */
const sinceClaim = 'km_customer_since';

interface Claims {
  customer: string;
  tokenId: string;
  expiresAt: number;
  /** null for tokens issued before the claim existed. */
  customerSince: number | null;
}

/** Whether a bearer credential is a customer token (a JWT) rather than a secret key. */
export function looksLikeCustomerToken(credential: string): boolean {
  return credential.startsWith('eyJ') && credential.split('.').length === 3;
}

/**
 * Customer tokens: short-lived HS256 JWTs naming one customer (`sub`), for browsers that must
 * not hold a secret key. Verification is stateless apart from one question, answered from the
 * snapshot cache: does the customer the token was issued for (the id, created at the time the
 * token records) still exist? Erasing a customer therefore ends their tokens on every node within
 * a change-feed poll, with no revocation list, and a customer later created with the same id does
 * not inherit them.
 */
export function createCustomerTokenService(deps: {
  /** Where the trail records each token issued. */
  db: Db;
  /** The key new tokens are signed with, and the one a rotation replaced (see secret.ts). */
  keys: TokenKeys;
  clock: Clock;
  /**
   * When the customer was created, or null when there is no such customer; from the snapshot
   * cache, which the change feed keeps current.
   */
  customerSince: (customerId: string) => number | null | Promise<number | null>;
}) {
  const { keys, clock } = deps;
  // Tokens recently verified, so a browser polling with one token costs a hash and a lookup, not
  // a JWT's decoding and HMAC. Keyed by the token's SHA-256, never by the token: it is a bearer
  // credential, and one kept in memory past its request outlives the request in any heap dump.
  // Expiry and existence are still checked on every use.
  const verified = new LRUCache<string, Claims>({ max: 10_000 });

  async function signatureAndClaims(token: string) {
    const digest = hash('sha256', token, 'base64');
    const cached = verified.get(digest);
    if (cached) return cached;
    const { payload } = await verifyUnder(keys, token, ({ key }) =>
      jwtVerify(token, key, {
        algorithms: ['HS256'],
        issuer,
        audience,
        requiredClaims: ['sub', 'exp', 'jti', 'iat'],
        currentDate: new Date(clock.now()),
      }),
    );
    // Minting caps the lifetime; verifying must too, or whoever obtains the secret (or a token
    // signed before the cap existed) holds a credential that never ends. Thrown as any other
    // invalid token is: the caller cannot tell which check failed.
    const lifetime = payload.exp! - payload.iat!;
    if (lifetime > customerTokenTtl.max || payload.iat! > clock.now() / 1000 + clockSkewSeconds) {
      throw new errors.JWTClaimValidationFailed('the token lives longer than a customer token may', payload);
    }
    const since = payload[sinceClaim];
    const claims: Claims = {
      customer: payload.sub!,
      tokenId: payload.jti!,
      expiresAt: payload.exp! * 1000,
      customerSince: typeof since === 'number' ? since : null,
    };
    verified.set(digest, claims);
    return claims;
  }

  return {
    /**
     * Mints a token and records it in the audit trail (`customer_token.issued`, about the
     * customer): its id and expiry, never the token, which is a bearer credential.
     */
    async issue(input: {
      customer: string;
      ttlSeconds: number | undefined;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }) {
      const since = await deps.customerSince(input.customer);
      if (since === null) throw notFound(ErrorCodes.customerNotFound, `Customer "${input.customer}" does not exist.`);
      // Whole seconds, as JWT times are: the answer's expires_at is exactly the token's exp.
      const issuedAt = Math.floor(clock.now() / 1000);
      const expiresAt = issuedAt + (input.ttlSeconds ?? customerTokenTtl.default);
      const tokenId = newId('ctok');
      const token = await new SignJWT({ [sinceClaim]: since })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keys.current.id })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(input.customer)
        .setJti(tokenId)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(keys.current.key);
      await withTransaction({ db: deps.db, claim: input.claim }, (tx) =>
        appendAudit(tx, [
          {
            at: clock.now(),
            actor: input.actor ?? systemActor,
            action: 'customer_token.issued',
            target: { type: 'customer', id: input.customer },
            customerId: input.customer,
            data: { before: null, after: { token_id: tokenId, expires_at: toIso(expiresAt * 1000) } },
          },
        ]),
      );
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
      // Erasure ends a customer's tokens, and so does re-creating the id: the token names the
      // customer created at `customerSince`, not whoever holds the id now.
      const since = await deps.customerSince(claims.customer);
      if (since === null || (claims.customerSince !== null && claims.customerSince !== since)) {
        return { valid: false, reason: 'revoked' };
      }
      return { valid: true, customer: claims.customer, tokenId: claims.tokenId, expiresAt: claims.expiresAt };
    },
  };
}
