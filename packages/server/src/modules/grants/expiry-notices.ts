import type { Db } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { toIso } from '../../json-column.js';
import { emitDomainEvents } from '../outbox/emit.js';

/** Credit grants looked at per query; the run goes on until none is left to tell. */
const batchSize = 100;

/**
 * Emits `credits.expiring` for every credit grant that expires within `noticeMs` of `now` with
 * units left, once per grant: each is claimed by a conditional update of its balance's
 * `expiry_noticed_at` in the transaction that emits the event, so several nodes running this at
 * once tell each grant once. Run by the scheduler; answers how many it told of.
 */
export async function noticeExpiringCredits(db: Db, input: { now: number; noticeMs: number }): Promise<number> {
  const { now } = input;
  if (input.noticeMs <= 0) return 0;
  let told = 0;
  let after = '';
  for (;;) {
    const due = await db
      .selectFrom('credit_balances as b')
      .innerJoin('grants as g', 'g.id', 'b.grant_id')
      .select(['g.id', 'g.customer_id', 'g.feature', 'g.expires_at', 'b.remaining'])
      .where('b.expiry_noticed_at', 'is', null)
      .where('b.remaining', '>', 0)
      .where('g.revoked_at', 'is', null)
      .where('g.expires_at', '>', now)
      .where('g.expires_at', '<=', now + input.noticeMs)
      .where((eb) => eb.or([eb('g.starts_at', 'is', null), eb('g.starts_at', '<=', now)]))
      .where('g.id', '>', after)
      .orderBy('g.id')
      .limit(batchSize)
      .execute();
    for (const grant of due) {
      const claimed = await withTransaction(db, async (tx) => {
        const claim = await tx
          .updateTable('credit_balances')
          .set({ expiry_noticed_at: now })
          .where('grant_id', '=', grant.id)
          .where('expiry_noticed_at', 'is', null)
          .where('remaining', '>', 0)
          .returning('remaining')
          .executeTakeFirst();
        if (!claim) return false;
        await emitDomainEvents(
          tx,
          [
            {
              type: 'credits.expiring',
              customerId: grant.customer_id,
              occurredAt: now,
              data: {
                customer: grant.customer_id,
                feature: grant.feature,
                grant: grant.id,
                remaining: Number(claim.remaining),
                expires_at: toIso(grant.expires_at!),
              },
            },
          ],
          now,
        );
        return true;
      });
      if (claimed) told++;
    }
    if (due.length < batchSize) return told;
    after = due.at(-1)!.id;
  }
}
