import type { Kysely, Migration } from 'kysely';

/**
 * What makes `Idempotency-Key` crash-safe and erasable. `owner` names the request that holds a key
 * (a retry that takes over an abandoned key gets a new owner, so a write of the old one can no
 * longer commit); a write made for the key sets `state` to `applied` in its own transaction, so a
 * record that never reached `done` tells whether the write happened. `customer_id` is the
 * customer the stored answer is about, so erasing the customer erases the answer too.
 */
export function idempotencyEffects(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('idempotency_keys').addColumn('owner', 'text').execute();
      await db.schema.alterTable('idempotency_keys').addColumn('customer_id', 'text').execute();
      await db.schema.createIndex('idempotency_keys_customer').on('idempotency_keys').column('customer_id').execute();
    },
  };
}
