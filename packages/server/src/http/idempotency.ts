import { createHash, randomUUID } from 'node:crypto';
import { conflict, ErrorCodes, invalid } from '@keymaster/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import stringify from 'safe-stable-stringify';
import type { Clock } from '../clock.js';
import { isUniqueViolation } from '../db/dialect-sql.js';
import type { Database } from '../db/schema.js';
import type { EffectClaim } from '../db/transaction.js';
import type { Concern } from './concerns.js';
import { domainProblem, httpProblem, type ProblemInput, sendProblem } from './problems.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Response fields shown once and never stored for an Idempotency-Key replay. */
    secretFields?: readonly string[];
  }
  interface FastifyRequest {
    idempotency: { scope: string; key: string; owner: string; claim: EffectClaim } | undefined;
  }
}

const retentionMs = 24 * 60 * 60 * 1000;
/**
 * A record older than this that never reached `done` belongs to a request whose process died (or
 * whose answer could not be stored): one still `in_progress` made no write and is taken over by
 * the retry; one `applied` made its write, which must not run again.
 */
const abandonedMs = 60_000;

/**
 * The claim of a request sent with an `Idempotency-Key`, for the service's write transaction (see
 * `EffectClaim`); undefined without a key.
 */
export function claimOf(request: FastifyRequest): EffectClaim | undefined {
  return request.idempotency?.claim;
}

/**
 * The form of an `Idempotency-Key` header, on every POST of the scope (the plain dispatch's
 * routes included), once the body is valid: the key of a read-only POST is checked and then
 * ignored (see `registerIdempotency`), so a malformed key is refused everywhere alike.
 */
export const idempotencyKeyForm: Concern = {
  name: 'idempotency key form',
  preHandler: (exchange) =>
    exchange.method === 'POST' ? idempotencyKeyProblem(exchange.headers['idempotency-key']) : undefined,
};

/**
 * `Idempotency-Key` on every POST: the first response to a (key, caller) is stored and replayed
 * for 24 hours to a repeat with the same body; a different body is a 409 `idempotency_conflict`,
 * a repeat while the first is still running a 409 `idempotency_in_progress`.
 *
 * Crash-safe: a record is `in_progress` from the moment the request starts; the request's write
 * sets it to `applied` in the write's own transaction (`claimOf`, passed down to the service);
 * the answer then sets it to `done`. So a process killed at any point leaves a record that says
 * whether the write happened: `in_progress` (it did not) is taken over by a retry once abandoned
 * and runs again; `applied` without an answer (killed between the commit and the answer) is never
 * run again and answers 409 `idempotency_replay_unavailable`.
 *
 * Responses of 5xx are not kept, so a retry after a server error runs again — unless its write
 * had committed. Requests that fail validation are not recorded either, so the corrected retry
 * can reuse the key: schema failures never reach this hook, and a 400 from the service (an
 * unknown feature, say) is dropped like a 5xx. A read-only POST (a check, an OFREP evaluation)
 * checks the key's form and otherwise ignores it: it changes nothing and answers as of now. A response with a secret (a new
 * API key, a customer token) is not replayed: the secret is shown once, so a repeat answers 409
 * `idempotency_secret_not_replayable` naming what the first request created.
 */
