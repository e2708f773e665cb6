import { createHash, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { type Selectable, sql } from 'kysely';
import { type Db, onPostgres } from '../../db/database.js';
import { precompiledByShape, rowParameters } from '../../db/precompiled.js';
import type { AuditCheckpointTable, AuditEventTable, AuditPendingTable } from '../../db/schema.js';
import { withTransaction } from '../../db/transaction.js';
import { checkStartSignature, type StartSignature } from './signature.js';

/**
 * The audit trail: every change appends one row in the change's own transaction, so a row exists
 * exactly when its change committed; the sealer (`sealAudit`) then chains committed rows into
 * `audit_events` one after another, off the write's path. Each row's `hash` is SHA-256 over
 * the previous row's hash and the row's canonical form (RFC 8785 JSON), so editing, deleting or
 * reordering any row breaks every link after it, and `verifyAudit` names the first.
 *
 * What a row says about a person (`data`) is covered through its digest: erasing a customer
 * empties `data` and leaves the digest, and the chain still verifies.
 */

export const AuditActorTypes = ['api_key', 'user', 'integration', 'customer', 'system'] as const;
export type AuditActorType = (typeof AuditActorTypes)[number];

export interface AuditActor {
  type: AuditActorType;
  id: string;
  /** The request that made the change, for API calls. */
  requestId?: string | null | undefined;
}

export interface AuditEntry {
  at: number;
  actor: AuditActor;
  /** What was done, `<target type>.<verb>`: `subscription.created`, `grant.revoked`. */
  action: string;
  target: { type: string; id: string };
  /** The customer the change is about, if any: their erasure empties the row's `data`. */
  customerId?: string | null | undefined;
  /** The change itself: the changed fields before and after, a reason. */
  data: unknown;
}

/**
 * The actor of a change made without a request: the CLI (`keymaster catalog apply`, `keys
 * create`), the demo data, the first start. Services default to it so they stay callable there.
 */
export const systemActor: AuditActor = { type: 'system', id: 'cli' };

/** The hash a chain starts from. */
export const genesisHash = '0'.repeat(64);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What a row's hash covers, besides the previous hash: every column but `data` itself. */
/**
 * Any lone surrogate (UTF-16 half of a pair, which JSON text can carry as a `\ud800` escape and a
 * client can send) replaced by U+FFFD, in every string and key of a JSON value.
 */
function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/\p{Cs}/gu, '\uFFFD');
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [wellFormed(key), wellFormed(item)]));
}

/**
 * RFC 8785's canonical JSON of a value, lone surrogates made U+FFFD first: the canonical form
 * cannot write one, and a row the sealer could not write would stop the chain for every row
 * after it. (A well-formed value's form is unchanged, so existing hashes still verify.)
 */
function canonical(value: unknown): string | undefined {
  return canonicalize(wellFormed(value));
}

function rowHash(row: Omit<Selectable<AuditEventTable>, 'data' | 'hash'>): string {
  const covered = {
    seq: row.seq,
    at: row.at,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    request_id: row.request_id,
    action: row.action,
    target_type: row.target_type,
    target_id: row.target_id,
    customer_id: row.customer_id,
    data_digest: row.data_digest,
  };
  return sha256(`${row.prev_hash}\n${canonical(covered)}`);
}

/**
 * The actor named by the strings a subscription's history keeps (`key:<id>`, `scheduler`,
 * `integration:<name>`, `user:<id>`).
 */
export function actorOf(name: string, requestId?: string | null): AuditActor {
  const colon = name.indexOf(':');
  const kind = colon < 0 ? name : name.slice(0, colon);
  const id = colon < 0 ? name : name.slice(colon + 1);
  const type: AuditActorType =
    kind === 'key'
      ? 'api_key'
      : kind === 'integration'
        ? 'integration'
        : kind === 'user'
          ? 'user'
          : // A customer acting in the portal (`portal:<customer>`).
            kind === 'portal'
            ? 'customer'
            : 'system';
  return { type, id, requestId };
}

/** Whether changes append their audit rows: always, but under the benchmark's switch (below). */
let writingAudit = true;

/**
 * BENCHMARK ONLY (`KEYMASTER_BENCHMARK_SKIP_AUDIT`, see `Config.benchmarkSkipAudit`): with `false`,
 * `appendAudit` does nothing at all in this process, so that the audit benchmark can compare a
 * write route with and without its row on the same build. Set by `createKeymaster` from its
 * configuration; a benchmark's server is alone in its process.
 */
export function setAuditWriting(on: boolean): void {
  writingAudit = on;
}

