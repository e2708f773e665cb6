import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import stringify from 'safe-stable-stringify';
import type { Clock } from '../clock.js';
import { isUniqueViolation } from '../db/dialect-sql.js';
import type { Database } from '../db/schema.js';
import { type ProblemInput, sendProblem } from './problems.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Response fields shown once and never stored for an Idempotency-Key replay. */
    secretFields?: readonly string[];
  }
  interface FastifyRequest {
    idempotency: { scope: string; key: string } | undefined;
  }
}

const retentionMs = 24 * 60 * 60 * 1000;
/** An in-progress record older than this belongs to a request whose process died: take it over. */
const abandonedMs = 60_000;

/**
 * `Idempotency-Key` on every POST: the first response to a (key, caller) is stored and replayed
 * for 24 hours to a repeat with the same body; a different body is a 409 `idempotency_conflict`,
 * a repeat while the first is still running a 409 `idempotency_in_progress`. Responses of 5xx are
 * not kept, so a retry after a server error runs again. Requests that fail validation are not
 * recorded either, so the corrected retry can reuse the key: schema failures never reach this
 * hook, and a 400 from the service (an unknown feature, say) is dropped like a 5xx.
 */
export function registerIdempotency(app: FastifyInstance, deps: { db: Kysely<Database>; clock: Clock }) {
  const { db, clock } = deps;
  app.decorateRequest('idempotency', undefined);

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    const key = request.headers['idempotency-key'];
    if (key === undefined) return;
    const malformed = idempotencyKeyProblem(key);
    if (malformed) return sendProblem(request, reply, malformed);
    if (typeof key !== 'string') return;
    const scope = request.principal?.keyId ?? 'anonymous';
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n${stringify(request.body ?? null)}`)
      .digest('hex');
    const now = clock.now();
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await db
          .insertInto('idempotency_keys')
          .values({
            scope,
            key,
            request_hash: requestHash,
            state: 'in_progress',
            response_status: null,
            response_body: null,
            created_at: now,
            expires_at: now + retentionMs,
          })
          .execute();
        request.idempotency = { scope, key };
        return;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
      const existing = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('scope', '=', scope)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!existing) continue;
      const abandoned = existing.state === 'in_progress' && now - existing.created_at > abandonedMs;
      if (existing.expires_at <= now || abandoned) {
        await db
          .deleteFrom('idempotency_keys')
          .where('scope', '=', scope)
          .where('key', '=', key)
          .where('created_at', '=', existing.created_at)
          .execute();
        continue;
      }
      if (existing.request_hash !== requestHash) {
        return sendProblem(request, reply, {
          status: 409,
          code: 'idempotency_conflict',
          detail: 'This Idempotency-Key was already used with a different request.',
        });
      }
      if (existing.state === 'in_progress') {
        return sendProblem(request, reply, {
          status: 409,
          code: 'idempotency_in_progress',
          detail: 'A request with this Idempotency-Key is still being processed; retry shortly.',
        });
      }
      return replay(reply, existing.response_status ?? 200, existing.response_body ?? '');
    }
    throw new Error('Could not record the Idempotency-Key after 3 attempts');
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const record = request.idempotency;
    if (!record) return payload;
    request.idempotency = undefined;
    const where = db.deleteFrom('idempotency_keys').where('scope', '=', record.scope).where('key', '=', record.key);
    if (reply.statusCode >= 500 || reply.statusCode === 400 || typeof payload !== 'string') {
      await where.execute();
      return payload;
    }
    const secret = request.routeOptions.config.secretFields;
    const stored = secret ? withoutFields(payload, secret) : payload;
    await db
      .updateTable('idempotency_keys')
      .set({ state: 'done', response_status: reply.statusCode, response_body: stored })
      .where('scope', '=', record.scope)
      .where('key', '=', record.key)
      .execute();
    return payload;
  });
}

/**
 * The problem with an `Idempotency-Key` header, if it has one: present but empty, longer than
 * 255 characters, or sent twice. Shared with the fast handlers, which answer it as the hook does.
 */
export function idempotencyKeyProblem(key: string | string[] | undefined): ProblemInput | undefined {
  if (key === undefined || (typeof key === 'string' && key.length > 0 && key.length <= 255)) return undefined;
  return {
    status: 400,
    code: 'validation_failed',
    detail: 'Idempotency-Key must be 1 to 255 characters.',
    errors: [{ path: '/headers/idempotency-key', message: 'must be 1 to 255 characters' }],
  };
}

/** A response body without the fields that must never be stored (a new API key's secret). */
function withoutFields(payload: string, fields: readonly string[]): string {
  const body = JSON.parse(payload) as Record<string, unknown>;
  for (const field of fields) delete body[field];
  return JSON.stringify(body);
}

function replay(reply: FastifyReply, status: number, body: string) {
  const type = status >= 400 ? 'application/problem+json' : 'application/json; charset=utf-8';
  return reply.status(status).header('idempotent-replayed', 'true').type(type).send(body);
}

/** Deletes records past their 24 hours; run periodically by one timer per node. */
export async function pruneIdempotencyKeys(input: { db: Kysely<Database>; now: number }): Promise<void> {
  await input.db.deleteFrom('idempotency_keys').where('expires_at', '<=', input.now).execute();
}
