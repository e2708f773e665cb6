import { createPublicKey, type KeyObject } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AuditCheckpoint,
  AuditCheckpointsQuery,
  AuditEvent,
  AuditEventsQuery,
  AuditVerification,
  Page,
} from '@keymaster/contract';
import { invalid } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { fromIso } from '../../json-column.js';
import { listCheckpoints, makeCheckpoint, toApiCheckpoint } from './checkpoints.js';
import { toApiAuditEvent } from './convert.js';
import { sealAudit, verifyAudit } from './trail.js';

const tags = ['Audit'];

export const auditRoutes: FastifyPluginAsyncTypebox<{
  db: Db;
  clock: Clock;
  signingKey: KeyObject | undefined;
}> = async (app, { db, clock, signingKey }) => {
  const publicKey = signingKey ? createPublicKey(signingKey) : undefined;
  app.get(
    '/v1/audit-events',
    {
      schema: {
        tags,
        security,
        summary: 'List the audit trail',
        description:
          'Every change, newest first: who (actor), what (action, target), when, and the changed fields before and ' +
          'after. Each row’s `hash` commits to the row and to the one before it (see `GET /v1/audit-events/verify`).',
        querystring: AuditEventsQuery,
        response: { 200: Page(AuditEvent, 'A page of audit events, newest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const query = request.query;
      const limit = query.limit ?? 20;
      const before = decodeCursor(query.cursor);
      // Every change committed before the request is in the answer.
      await sealAudit(db);
      let select = db
        .selectFrom('audit_events')
        .selectAll()
        .orderBy('seq', 'desc')
        .limit(limit + 1);
      if (before !== undefined) {
        if (!/^\d{1,15}$/.test(before)) {
          throw invalid([{ path: '/querystring/cursor', message: 'is not a cursor this API returned' }]);
        }
        select = select.where('seq', '<', Number(before));
      }
      if (query.actor_type !== undefined) select = select.where('actor_type', '=', query.actor_type);
      if (query.actor_id !== undefined) select = select.where('actor_id', '=', query.actor_id);
      if (query.action !== undefined) select = select.where('action', '=', query.action);
      if (query.target_type !== undefined) select = select.where('target_type', '=', query.target_type);
      if (query.target_id !== undefined) select = select.where('target_id', '=', query.target_id);
      if (query.customer !== undefined) select = select.where('customer_id', '=', query.customer);
      if (query.from !== undefined) select = select.where('at', '>=', fromIso(query.from)!);
      if (query.to !== undefined) select = select.where('at', '<', fromIso(query.to)!);
      return toPage({
        rows: await select.execute(),
        limit,
        sortKey: (row) => String(row.seq),
        convert: toApiAuditEvent,
      });
    },
  );

  app.get(
    '/v1/audit-events/verify',
    {
      schema: {
        tags,
        security,
        summary: 'Verify the audit trail',
        description:
          'Recomputes every link of the chain, not only its ends, and names the first row that was edited, ' +
          'deleted or moved. Once old rows were pruned it starts from the latest retention checkpoint, whose ' +
          'signature must hold under `KEYMASTER_AUDIT_SIGNING_KEY` (when set; else under the key the checkpoint ' +
          'names): an edited checkpoint fails at its `seq`. The same check as `keymaster audit verify`.',
        response: { 200: AuditVerification, ...problemResponses },
      },
    },
    async () => {
      const verdict = await verifyAudit(db, { publicKey });
      return verdict.ok
        ? {
            ok: true,
            count: verdict.count,
            head: verdict.head,
            from_seq: verdict.from,
            first_bad_seq: null,
            reason: null,
          }
        : {
            ok: false,
            count: verdict.checked,
            head: null,
            from_seq: verdict.from,
            first_bad_seq: verdict.seq,
            reason: verdict.reason,
          };
    },
  );

  app.post(
    '/v1/audit-events/checkpoints',
    {
      schema: {
        tags,
        security,
        summary: 'Make a checkpoint of the audit trail',
        description:
          'Verifies the whole chain, then stores and answers its head: `seq`, hash, the rows held and the time, ' +
          'signed with Ed25519 when `KEYMASTER_AUDIT_SIGNING_KEY` is set. Keep it outside the database: ' +
          '`keymaster audit verify --checkpoint` later shows whether the chain still holds that row with that hash. ' +
          'A broken chain answers 409 `audit_chain_broken`. The same as `keymaster audit checkpoint`.',
        response: { 201: AuditCheckpoint, ...problemResponses },
      },
    },
    async (_request, reply) => {
      const row = await makeCheckpoint({ db, now: clock.now(), signingKey });
      return reply.status(201).send(toApiCheckpoint(row));
    },
  );

  app.get(
    '/v1/audit-events/checkpoints',
    {
      schema: {
        tags,
        security,
        summary: 'List the checkpoints of the audit trail',
        description:
          'Newest first: the ones made on request (`manual`) and the ones pruning made (`retention`), from the ' +
          'latest of which verification starts.',
        querystring: AuditCheckpointsQuery,
        response: { 200: Page(AuditCheckpoint, 'A page of checkpoints, newest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const cursor = decodeCursor(request.query.cursor);
      const match = cursor === undefined ? undefined : /^(\d{1,15}):(acp_[0-9a-z]{26})$/.exec(cursor);
      if (cursor !== undefined && !match) {
        throw invalid([{ path: '/querystring/cursor', message: 'is not a cursor this API returned' }]);
      }
      const rows = await listCheckpoints(db, {
        before: match ? { seq: Number(match[1]), id: match[2]! } : undefined,
        reason: request.query.reason,
        limit: limit + 1,
      });
      return toPage({ rows, limit, sortKey: (row) => `${row.seq}:${row.id}`, convert: toApiCheckpoint });
    },
  );
};