export function registerIdempotency(app: FastifyInstance, deps: { db: Kysely<Database>; clock: Clock }) {
  const { db, clock } = deps;
  app.decorateRequest('idempotency', undefined);

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    const key = request.headers['idempotency-key'];
    // Its form was checked by `idempotencyKeyForm`, which runs first.
    if (typeof key !== 'string') return;
    // Checked like any header, then ignored: see above.
    const config = request.routeOptions.config;
    if (config.readOnly && config.secretFields === undefined) return;
    const scope = request.principal?.keyId ?? 'anonymous';
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n${stringify(request.body ?? null)}`)
      .digest('hex');
    const now = clock.now();
    for (let attempt = 0; attempt < 3; attempt++) {
      const owner = randomUUID();
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
            owner,
            customer_id: requestedCustomer(request),
          })
          .execute();
        request.idempotency = { scope, key, owner, claim: claimFor({ scope, key, owner }) };
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
      const stale = now - existing.created_at > abandonedMs;
      if (existing.expires_at <= now || (existing.state === 'in_progress' && stale)) {
        // Only a record still in progress: on PostgreSQL this waits for a write holding the
        // record and then sees it `applied`, which must stay.
        const taken = db
          .deleteFrom('idempotency_keys')
          .where('scope', '=', scope)
          .where('key', '=', key)
          .where('created_at', '=', existing.created_at);
        await (existing.expires_at <= now ? taken : taken.where('state', '=', 'in_progress')).execute();
        continue;
      }
      if (existing.request_hash !== requestHash) {
        return sendProblem(
          request,
          reply,
          domainProblem(
            conflict(ErrorCodes.idempotencyConflict, 'This Idempotency-Key was already used with a different request.'),
          ),
        );
      }
      if (existing.state === 'in_progress' || (existing.state === 'applied' && !stale)) {
        return sendProblem(
          request,
          reply,
          domainProblem(
            conflict(
              ErrorCodes.idempotencyInProgress,
              'A request with this Idempotency-Key is still being processed; retry shortly.',
            ),
          ),
        );
      }
      if (existing.state === 'applied') {
        return sendProblem(
          request,
          reply,
          httpProblem(
            'idempotency_replay_unavailable',
            'The request with this Idempotency-Key took effect, but the server stopped before its answer was ' +
              'stored, so the answer cannot be replayed. Read the resource to see the result; do not retry with ' +
              'a new key.',
          ),
        );
      }
      if (config.secretFields !== undefined && (existing.response_status ?? 200) < 300) {
        const id = createdId(existing.response_body);
        return sendProblem(
          request,
          reply,
          httpProblem(
            'idempotency_secret_not_replayable',
            `The request with this Idempotency-Key already created ${id ? `"${id}"` : 'its credential'}; ` +
              'its secret is shown only once and cannot be replayed. Create another with a new key.',
          ),
        );
      }
      return replay(reply, existing.response_status ?? 200, existing.response_body ?? '');
    }
    throw new Error('Could not record the Idempotency-Key after 3 attempts');
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const record = request.idempotency;
    if (!record) return payload;
    request.idempotency = undefined;
    const own = db
      .deleteFrom('idempotency_keys')
      .where('scope', '=', record.scope)
      .where('key', '=', record.key)
      .where('owner', '=', record.owner);
    if (reply.statusCode >= 500 || reply.statusCode === 400 || typeof payload !== 'string') {
      // The retry may run again only if no write committed; an `applied` record stays.
      await own.where('state', '=', 'in_progress').execute();
      return payload;
    }
    const secret = request.routeOptions.config.secretFields;
    const stored = secret ? withoutFields(payload, secret) : payload;
    await db
      .updateTable('idempotency_keys')
      .set({
        state: 'done',
        response_status: reply.statusCode,
        response_body: stored,
        customer_id: requestedCustomer(request) ?? answeredCustomer(payload),
      })
      .where('scope', '=', record.scope)
      .where('key', '=', record.key)
      .where('owner', '=', record.owner)
      .execute();
    return payload;
  });

  function claimFor(record: { scope: string; key: string; owner: string }): EffectClaim {
    return async (tx) => {
      const marked = await tx
        .updateTable('idempotency_keys')
        .set({ state: 'applied' })
        .where('scope', '=', record.scope)
        .where('key', '=', record.key)
        .where('owner', '=', record.owner)
        .executeTakeFirst();
      if (Number(marked.numUpdatedRows) !== 1) {
        throw conflict(
          ErrorCodes.idempotencyConflict,
          'A retry with this Idempotency-Key took the key over while this request was still running; this ' +
            'request changed nothing.',
        );
      }
    };
  }
}

/** The customer a request names (`/v1/customers/{id}/…` or a body's `customer`), if any. */
function requestedCustomer(request: FastifyRequest): string | null {
  if (request.routeOptions.url?.startsWith('/v1/customers/:id')) {
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string') return id;
  }
  const customer = (request.body as { customer?: unknown } | null | undefined)?.customer;
  return typeof customer === 'string' ? customer : null;
}

/** The customer an answer is about (a subscription's, say), if it names one. */
function answeredCustomer(payload: string): string | null {
  const customer = (parseObject(payload) as { customer?: unknown } | undefined)?.customer;
  return typeof customer === 'string' ? customer : null;
}

function createdId(body: string | null): string | undefined {
  const id = (parseObject(body ?? '') as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}

function parseObject(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The problem with an `Idempotency-Key` header, if it has one: present but empty, longer than
 * 255 characters, or sent twice. Shared with the fast handlers, which answer it as the hook does.
 */
export function idempotencyKeyProblem(key: string | string[] | undefined): ProblemInput | undefined {
  if (key === undefined || (typeof key === 'string' && key.length > 0 && key.length <= 255)) return undefined;
  return domainProblem(
    invalid(
      [{ path: '/headers/idempotency-key', message: 'must be 1 to 255 characters' }],
      'Idempotency-Key must be 1 to 255 characters.',
    ),
  );
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
