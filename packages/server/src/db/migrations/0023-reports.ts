import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * Stored reports (modules/reports/): each report's range, filters and origin, and its JSON
 * document gzip-compressed in `body` (bytes: a report over 100,000 customers is 100+ MiB of JSON
 * and a tenth of that compressed), served as it is stored to clients that accept gzip.
 *
 * A scheduled report is claimed by inserting its row, `pending` with a lease, before it is
 * computed: the unique index on `(kind, scheduled_for)` lets one node claim a fire time, however
 * many nodes saw it fire (NULLs, the reports not made by the schedule, never collide). The row
 * becomes `ready` with its body in the transaction that emits `report.ready`.
 */
export function reports(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('reports')
        // Time-sortable: the list's order and cursor.
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        // `schedule`, `api` or `cli`.
        .addColumn('made', 'text', (c) => c.notNull())
        .addColumn('range_from', 'bigint', (c) => c.notNull())
        .addColumn('range_to', 'bigint', (c) => c.notNull())
        // JSON: the filters it was computed with ({plan, flag}).
        .addColumn('filters', 'text', (c) => c.notNull())
        // The schedule's fire time it was made for; null when not made by the schedule.
        .addColumn('scheduled_for', 'bigint')
        // `pending` (claimed, being computed) or `ready`.
        .addColumn('status', 'text', (c) => c.notNull())
        // A pending report's lease: past it, another node may take the work over.
        .addColumn('claimed_until', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('customers', 'integer')
        .addColumn('size', 'bigint')
        .addColumn('compressed_size', 'bigint')
        .addColumn('body', dialect === 'postgres' ? 'bytea' : 'blob')
        .execute();
      await db.schema
        .createIndex('reports_schedule')
        .on('reports')
        .columns(['kind', 'scheduled_for'])
        .unique()
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('reports').execute();
    },
  };
}
