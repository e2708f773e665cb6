import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { withTransaction } from '../../db/transaction.js';
import { insertCheckpoint } from './checkpoints.js';
import { checkStartSignature } from './signature.js';
import { brokenLink, chainStart, sealAudit } from './trail.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/** Rows pruned per transaction: each prune holds its rows' locks only that long. */
const batchSize = 2000;

/**
 * Retention of the audit trail (`KEYMASTER_AUDIT_RETAIN_DAYS`): rows older than the retention are
 * deleted from the start of the chain, never from its middle. Each batch, in one transaction,
 * checks the links of the rows it deletes from where the chain starts, stores a retention
 * checkpoint at the last of them (seq and hash), and deletes them: verification then starts from
 * that checkpoint and still checks every remaining link. A batch whose rows do not verify is not
 * pruned — pruning must never erase the evidence of an edit — and neither are rows after a retention
 * checkpoint that does not hold (`checkStartSignature`): the checkpoint pruning would store next
 * would vouch, signed, for a chain checked from an edited start. An unsigned start is pruned from,
 * so that a key set after pruning began gets its first signed checkpoint.
 *
 * Every node runs it. Two nodes pruning the same rows at once both try to store the checkpoint
 * for the same `seq`; the unique index lets one commit and rolls the other back.
 */
export function createAuditPruner(deps: {
  db: Db;
  logger: Logger;
  /** How long rows are kept; undefined: forever (nothing is pruned). */
  retainMs: number | undefined;
  signingKey: KeyObject | undefined;
}) {
  const { db, retainMs } = deps;
  const publicKey = deps.signingKey ? createPublicKey(deps.signingKey) : undefined;

  /** One batch: answers how many rows it deleted (0 when nothing is old enough). */
  async function pruneBatch(now: number): Promise<number> {
    const cutoff = now - retainMs!;
    try {
      return await withTransaction(db, async (tx) => {
        const start = await chainStart(tx);
        if (start.checkpoint) {
          const vouched = checkStartSignature({ checkpoint: start.checkpoint, publicKey, unsigned: 'accept' });
          if (!vouched.ok) {
            deps.logger.warn(
              { seq: start.seq, reason: vouched.reason },
              'the audit trail starts from a retention checkpoint that does not hold: nothing is pruned (run keymaster audit verify)',
            );
            return 0;
          }
        }
        const rows = await tx
          .selectFrom('audit_events')
          .selectAll()
          .where('seq', '>', start.seq)
          .orderBy('seq')
          .limit(batchSize)
          .execute();
        // The rows up to the first one still within the retention: rows are kept in `seq`
        // order, and a later row with an earlier time (another node's clock) waits for it.
        let previous: { seq: number; hash: string } = start;
        let count = 0;
        for (const row of rows) {
          if (row.at >= cutoff) break;
          const broken =
            row.seq === previous.seq + 1 ? brokenLink(previous, row) : `row ${previous.seq + 1} is missing`;
          if (broken) {
            deps.logger.warn(
              { seq: row.seq, reason: broken },
              'the audit trail is broken: its old rows are not pruned (run keymaster audit verify)',
            );
            break;
          }
          previous = { seq: row.seq, hash: row.hash };
          count++;
        }
        if (count === 0) return 0;
        await insertCheckpoint(tx, {
          seq: previous.seq,
          hash: previous.hash,
          count,
          at: now,
          reason: 'retention',
          signingKey: deps.signingKey,
        });
        await tx.deleteFrom('audit_events').where('seq', '>', start.seq).where('seq', '<=', previous.seq).execute();
        return count;
      });
    } catch (error) {
      // Another node pruned the same rows first.
      if (isUniqueViolation(error)) return 0;
      throw error;
    }
  }

  return {
    /** Prunes every row older than the retention at `now`; answers how many it deleted. */
    async runDue(now: number): Promise<number> {
      if (retainMs === undefined) return 0;
      // Rows still waiting to be sealed are old too after a node's downtime: seal them first.
      await sealAudit(db);
      let deleted = 0;
      for (;;) {
        const pruned = await pruneBatch(now);
        deleted += pruned;
        if (pruned < batchSize) return deleted;
      }
    },
  };
}

export type AuditPruner = ReturnType<typeof createAuditPruner>;
