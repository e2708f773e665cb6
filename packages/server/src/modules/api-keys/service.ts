import type { ApiKey as ApiKeyJson, ApiKeyScope } from '@keymaster/contract';
import { conflict, ErrorCodes, invalid, notFound } from '@keymaster/core';
import type { Kysely } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import type { Database } from '../../db/schema.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { type AuditActor, appendAudit, systemActor } from '../audit/trail.js';
import type { PortalGrant } from '../portal/tokens.js';
import { type Permission, scopesGrant } from '../users/permissions.js';
import type { SessionUser } from '../users/service.js';
import { displayPrefix, generateSecret, hashSecret } from './secrets.js';
import {
  type ApiKeyRow,
  countKeys,
  findKey,
  insertKey,
  listActiveKeys,
  listKeys,
  revokeKey,
  setKeyExpiry,
  touchKey,
} from './store.js';

export type ApiKeyService = ReturnType<typeof createApiKeyService>;

/** The caller a request was authenticated as. */
export interface Principal {
  /** The secret key's id, or `token:<id>` for a customer token. */
  keyId: string;
  /** Set for a customer token: the only customer this caller may read. */
  customer?: string;
  /** Set for a customer token, and a secret key that expires: when it stops working (ms). */
  expiresAt?: number;
  /** Set for a secret key: its scopes, and the permissions they grant (modules/users/permissions.ts). */
  scopes?: readonly ApiKeyScope[];
  permissions?: ReadonlySet<Permission>;
  /** Set for a console session: the signed-in user, their role and the session's CSRF token. */
  user?: SessionUser;
  /** Set for a customer portal session (`/v1/portal…` routes only): the one customer it may see and change. */
  portal?: PortalGrant;
}

/** The id under which KEYMASTER_ADMIN_KEY authenticates; it lives in the environment, not the table. */
export const environmentKeyId = 'key_env_admin';

/** How long a rolled key keeps working when the roll does not say. */
export const defaultRollOverlapMs = 60 * 60 * 1000;

export function scopesOf(row: Pick<ApiKeyRow, 'scopes'>): ApiKeyScope[] {
  return JSON.parse(row.scopes) as ApiKeyScope[];
}

export function toApiKey(row: ApiKeyRow): ApiKeyJson {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: scopesOf(row),
    created_at: toIso(row.created_at),
    last_used_at: toIso(row.last_used_at),
    expires_at: toIso(row.expires_at),
    revoked_at: toIso(row.revoked_at),
  };
}

function principalOf(row: ApiKeyRow): Principal {
  const scopes = scopesOf(row);
  return {
    keyId: row.id,
    scopes,
    permissions: scopesGrant(scopes),
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
  };
}

const allScopes: readonly ApiKeyScope[] = ['admin'];

function newKey(input: {
  name: string | null | undefined;
  scopes: readonly ApiKeyScope[];
  expiresAt: number | undefined;
  now: number;
}): { key: ApiKeyRow; secret: string } {
  const secret = generateSecret();
  const key: ApiKeyRow = {
    id: newId('key'),
    name: input.name ?? null,
    prefix: displayPrefix(secret),
    secret_hash: hashSecret(secret),
    scopes: JSON.stringify(input.scopes),
    created_at: input.now,
    last_used_at: null,
    expires_at: input.expiresAt ?? null,
    revoked_at: null,
  };
  return { key, secret };
}

/** What the trail says of a new key: never its secret or hash. */
function auditedFields(key: ApiKeyRow) {
  return { name: key.name, scopes: scopesOf(key), expires_at: toIso(key.expires_at) };
}

/** The one key an id or listed prefix names; a prefix that matches several is refused. */
async function onlyKey(db: Db, idOrPrefix: string): Promise<ApiKeyRow> {
  const matches = await findKey(db, idOrPrefix);
  const key = matches[0];
  if (!key) throw notFound(ErrorCodes.apiKeyNotFound, `No API key has id or prefix "${idOrPrefix}".`);
  if (matches.length > 1) throw conflict(ErrorCodes.conflict, `"${idOrPrefix}" matches several keys; use the id.`);
  return key;
}

/**
 * Secret API keys. Active keys are held in memory by hash, so authenticating a request is one
 * hash and one map lookup; the change feed reloads them when any node creates or revokes one.
 * Nothing here holds a presented secret past the call that authenticates it.
 */
