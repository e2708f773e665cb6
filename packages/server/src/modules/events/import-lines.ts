import { type IngestResult, maxEventsPerRequest } from '@keymaster/contract';
import { parseJson } from '../../http/json-body.js';
import type { EventFormat } from './service.js';

/** What an import did: the events stored, those stored before, and each line refused and why. */
export interface ImportSummary {
  /** Lines holding an event (blank lines are not counted). */
  events: number;
  accepted: number;
  duplicates: number;
  rejected: { line: number; error: string }[];
}

/**
 * Ingests events read one per line (JSON Lines / NDJSON: what a warehouse export or a log
 * writes), in batches of `batchSize` through `ingest` — the event service, so every event is read,
 * metered, de-duplicated and stored exactly as `POST /v1/events` would. A backfill that stops
 * half-way can be run again from the start: events stored the first time count as duplicates.
 *
 * Blank lines are skipped. A line that is not JSON is refused with the parser's message; every
 * other refusal is the service's, by line number. `onBatch` hears the totals after each batch.
 */
export async function importEventLines(input: {
  lines: AsyncIterable<string>;
  format: EventFormat;
  batchSize?: number;
  ingest: (batch: { events: unknown[]; format: EventFormat }) => Promise<IngestResult>;
  onBatch?: (soFar: ImportSummary) => void;
}): Promise<ImportSummary> {
  const batchSize = input.batchSize ?? maxEventsPerRequest;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > maxEventsPerRequest) {
    throw new RangeError(`the batch size must be a whole number from 1 to ${maxEventsPerRequest}`);
  }
  const summary: ImportSummary = { events: 0, accepted: 0, duplicates: 0, rejected: [] };
  let events: unknown[] = [];
  /** The line each event of the batch came from, by its index in the batch. */
  let lineOf: number[] = [];
  const flush = async () => {
    if (events.length === 0) return;
    const result = await input.ingest({ events, format: input.format });
    summary.accepted += result.accepted;
    summary.duplicates += result.duplicates;
    for (const { index, error } of result.rejected) summary.rejected.push({ line: lineOf[index]!, error });
    events = [];
    lineOf = [];
    input.onBatch?.(summary);
  };
  let line = 0;
  for await (const text of input.lines) {
    line++;
    if (text.trim() === '') continue;
    summary.events++;
    // Parsed as a request body is (see json-body.ts); the events themselves are checked by the service.
    let event: unknown;
    try {
      event = parseJson(text);
    } catch (error) {
      summary.rejected.push({ line, error: `not JSON: ${(error as Error).message}` });
      continue;
    }
    events.push(event);
    lineOf.push(line);
    if (events.length === batchSize) await flush();
  }
  await flush();
  summary.rejected.sort((a, b) => a.line - b.line);
  return summary;
}
