import type { WebhookEndpointCreate, WebhookEndpointUpdate } from '@keymaster/contract';
import { DomainError, ErrorCodes, notFound } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { fromJsonColumn, toIso, toJsonColumn } from '../../json-column.js';
import type { SecretsAtRest } from '../../secrets-at-rest.js';
import { type AuditActor, appendAudit, changedFields, systemActor } from '../audit/trail.js';
import { checkUrl, type ResolvedAddress } from './address-policy.js';
import { type AttemptRow, type EndpointRow, toDbSecrets } from './convert.js';
import { newSecret, rotationOverlapMs } from './signing.js';
import { deleteEndpoint, findEndpoint, insertEndpoint, listAttempts, listEndpoints, updateEndpoint } from './store.js';

export type WebhookService = ReturnType<typeof createWebhookService>;

/**
 * Webhook endpoints and what an operator does with their deliveries: resend one, recover the
 * failed ones. Delivery itself is the worker's (worker.ts); the queue it reads is filled by the
 * fan-out (fan-out.ts).
 */
export function createWebhookService(deps: {
  db: Db;
  clock: Clock;
  allowPrivate: boolean;
  /** How endpoints' secrets are kept (encrypted with KEYMASTER_ENCRYPTION_KEY when set). */
  secrets: SecretsAtRest;
  /** Resolves a host name; tests hand in their own to play DNS. */
  resolve?: ((host: string) => Promise<ResolvedAddress[]>) | undefined;
}) {
  const { db, clock, secrets } = deps;

  async function requireAllowed(url: string): Promise<void> {
    const verdict = await checkUrl({ url, allowPrivate: deps.allowPrivate, resolve: deps.resolve });
    if (!verdict.ok) {
      throw new DomainError({
        kind: 'invalid',
        code: ErrorCodes.urlNotAllowed,
        message: `The URL ${verdict.reason}.`,
        errors: [{ path: '/url', message: verdict.reason }],
      });
    }
  }

  async function requireEndpoint(on: Db, id: string): Promise<EndpointRow> {
    const row = await findEndpoint(on, id, secrets);
    if (!row) throw notFound(ErrorCodes.webhookEndpointNotFound, `No webhook endpoint "${id}".`);
    return row;
  }

  /**
   * The trail's row for a change to an endpoint: the fields that changed, never its secret (whoever
   * reads the trail could sign deliveries with it). A change that changes nothing appends nothing.
   */
  async function audit(
    tx: Db,
    input: { actor: AuditActor | undefined; action: string; before: EndpointRow | null; after: EndpointRow | null },
  ): Promise<void> {
    const { before, after } = input;
    const row = (after ?? before)!;
    const data =
      after === null
        ? { before: auditFields(before!), after: null }
        : changedFields(before && auditFields(before), auditFields(after));
    if (before && after && Object.keys(data.after ?? {}).length === 0) return;
    await appendAudit(tx, [
      {
        at: clock.now(),
        actor: input.actor ?? systemActor,
        action: input.action,
        target: { type: 'webhook_endpoint', id: row.id },
        data,
      },
    ]);
  }

  return {
    async create(
      input: WebhookEndpointCreate & { actor?: AuditActor | undefined; claim?: EffectClaim | undefined },
    ): Promise<EndpointRow> {
      await requireAllowed(input.url);
      const now = clock.now();
      const row: EndpointRow = {
        id: newId('whe'),
        url: input.url,
        events: toJsonColumn(input.events),
        description: input.description ?? null,
        status: 'enabled',
        secret: newSecret(),
        previous_secret: null,
        previous_secret_until: null,
        failing_since: null,
        created_at: now,
        updated_at: now,
      };
      await withTransaction({ db, claim: input.claim }, async (tx) => {
        await insertEndpoint(tx, row, secrets);
        await audit(tx, { actor: input.actor, action: 'webhook_endpoint.created', before: null, after: row });
      });
      return row;
    },

    get: (id: string) => requireEndpoint(db, id),

    list: (page: { after: string | undefined; limit: number }) => listEndpoints(db, page, secrets),

    async update(input: {
      id: string;
      body: WebhookEndpointUpdate;
      actor?: AuditActor | undefined;
    }): Promise<EndpointRow> {
      const { id, body } = input;
      if (body.url !== undefined) await requireAllowed(body.url);
      return withTransaction(db, async (tx) => {
        const row = await requireEndpoint(tx, id);
        const changes: Partial<EndpointRow> = { updated_at: clock.now() };
        if (body.url !== undefined) changes.url = body.url;
        if (body.events !== undefined) changes.events = toJsonColumn(body.events);
        if (body.description !== undefined) changes.description = body.description;
        if (body.status !== undefined) {
          changes.status = body.status;
          // Enabled again by hand: the 5 days start over.
          if (body.status === 'enabled' && row.status !== 'enabled') changes.failing_since = null;
        }
        await updateEndpoint(tx, id, changes);
        const updated = { ...row, ...changes };
        await audit(tx, { actor: input.actor, action: 'webhook_endpoint.updated', before: row, after: updated });
        return updated;
      });
    },

    async remove(id: string, actor: AuditActor = systemActor): Promise<EndpointRow> {
      return withTransaction(db, async (tx) => {
        const row = await requireEndpoint(tx, id);
        await deleteEndpoint(tx, id);
        await audit(tx, { actor, action: 'webhook_endpoint.deleted', before: row, after: null });
        return row;
      });
    },

    /** A new secret; the old one keeps signing beside it for 24 hours, so receivers can switch. */
    async rotateSecret(input: {
      id: string;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<EndpointRow> {
      const { id } = input;
      return withTransaction({ db, claim: input.claim }, async (tx) => {
        const row = await requireEndpoint(tx, id);
        const now = clock.now();
        const changes = {
          secret: newSecret(),
          previous_secret: row.secret,
          previous_secret_until: now + rotationOverlapMs,
          updated_at: now,
        };
        await updateEndpoint(tx, id, { ...changes, ...toDbSecrets({ id, ...changes }, secrets) });
        // The secrets are never in the trail: only that it was rotated, and until when the old one signs.
        await appendAudit(tx, [
          {
            at: now,
            actor: input.actor ?? systemActor,
            action: 'webhook_endpoint.secret_rotated',
            target: { type: 'webhook_endpoint', id },
            data: { before: null, after: { previous_secret_until: toIso(changes.previous_secret_until) } },
          },
        ]);
        return { ...row, ...changes };
      });
    },

    async attempts(input: {
      endpointId: string;
      succeeded?: boolean | undefined;
      after: string | undefined;
      limit: number;
    }): Promise<AttemptRow[]> {
      await requireEndpoint(db, input.endpointId);
      return listAttempts(db, input);
    },

    /**
     * Queues a delivery to be sent again now, whatever became of it (a success too), with the
     * retry schedule from its start. Takes a delivery id or the id of one of its attempts.
     */
    async resend(id: string): Promise<{ id: string }> {
      return withTransaction(db, async (tx) => {
        const deliveryId = id.startsWith('wha_')
          ? (await tx.selectFrom('webhook_attempts').select('delivery_id').where('id', '=', id).executeTakeFirst())
              ?.delivery_id
          : id;
        const now = clock.now();
        const result =
          deliveryId === undefined
            ? undefined
            : await tx
                .updateTable('webhook_deliveries')
                .set({ status: 'pending', attempts: 0, next_attempt_at: now, updated_at: now })
                .where('id', '=', deliveryId)
                .executeTakeFirst();
        if (!result || Number(result.numUpdatedRows) === 0) {
          throw notFound(ErrorCodes.webhookDeliveryNotFound, `No webhook delivery "${id}".`);
        }
        return { id: deliveryId! };
      });
    },

    /** Queues again every delivery to the endpoint that ran out of retries since `since`. */
    async recover(input: { endpointId: string; since: number }): Promise<number> {
      return withTransaction(db, async (tx) => {
        await requireEndpoint(tx, input.endpointId);
        const now = clock.now();
        const result = await tx
          .updateTable('webhook_deliveries')
          .set({ status: 'pending', attempts: 0, next_attempt_at: now, updated_at: now })
          .where('endpoint_id', '=', input.endpointId)
          .where('status', '=', 'failed')
          .where('created_at', '>=', input.since)
          .executeTakeFirst();
        return Number(result.numUpdatedRows);
      });
    },
  };
}

/** An endpoint as the trail shows it: what an operator set, never its secrets. */
function auditFields(row: EndpointRow): Record<string, unknown> {
  return {
    url: row.url,
    events: fromJsonColumn<string[] | null>(row.events),
    description: row.description,
    status: row.status,
  };
}