/** `audit_pending`'s columns, in the order the rows below list them. */
export const pendingColumns = [
  'at',
  'actor_type',
  'actor_id',
  'request_id',
  'action',
  'target_type',
  'target_id',
  'customer_id',
  'data',
] as const;
type PendingRow = Omit<Selectable<AuditPendingTable>, 'id'>;

/** The append, compiled once per database and row count (see precompiled.ts). */
const insertPending = precompiledByShape(
  (db: Db, rows: PendingRow[]) => db.insertInto('audit_pending').values(rows),
  (rows) => String(rows.length),
  (rows) => rowParameters(rows, pendingColumns),
);

/**
 * Appends entries to the trail in the caller's transaction: one insert into `audit_pending`, no
 * read and no lock, so audited writes on any number of nodes never wait for one another. The row
 * exists exactly when its change committed; `sealAudit` then gives it its place in the chain.
 */
export async function appendAudit(tx: Db, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0 || !writingAudit) return;
  const rows = entries.map(
    (entry): PendingRow => ({
      at: entry.at,
      actor_type: entry.actor.type,
      actor_id: entry.actor.id,
      request_id: entry.actor.requestId ?? null,
      action: entry.action,
      target_type: entry.target.type,
      target_id: entry.target.id,
      customer_id: entry.customerId ?? null,
      // A change with nothing to say (an erasure) keeps no data at all; its digest is of `null`.
      data: entry.data == null ? null : JSON.stringify(entry.data),
    }),
  );
  await tx.executeQuery(insertPending(tx, rows));
}

/** Pending rows sealed per transaction. */
const sealBatch = 500;

/**
 * Seals the rows waiting in `audit_pending` into the chain: under the head's row lock (PostgreSQL;
 * SQLite's transactions start as its one writer), each committed row in `id` order gets the next
 * `seq`, its `data` in canonical form (RFC 8785) with its digest, the previous row's hash and its
 * own, and moves to `audit_events`; the head moves to the last. Sealers on several nodes line up
 * on the lock, so the chain is written one row after another whatever the nodes do. A row
 * committed after an earlier `id` was sealed (PostgreSQL hands out ids before commits) is sealed
 * in the next batch: `seq` is the chain's order, `at` the change's time.
 *
 * Every reader of the chain seals first (the list, verify, checkpoints, exports), so what it
 * shows includes every change committed before it asked. `wait: false` (the background sealer)
 * leaves the work to a node that holds the lock already. On SQLite no seal waits for another
 * process's write lock (see `sealOnce`): a reader then shows the chain as sealed so far. Answers
 * the rows sealed.
 */
export async function sealAudit(db: Db, options: { wait?: boolean } = {}): Promise<number> {
  const wait = options.wait ?? true;
  let sealed = 0;
  for (;;) {
    const waiting = await db.selectFrom('audit_pending').select('id').limit(1).executeTakeFirst();
    if (!waiting) return sealed;
    const count = await sealOnce(db, wait);
    if (count === null) return sealed;
    sealed += count;
    if (count < sealBatch) return sealed;
  }
}

/**
 * One batch in a transaction of its own. On SQLite it never waits for the write lock: SQLite waits
 * for a lock another process holds by blocking the thread, which would freeze this node's event
 * loop for the busy timeout; when the database is busy the rows wait for the next seal.
 */
async function sealOnce(db: Db, wait: boolean): Promise<number | null> {
  if (db.isTransaction || onPostgres(db)) {
    return withTransaction(db, (tx) => sealSome(tx, wait));
  }
  return db.connection().execute(async (connection) => {
    const [setting] = (await sql<{ timeout: number }>`pragma busy_timeout`.execute(connection)).rows;
    await sql`pragma busy_timeout = 0`.execute(connection);
    try {
      return await connection.transaction().execute((tx) => sealSome(tx, false));
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return null;
      throw error;
    } finally {
      await sql.raw(`pragma busy_timeout = ${Number(setting?.timeout ?? 5000)}`).execute(connection);
    }
  });
}

/** `audit_events`' columns, in the order a sealed row lists them. */
const sealedColumns = [
  'seq',
  'at',
  'actor_type',
  'actor_id',
  'request_id',
  'action',
  'target_type',
  'target_id',
  'customer_id',
  'data_digest',
  'prev_hash',
  'data',
  'hash',
] as const;

/** Sealed rows into `audit_events`, compiled once per database and row count. */
const insertSealed = precompiledByShape(
  (db: Db, rows: Selectable<AuditEventTable>[]) => db.insertInto('audit_events').values(rows),
  (rows) => String(rows.length),
  (rows) => rowParameters(rows, sealedColumns),
);

