import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DecisionsQuery, LoggedDecision, Page } from '@keymaster/contract';
import { invalid } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { fromIso } from '../../json-column.js';
import type { DecisionLog } from './log.js';
import { listDecisions, toApiDecisionRow } from './store.js';

export const decisionRoutes: FastifyPluginAsyncTypebox<{ db: Db; log: DecisionLog }> = async (app, { db, log }) => {
  app.get(
    '/v1/decisions',
    {
      schema: {
        tags: ['Decisions'],
        security,
        summary: 'List kept decisions',
        description:
          'Checks and consumes the decision log kept (each feature’s `decision_log`: `denied` by default), newest ' +
          'first, with which layer decided: "why was acme denied at 10:32?". Decisions are written in batches a ' +
          'fraction of a second after they are made; this node’s are written before it answers. Kept for ' +
          '`KEYMASTER_DECISION_RETAIN_DAYS` (30).',
        querystring: DecisionsQuery,
        response: { 200: Page(LoggedDecision, 'A page of decisions, newest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const query = request.query;
      if (query.from !== undefined && query.to !== undefined && fromIso(query.to)! <= fromIso(query.from)!) {
        throw invalid([{ path: '/querystring/to', message: 'must be after from' }]);
      }
      const limit = query.limit ?? 20;
      const before = decodeCursor(query.cursor);
      await log.flush();
      return toPage({
        rows: await listDecisions(db, { query, before, limit }),
        limit,
        sortKey: (row) => row.id,
        convert: toApiDecisionRow,
      });
    },
  );
};