export function createApiKeyService(deps: { db: Kysely<Database>; clock: Clock; adminKey: string | undefined }) {
  const { db, clock } = deps;
  let byHash = new Map<string, Principal>();
  const adminHash = deps.adminKey ? hashSecret(deps.adminKey) : undefined;
  const lastTouched = new Map<string, number>();

  async function reload(): Promise<void> {
    const rows = await listActiveKeys(db);
    const next = new Map<string, Principal>(rows.map((row) => [row.secret_hash, principalOf(row)]));
    if (adminHash)
      next.set(adminHash, { keyId: environmentKeyId, scopes: allScopes, permissions: scopesGrant(allScopes) });
    byHash = next;
  }

  return {
    reload,

    /** The principal for a presented secret, or undefined: never says why. */
    authenticate(secret: string): Principal | undefined {
      // Hashed on every request, with no cache in front. A cache is worth having only under a key
      // cheaper to compute than this hash, and the only such keys are the secret itself (which
      // storing hashes exists to keep out of memory and heap dumps) or a weaker digest of it, one
      // a guess could be made to collide with. The hash costs about 6,000 instructions of a
      // check's ~109,000 (callgrind, `node bench/dist/run.js --only instructions`).
      const principal = byHash.get(hashSecret(secret));
      if (!principal) return undefined;
      if (principal.keyId !== environmentKeyId) {
        const now = clock.now();
        if (principal.expiresAt !== undefined && now >= principal.expiresAt) return undefined;
        // last_used_at is advisory: written at most once a minute per key, never awaited.
        if (now - (lastTouched.get(principal.keyId) ?? 0) > 60_000) {
          lastTouched.set(principal.keyId, now);
          touchKey(db, { id: principal.keyId, at: now }).catch(() => lastTouched.delete(principal.keyId));
        }
      }
      return principal;
    },

    async create(input: {
      name: string | undefined;
      scopes: readonly ApiKeyScope[];
      /** When the key stops working (ms), or undefined for never. */
      expiresAt?: number | undefined;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<{ key: ApiKeyRow; secret: string }> {
      const now = clock.now();
      if (input.expiresAt !== undefined && input.expiresAt <= now) {
        throw invalid([{ path: '/expires_at', message: 'must be in the future' }]);
      }
      const { key, secret } = newKey({ name: input.name, scopes: input.scopes, expiresAt: input.expiresAt, now });
      await withTransaction({ db, claim: input.claim }, async (tx) => {
        await insertKey(tx, key);
        // The row names the key by id and name only: neither the secret nor its hash, which would
        // let anyone who reads the trail test guesses against it.
        await appendAudit(tx, [
          {
            at: now,
            actor: input.actor ?? systemActor,
            action: 'api_key.created',
            target: { type: 'api_key', id: key.id },
            data: { before: null, after: auditedFields(key) },
          },
        ]);
      });
      await reload();
      return { key, secret };
    },

    /**
     * Rolls a key: a new key with the same name and scopes, and the old one keeps working until
     * `previousExpiresAt` (default an hour from now), so every client can move to the new secret
     * without a moment of refusals. An earlier expiry the old key already had is kept.
     */
    async roll(input: {
      idOrPrefix: string;
      previousExpiresAt?: number | undefined;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<{ key: ApiKeyRow; secret: string; previous: ApiKeyRow }> {
      const now = clock.now();
      const until = input.previousExpiresAt ?? now + defaultRollOverlapMs;
      if (until < now) throw invalid([{ path: '/previous_expires_at', message: 'must not be in the past' }]);
      const rolled = await withTransaction({ db, claim: input.claim }, async (tx) => {
        const old = await onlyKey(tx, input.idOrPrefix);
        if (old.revoked_at !== null) {
          throw conflict(ErrorCodes.conflict, `API key ${old.id} is revoked: create a new key instead.`);
        }
        if (old.expires_at !== null && old.expires_at <= now) {
          throw conflict(ErrorCodes.conflict, `API key ${old.id} has expired: create a new key instead.`);
        }
        const expiresAt = old.expires_at === null ? until : Math.min(old.expires_at, until);
        const { key, secret } = newKey({ name: old.name, scopes: scopesOf(old), expiresAt: undefined, now });
        await insertKey(tx, key);
        await setKeyExpiry(tx, { id: old.id, at: expiresAt });
        const actor = input.actor ?? systemActor;
        await appendAudit(tx, [
          {
            at: now,
            actor,
            action: 'api_key.created',
            target: { type: 'api_key', id: key.id },
            data: { before: null, after: { ...auditedFields(key), rolled_from: old.id } },
          },
          {
            at: now,
            actor,
            action: 'api_key.rolled',
            target: { type: 'api_key', id: old.id },
            data: {
              before: { expires_at: toIso(old.expires_at) },
              after: { expires_at: toIso(expiresAt), rolled_to: key.id },
            },
          },
        ]);
        return { key, secret, previous: { ...old, expires_at: expiresAt } };
      });
      await reload();
      return rolled;
    },

    list(page: { after: string | undefined; limit: number }): Promise<ApiKeyRow[]> {
      return listKeys(db, page);
    },

    /** Revokes by id or by the listed prefix; a prefix that matches several keys is refused. */
    async revoke(idOrPrefix: string, actor: AuditActor = systemActor): Promise<ApiKeyRow> {
      const at = clock.now();
      const revoked = await withTransaction(db, async (tx) => {
        const key = await onlyKey(tx, idOrPrefix);
        // Revoking a revoked key changes nothing, and the trail says nothing.
        if (key.revoked_at !== null) return key;
        await revokeKey(tx, { id: key.id, at });
        await appendAudit(tx, [
          {
            at,
            actor,
            action: 'api_key.revoked',
            target: { type: 'api_key', id: key.id },
            data: { before: { revoked_at: null }, after: { revoked_at: toIso(at) } },
          },
        ]);
        return { ...key, revoked_at: at };
      });
      await reload();
      return revoked;
    },

    /**
     * On first start with no key at all and none in the environment, creates one so the operator
     * can get in; returns its secret, to be printed once.
     */
    async bootstrap(): Promise<string | undefined> {
      if (deps.adminKey || (await countKeys(db)) > 0) return undefined;
      const { secret } = await this.create({
        name: 'admin (created on first start)',
        scopes: allScopes,
        actor: { type: 'system', id: 'first-start' },
      });
      return secret;
    },
  };
}
