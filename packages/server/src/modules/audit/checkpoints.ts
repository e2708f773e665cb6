import { createPublicKey, type KeyObject, sign } from 'node:crypto';
import type { AuditCheckpoint } from '@keymaster/contract';
import { conflict, ErrorCodes } from '@keymaster/core';
import type { Selectable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { AuditCheckpointTable } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { publicKeyText } from './keys.js';
import { signatureHolds, signedForm } from './signature.js';
import { chainStart, genesisHash, verifyAudit } from './trail.js';

/**
 * Checkpoints of the audit trail. The hash chain shows a row edited, deleted or moved, but not a
 * chain rewritten wholesale with every hash recomputed: only something kept outside the database
 * can. A checkpoint is that thing — a `seq` with its hash, signed with an Ed25519 key the database
 * never holds — and `checkCheckpoint` tells whether the chain still has that row with that hash.
 */

export type CheckpointRow = Selectable<AuditCheckpointTable>;

export function toApiCheckpoint(row: CheckpointRow): AuditCheckpoint {
  return {
    id: row.id,
    seq: row.seq,
    hash: row.hash,
    count: row.count,
    at: toIso(row.at)!,
    reason: row.reason === 'retention' ? 'retention' : 'manual',
    signature: row.signature,
    public_key: row.public_key,
  };
}

/**
 * Stores a checkpoint at `seq` (on the caller's transaction, if it is one), signed when a key is
 * given; answers the row.
 */
export async function insertCheckpoint(
  db: Db,
  input: {
    seq: number;
    hash: string;
    count: number;
    at: number;
    reason: 'manual' | 'retention';
    signingKey: KeyObject | undefined;
  },
): Promise<CheckpointRow> {
  const { seq, hash, count, at, reason, signingKey } = input;
  const signature = signingKey
    ? sign(null, signedForm({ seq, hash, count, at: toIso(at)! }), signingKey).toString('base64')
    : null;
  const row: CheckpointRow = {
    id: newId('acp'),
    seq,
    hash,
    count,
    at,
    reason,
    signature,
    public_key: signingKey ? publicKeyText(signingKey) : null,
  };
  await db.insertInto('audit_checkpoints').values(row).execute();
  return row;
}

/**
 * A checkpoint of the chain as it is now: verified first from end to end (a checkpoint of a
 * broken chain would vouch for the break), then stored at the head the verification reached.
 */
export async function makeCheckpoint(input: {
  db: Db;
  now: number;
  signingKey: KeyObject | undefined;
}): Promise<CheckpointRow> {
  const { db } = input;
  const verdict = await verifyAudit(db, {
    publicKey: input.signingKey ? createPublicKey(input.signingKey) : undefined,
  });
  if (!verdict.ok) {
    throw conflict(
      ErrorCodes.auditChainBroken,
      `The audit trail is broken at seq ${verdict.seq} (${verdict.reason}): no checkpoint was made.`,
    );
  }
  const { count } = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('seq', '<=', verdict.seq)
    .executeTakeFirstOrThrow();
  return insertCheckpoint(db, {
    seq: verdict.seq,
    hash: verdict.head,
    count: Number(count),
    at: input.now,
    reason: 'manual',
    signingKey: input.signingKey,
  });
}

/** Checkpoints newest first, by `seq` then id; `before` is the cursor (`<seq>:<id>`). */
export async function listCheckpoints(
  db: Db,
  page: { before: { seq: number; id: string } | undefined; reason: string | undefined; limit: number },
): Promise<CheckpointRow[]> {
  let select = db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .orderBy('seq', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit);
  const before = page.before;
  if (before) {
    select = select.where((eb) =>
      eb.or([eb('seq', '<', before.seq), eb.and([eb('seq', '=', before.seq), eb('id', '<', before.id)])]),
    );
  }
  if (page.reason !== undefined) select = select.where('reason', '=', page.reason);
  return select.execute();
}

/** What checking a kept checkpoint found: every problem, none when it holds. */
export interface CheckpointVerdict {
  ok: boolean;
  problems: string[];
  /** Whether the signature was checked and holds; null when there is none or no key to check it with. */
  signature: 'valid' | 'invalid' | 'unsigned' | 'unchecked';
}

/**
 * Checks a checkpoint kept outside the database against the chain: the chain verifies from end to
 * end, it still holds the checkpoint's `seq` with the checkpoint's hash (or starts at it, when
 * the rows up to it were pruned), and the signature holds under `publicKey`. A signed checkpoint
 * with no key to check it fails: a signature nobody checked vouches for nothing.
 */
export async function checkCheckpoint(input: {
  db: Db;
  checkpoint: Pick<AuditCheckpoint, 'seq' | 'hash' | 'count' | 'at' | 'signature'>;
  publicKey: KeyObject | undefined;
}): Promise<CheckpointVerdict> {
  const { db, checkpoint, publicKey } = input;
  const problems: string[] = [];
  let signature: CheckpointVerdict['signature'] = 'unsigned';
  if (checkpoint.signature !== null) {
    if (!publicKey) {
      signature = 'unchecked';
      problems.push('the checkpoint is signed, and there is no public key to check it with');
    } else if (signatureHolds({ ...checkpoint, signature: checkpoint.signature }, publicKey)) {
      signature = 'valid';
    } else {
      signature = 'invalid';
      problems.push(
        'its signature does not hold under the public key: the checkpoint was altered or signed by another key',
      );
    }
  }
  const verdict = await verifyAudit(db, { publicKey });
  if (!verdict.ok) problems.push(`the audit trail is broken at seq ${verdict.seq}: ${verdict.reason}`);
  const start = await chainStart(db);
  const { seq, hash } = checkpoint;
  if (seq < start.seq) {
    problems.push(
      `the rows up to seq ${start.seq} were pruned (retention): seq ${seq} can no longer be checked; ` +
        'check a retention checkpoint kept since instead',
    );
  } else if (seq === start.seq) {
    const expected = start.seq === 0 ? genesisHash : start.hash;
    if (expected !== hash) problems.push(`the chain starts at seq ${seq} with another hash: it was rewritten`);
  } else {
    const row = await db.selectFrom('audit_events').select('hash').where('seq', '=', seq).executeTakeFirst();
    if (!row) problems.push(`the chain holds no row ${seq}: it was cut back or deleted`);
    else if (row.hash !== hash)
      problems.push(`row ${seq} has another hash than the checkpoint: the chain was rewritten`);
  }
  return { ok: problems.length === 0, problems, signature };
}