/** One batch of `sealAudit`; null when another node holds the head and `wait` is false. */
async function sealSome(tx: Db, wait: boolean): Promise<number | null> {
  const postgres = onPostgres(tx);
  let select = tx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
  if (postgres) select = wait ? select.forUpdate() : select.forUpdate().skipLocked();
  const head = await select.executeTakeFirst();
  if (!head) return null;
  // Taken out of the queue and read in one statement; the transaction puts them back if it fails.
  const pending = await tx
    .deleteFrom('audit_pending')
    .where('id', 'in', (eb) => eb.selectFrom('audit_pending').select('id').orderBy('id').limit(sealBatch))
    .returningAll()
    .execute();
  if (pending.length === 0) return 0;
  pending.sort((a, b) => a.id - b.id);
  let { seq, hash } = head;
  const rows: Selectable<AuditEventTable>[] = [];
  for (const entry of pending) {
    const data = entry.data === null ? null : (canonical(JSON.parse(entry.data)) ?? 'null');
    const row = {
      seq: seq + 1,
      at: entry.at,
      actor_type: entry.actor_type,
      actor_id: entry.actor_id,
      request_id: entry.request_id,
      action: entry.action,
      target_type: entry.target_type,
      target_id: entry.target_id,
      customer_id: entry.customer_id,
      data_digest: sha256(data ?? 'null'),
      prev_hash: hash,
    };
    const next = { ...row, data, hash: rowHash(row) };
    rows.push(next);
    seq = next.seq;
    hash = next.hash;
  }
  if (postgres) {
    // One round trip for the batch.
    await tx.insertInto('audit_events').values(rows).execute();
  } else {
    // SQLite has no round trips: one statement compiled once, run a row at a time, beats
    // compiling one of 500 rows.
    for (const row of rows) await tx.executeQuery(insertSealed(tx, [row]));
  }
  await tx.updateTable('audit_head').set({ seq, hash }).where('id', '=', 1).execute();
  return pending.length;
}

/** What `verifyAudit` found. */
export type AuditVerdict =
  | {
      ok: true;
      count: number;
      /** The last row's `seq` and hash. */
      seq: number;
      head: string;
      /** Where verification started: 0 (the genesis hash), or the seq of the latest pruning. */
      from: number;
      /** How the retention checkpoint it started from was vouched for; null from the genesis hash. */
      fromSignature: StartSignature | null;
    }
  | { ok: false; seq: number; reason: string; checked: number; from: number };

/**
 * What is wrong with a row that should follow `previous`, or null when the link holds: the row
 * names the previous row's hash, its `data` still has its digest, and its hash is its own.
 */
export function brokenLink(previous: { hash: string }, row: Selectable<AuditEventTable>): string | null {
  if (row.prev_hash !== previous.hash) return 'does not follow the row before it';
  if (row.data !== null && sha256(row.data) !== row.data_digest) return 'its data was changed';
  if (rowHash(row) !== row.hash) return 'was changed after it was written';
  return null;
}

/** Where the chain starts: a `seq` and its hash, and the retention checkpoint that keeps them. */
export interface ChainStart {
  seq: number;
  hash: string;
  /** Null before any pruning (the genesis hash at seq 0). */
  checkpoint: Selectable<AuditCheckpointTable> | null;
}

/**
 * Where the chain now starts: the latest retention checkpoint (its rows up to `seq` were pruned),
 * or the genesis hash before any pruning.
 */
export async function chainStart(db: Db): Promise<ChainStart> {
  const pruned = await db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('reason', '=', 'retention')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return pruned
    ? { seq: pruned.seq, hash: pruned.hash, checkpoint: pruned }
    : { seq: 0, hash: genesisHash, checkpoint: null };
}

/**
 * Recomputes every link of the chain, from where it starts (the genesis hash, or the latest
 * retention checkpoint once rows were pruned) to the head, not only its ends: each `seq` follows
 * the one before, each row names the previous row's hash, each hash is the row's own, each `data`
 * still has its digest, and the head names the last row. The first `seq` that fails is named.
 * A retention checkpoint it starts from must hold too (`checkStartSignature`): its signature under
 * `publicKey` — the public half of `KEYMASTER_AUDIT_SIGNING_KEY`, or an auditor's — or, without
 * one, under the key it names; a checkpoint that fails is named, at its `seq`.
 */
