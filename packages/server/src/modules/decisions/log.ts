import type { Decision, DecisionProvenance } from '@keymaster/core';
import type { Insertable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { DecisionTable } from '../../db/schema.js';
import { newId } from '../../ids.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/** One decision to keep: what was asked, the answer and where it came from. */
export interface DecisionRecord {
  kind: 'check' | 'consume';
  decision: Decision;
  quantity: number | null;
  at: number;
  provenance: DecisionProvenance;
}

/** Decisions waiting for their batch; past this, new ones are dropped and counted. */
const defaultCapacity = 10_000;
/** Rows per insert. */
const batchRows = 500;

/**
 * The decision log's writer: decisions are kept in memory and written in batches by a timer, off
 * the request's path — a check never waits for the database. Memory is bounded: when writes fall
 * behind and `capacity` decisions wait, further ones are dropped and counted
 * (`keymaster_decisions_dropped_total`), never queued without end. A batch that fails to write is
 * dropped and counted the same way, and logged.
 */
export function createDecisionLog(deps: {
  db: Db;
  logger: Logger;
  flushMs: number;
  capacity?: number;
  /** Counts decisions dropped (a full buffer, a failed write). */
  onDropped?: (count: number) => void;
}) {
  const capacity = deps.capacity ?? defaultCapacity;
  let pending: Insertable<DecisionTable>[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let dropped = 0;

  const drop = (count: number) => {
    dropped += count;
    deps.onDropped?.(count);
  };

  async function write(rows: Insertable<DecisionTable>[]): Promise<void> {
    for (let i = 0; i < rows.length; i += batchRows) {
      const batch = rows.slice(i, i + batchRows);
      try {
        await deps.db.insertInto('decisions').values(batch).execute();
      } catch (error) {
        drop(batch.length);
        deps.logger.warn(
          { err: error, decisions: batch.length },
          'writing decisions to the decision log failed; dropped',
        );
      }
    }
  }

  function flush(): Promise<void> {
    if (flushing) return flushing.then(flush);
    if (pending.length === 0) return Promise.resolve();
    const rows = pending;
    pending = [];
    flushing = write(rows).finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  return {
    /** Keeps a decision (synchronously: a push, or a counted drop when the buffer is full). */
    record(input: DecisionRecord): void {
      if (pending.length >= capacity) {
        drop(1);
        return;
      }
      const { decision } = input;
      pending.push({
        id: newId('dcn'),
        customer_id: decision.customer,
        feature: decision.feature,
        at: input.at,
        kind: input.kind,
        allowed: decision.allowed ? 1 : 0,
        reason: decision.reason,
        quantity: input.quantity,
        usage: decision.usage,
        limit: decision.limit,
        provenance: JSON.stringify(input.provenance),
      });
    },

    /** Writes what waits now (the timer does it every `flushMs`; a read of the log does it first). */
    flush,

    /** Decisions dropped since start. */
    get dropped(): number {
      return dropped;
    },

    start(): void {
      timer = setInterval(() => {
        void flush();
      }, deps.flushMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}

export type DecisionLog = ReturnType<typeof createDecisionLog>;
