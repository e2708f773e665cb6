import { randomUUID } from 'node:crypto';

/** How the ingestion benchmarks shape their `POST /v1/events` bodies. */
export interface EventBatchSpec {
  /** Makes ids unique across runs against the same database. */
  runId: string;
  customers: readonly string[];
  /** Events per request (the API takes at most 1,000). */
  size: number;
  /** The event type a meter counts. */
  type: string;
  /**
   * Share (0 to 1) of each batch's events whose ids are the same in every batch of the run: after
   * the first batch they are duplicates, the rest of the batch is new. 0: every event is new.
   */
  duplicateShare: number;
  /**
   * How the new events' ids look. `ordered`: `<run>-<batch>-<n>`, so each batch's ids sit side by
   * side in the `(source, id)` index, as time-ordered ids (UUIDv7, ULID) do. `random`: UUIDv4,
   * as a client that draws random ids sends them, landing all over the index. Default: ordered.
   */
  ids?: 'ordered' | 'random';
}

/**
 * The JSON body of batch number `sequence` (unique per run: one counter shared by all clients).
 * Built as a string, without JSON.stringify of objects, so the load generator spends little CPU
 * on it. Customers rotate through `customers`, so consecutive batches touch different ones.
 */
export function eventBatchBody(spec: EventBatchSpec, sequence: number): string {
  const repeated = Math.round(spec.size * spec.duplicateShare);
  const type = JSON.stringify(spec.type);
  const parts: string[] = [];
  for (let i = 0; i < spec.size; i++) {
    const id =
      i < repeated ? `${spec.runId}-r-${i}` : spec.ids === 'random' ? randomUUID() : `${spec.runId}-${sequence}-${i}`;
    const customer = spec.customers[(sequence * spec.size + i) % spec.customers.length]!;
    parts.push(`{"id":"${id}","customer":${JSON.stringify(customer)},"type":${type},"properties":{"units":1}}`);
  }
  return `{"events":[${parts.join(',')}]}`;
}