export async function verifyAudit(
  db: Db,
  options: { publicKey?: KeyObject | undefined; pageSize?: number } = {},
): Promise<AuditVerdict> {
  const pageSize = options.pageSize ?? 1000;
  // What waits is sealed first; a seal that fails (a row forged past the head takes its `seq`)
  // leaves the chain as it is, for the walk below to name what is wrong.
  await sealAudit(db).catch(() => undefined);
  // Pruning on another node may delete rows while this reads them: a row found missing because a
  // newer retention checkpoint now covers it is no break, and the walk starts again from there.
  for (let attempt = 0; ; attempt++) {
    const start = await chainStart(db);
    const verdict = await verifyFrom({ db, start, pageSize, publicKey: options.publicKey });
    if (verdict.ok || attempt >= 3) return verdict;
    const now = await chainStart(db);
    if (now.seq === start.seq) return verdict;
  }
}

async function verifyFrom(input: {
  db: Db;
  start: ChainStart;
  pageSize: number;
  publicKey: KeyObject | undefined;
}): Promise<AuditVerdict> {
  const { db, start, pageSize } = input;
  let fromSignature: StartSignature | null = null;
  if (start.checkpoint) {
    const vouched = checkStartSignature({
      checkpoint: start.checkpoint,
      publicKey: input.publicKey,
      unsigned: 'refuse',
    });
    if (!vouched.ok) return { ok: false, seq: start.seq, reason: vouched.reason, checked: 0, from: start.seq };
    fromSignature = vouched.signature;
  }
  // The chain is checked up to the head as it is now: rows sealed while this reads come after it.
  const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  let previous: { seq: number; hash: string } = start;
  let checked = 0;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', previous.seq)
      .where('seq', '<=', head?.seq ?? 0)
      .orderBy('seq')
      .limit(pageSize)
      .execute();
    for (const row of rows) {
      if (row.seq !== previous.seq + 1) {
        return {
          ok: false,
          seq: previous.seq + 1,
          reason: `row ${previous.seq + 1} is missing`,
          checked,
          from: start.seq,
        };
      }
      const broken = brokenLink(previous, row);
      if (broken) return { ok: false, seq: row.seq, reason: broken, checked, from: start.seq };
      previous = { seq: row.seq, hash: row.hash };
      checked++;
    }
    if (rows.length < pageSize) break;
  }
  if (!head || head.seq !== previous.seq || head.hash !== previous.hash) {
    const missing = head ? Math.max(head.seq, previous.seq + 1) : previous.seq + 1;
    return {
      ok: false,
      seq: missing,
      reason: `the chain ends at ${previous.seq}, its head says ${head?.seq}`,
      checked,
      from: start.seq,
    };
  }
  // A row past the head was not sealed: the sealer moves its rows and the head in one commit, so
  // the last row, read before the head is read again, is never past a sealed head.
  const last = await db.selectFrom('audit_events').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
  const now = await db.selectFrom('audit_head').select('seq').where('id', '=', 1).executeTakeFirstOrThrow();
  if (last && last.seq > now.seq) {
    return {
      ok: false,
      seq: now.seq + 1,
      reason: `rows up to ${last.seq} follow the head at ${now.seq}: they were not sealed`,
      checked,
      from: start.seq,
    };
  }
  return { ok: true, count: checked, seq: previous.seq, head: previous.hash, from: start.seq, fromSignature };
}

/** Erasure: empties the data of every row about the customer; the digests keep the chain whole. */
export async function forgetAuditData(tx: Db, customerId: string): Promise<void> {
  // A seal moves rows from `audit_pending` to `audit_events` in a transaction of its own, under the
  // head's lock: hold it too (PostgreSQL; SQLite runs one writer at a time), so that no row about
  // the customer is in flight between the two tables while they are emptied.
  if (onPostgres(tx)) {
    await tx.selectFrom('audit_head').select('seq').where('id', '=', 1).forUpdate().execute();
  }
  await tx.updateTable('audit_events').set({ data: null }).where('customer_id', '=', customerId).execute();
  // Rows not sealed yet are sealed without it: their digest is then of `null`.
  await tx.updateTable('audit_pending').set({ data: null }).where('customer_id', '=', customerId).execute();
}

/** The changed fields of two JSON objects: each side's value of every key whose values differ. */
export function changedFields(
  before: Record<string, unknown> | null,
  after: Record<string, unknown>,
): { before: Record<string, unknown> | null; after: Record<string, unknown> } {
  if (before === null) return { before: null, after };
  const was: Record<string, unknown> = {};
  const is: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (canonical(before[key] ?? null) === canonical(after[key] ?? null)) continue;
    was[key] = before[key] ?? null;
    is[key] = after[key] ?? null;
  }
  return { before: was, after: is };
}
