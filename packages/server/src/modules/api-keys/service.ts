import type { ApiKey as ApiKeyJson } from '@keymaster/contract';
import { conflict, ErrorCodes, notFound } from '@keymaster/core';
import type { Kysely } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Database } from '../../db/schema.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { type AuditActor, appendAudit, systemActor } from '../audit/trail.js';
import type { PortalGrant } from '../portal/tokens.js';
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
  touchKey,
} from './store.js';

export type ApiKeyService = ReturnType<typeof createApiKeyService>;

/** The caller a request was authenticated as. */
export interface Principal {
  /** The secret key's id, or `token:<id>` for a customer token. */
  keyId: string;
  /** Set for a customer token: the only customer this caller may read. */
  customer?: string;
  /** Set for a customer token: when it expires (ms). */
  expiresAt?: number;
  /** Set for a console session: the signed-in user, their role and the session's CSRF token. */
  user?: SessionUser;
  /** Set for a customer portal session (`/v1/portal…` routes only): the one customer it may see and change. */
  portal?: PortalGrant;
}

/** The id under which KEYMASTER_ADMIN_KEY authenticates; it lives in the environment, not the table. */
export const environmentKeyId = 'key_env_admin';

export function toApiKey(row: ApiKeyRow): ApiKeyJson {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: toIso(row.created_at),
    last_used_at: toIso(row.last_used_at),
    revoked_at: toIso(row.revoked_at),
  };
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
    const next = new Map<string, Principal>(rows.map((row) => [row.secret_hash, { keyId: row.id }]));
    if (adminHash) next.set(adminHash, { keyId: environmentKeyId });
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
        // last_used_at is advisory: written at most once a minute per key, never awaited.
        const now = clock.now();
        if (now - (lastTouched.get(principal.keyId) ?? 0) > 60_000) {
          lastTouched.set(principal.keyId, now);
          touchKey(db, { id: principal.keyId, at: now }).catch(() => lastTouched.delete(principal.keyId));
        }
      }
      return principal;
    },

    async create(input: {
      name: string | undefined;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<{ key: ApiKeyRow; secret: string }> {
      const secret = generateSecret();
      const key: ApiKeyRow = {
        id: newId('key'),
        name: input.name ?? null,
        prefix: displayPrefix(secret),
        secret_hash: hashSecret(secret),
        created_at: clock.now(),
        last_used_at: null,
        revoked_at: null,
      };
      await withTransaction({ db, claim: input.claim }, async (tx) => {
        await insertKey(tx, key);
        // The row names the key by id and name only: neither the secret nor its hash, which would
        // let anyone who reads the trail test guesses against it.
        await appendAudit(tx, [
          {
            at: key.created_at,
            actor: input.actor ?? systemActor,
            action: 'api_key.created',
            target: { type: 'api_key', id: key.id },
            data: { before: null, after: { name: key.name } },
          },
        ]);
      });
      await reload();
      return { key, secret };
    },

    list(page: { after: string | undefined; limit: number }): Promise<ApiKeyRow[]> {
      return listKeys(db, page);
    },

    /** Revokes by id or by the listed prefix; a prefix that matches several keys is refused. */
    async revoke(idOrPrefix: string, actor: AuditActor = systemActor): Promise<ApiKeyRow> {
      const at = clock.now();
      const revoked = await withTransaction(db, async (tx) => {
        const matches = await findKey(tx, idOrPrefix);
        const key = matches[0];
        if (!key) throw notFound(ErrorCodes.apiKeyNotFound, `No API key has id or prefix "${idOrPrefix}".`);
        if (matches.length > 1) {
          throw conflict(ErrorCodes.conflict, `"${idOrPrefix}" matches several keys; use the id.`);
        }
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
        actor: { type: 'system', id: 'first-start' },
      });
      return secret;
    },
  };
}
