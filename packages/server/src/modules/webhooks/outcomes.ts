import type { Insertable } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import type { WebhookAttemptTable } from '../../db/schema.js';
import { withTransaction } from '../../db/transaction.js';
import { emitDomainEvents } from '../outbox/emit.js';
import { nextAttemptAt } from '../outbox/retry.js';
import type { Outcome } from './worker.js';

/**
 * The waits after a failed attempt, in order: after the last one the delivery has failed (it can
 * still be resent or recovered). About 27.6 hours from first attempt to giving up.
 */
export const retrySchedule = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;

/** An endpoint whose attempts have all failed for this long is disabled. */
export const disableAfterMs = 5 * 86_400_000;

/**
 * Writes down a batch of attempts: one row each, the delivery's new state (done, failed, or its
 * next retry), and each endpoint's failure streak — disabling an endpoint that has failed for 5
 * days and telling the other endpoints so with an `endpoint.disabled` event, in the same
 * transaction.
 */
export async function recordOutcomes(input: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  outcomes: readonly Outcome[];
  attemptId: () => string;
}): Promise<void> {
  const { outcomes } = input;
  await withTransaction(input.db, async (tx) => {
    const attempts: Insertable<WebhookAttemptTable>[] = [];
    const succeeded: string[] = [];
    const endpointsOk = new Set<string>();
    const endpointsFailing = new Map<string, number>();
    for (const { claimed, at, endedAt, result } of outcomes) {
      const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
      const attemptsSoFar = claimed.attempts + 1;
      const nextRetryAt = ok
        ? null
        : // From when the attempt ended, by the clock (a simulated one moves only when told to).
          nextAttemptAt({ schedule: retrySchedule, attempts: attemptsSoFar, at: endedAt });
      attempts.push({
        id: input.attemptId(),
        delivery_id: claimed.id,
        endpoint_id: claimed.endpoint.id,
        customer_id: claimed.customerId,
        event_id: claimed.eventId,
        event_type: claimed.eventType,
        attempted_at: at,
        status_code: result.statusCode,
        duration_ms: result.durationMs,
        response_body: result.responseBody,
        error: result.error,
        succeeded: ok ? 1 : 0,
        next_retry_at: nextRetryAt,
      });
      if (ok) {
        succeeded.push(claimed.id);
        endpointsOk.add(claimed.endpoint.id);
        continue;
      }
      const firstFailure = endpointsFailing.get(claimed.endpoint.id);
      if (firstFailure === undefined || at < firstFailure) endpointsFailing.set(claimed.endpoint.id, at);
      await tx
        .updateTable('webhook_deliveries')
        .set({
          status: nextRetryAt === null ? 'failed' : 'pending',
          attempts: attemptsSoFar,
          next_attempt_at: nextRetryAt,
          updated_at: at,
        })
        .where('id', '=', claimed.id)
        .execute();
    }
    for (let i = 0; i < attempts.length; i += 500) {
      await tx
        .insertInto('webhook_attempts')
        .values(attempts.slice(i, i + 500))
        .execute();
    }
    if (succeeded.length > 0) {
      const now = input.clock.now();
      for (let i = 0; i < succeeded.length; i += 1000) {
        await tx
          .updateTable('webhook_deliveries')
          .set((eb) => ({
            status: 'succeeded',
            attempts: eb('attempts', '+', 1),
            next_attempt_at: null,
            updated_at: now,
          }))
          .where('id', 'in', succeeded.slice(i, i + 1000))
          .execute();
      }
      await tx
        .updateTable('webhook_endpoints')
        .set({ failing_since: null })
        .where('id', 'in', [...endpointsOk])
        .where('failing_since', 'is not', null)
        .execute();
    }
    for (const [endpointId, at] of endpointsFailing) {
      // One success in the batch ends the streak.
      if (endpointsOk.has(endpointId)) continue;
      await tx
        .updateTable('webhook_endpoints')
        .set({ failing_since: at })
        .where('id', '=', endpointId)
        .where('failing_since', 'is', null)
        .execute();
      const now = input.clock.now();
      const disabled = await tx
        .updateTable('webhook_endpoints')
        .set({ status: 'disabled', updated_at: now })
        .where('id', '=', endpointId)
        .where('status', '=', 'enabled')
        .where('failing_since', '<=', now - disableAfterMs)
        .returning(['id', 'url', 'failing_since'])
        .executeTakeFirst();
      if (!disabled) continue;
      // Not about a customer: the outbox's customer column holds '' for it, which no customer's
      // erasure matches.
      await emitDomainEvents(
        tx,
        [
          {
            type: 'endpoint.disabled',
            customerId: '',
            occurredAt: now,
            data: {
              endpoint: { id: disabled.id, url: disabled.url },
              failing_since: new Date(Number(disabled.failing_since)).toISOString(),
              reason: 'Every attempt to deliver to it failed for 5 days.',
            },
          },
        ],
        now,
      );
    }
  });
}
