import { type RawBuilder, sql } from 'kysely';

/** How a stored counter takes an incoming value: added, the larger kept, or the later one kept. */
export type MergeMode = 'add' | 'max' | 'latest';

/**
 * The `on conflict … do update set` of an upsert into a counter table (`usage_counters` or its
 * hourly `usage_history`): one place for the rules, so a counter and its history buckets merge
 * alike. `latest` keeps the value with the later `latest_at` (a row without one is always replaced).
 */
export function mergeRule(
  table: 'usage_counters' | 'usage_history',
  mode: MergeMode,
  now: number,
): { value: RawBuilder<number>; latest_at?: RawBuilder<number | null>; updated_at: number } {
  const stored = sql.ref(`${table}.value`);
  const incoming = sql.ref('excluded.value');
  switch (mode) {
    case 'max':
      return {
        value: sql<number>`case when ${incoming} > ${stored} then ${incoming} else ${stored} end`,
        updated_at: now,
      };
    case 'latest': {
      const storedAt = sql.ref(`${table}.latest_at`);
      const incomingAt = sql.ref('excluded.latest_at');
      const newer = sql`(${storedAt} is null or ${incomingAt} >= ${storedAt})`;
      return {
        value: sql<number>`case when ${newer} then ${incoming} else ${stored} end`,
        latest_at: sql<number | null>`case when ${newer} then ${incomingAt} else ${storedAt} end`,
        updated_at: now,
      };
    }
    case 'add':
      return { value: sql<number>`${stored} + ${incoming}`, updated_at: now };
  }
}
