import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  Page,
  StoredReport,
  StoredReportListQuery,
  StoredReportParams,
  StoredUsageRevenueReport,
  UsageRevenueQuery,
  UsageRevenueReport,
  UsageRevenueReportCreate,
} from '@keymaster/contract';
import { DomainError, invalid } from '@keymaster/core';
import { auditActorOf } from '../../http/audit-actor.js';
import { hijack } from '../../http/concerns.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiStoredReport, usageRevenueJson } from './convert.js';
import { decompressedBody } from './report-body.js';
import type { ReportService } from './service.js';
import type { UsageRevenueService } from './usage-revenue.js';

const tags = ['Reports'];

const usageRevenueDescription =
  'Per customer with a subscription in the range: what it earned (each plan and add-on price per billing ' +
  'period, prorated by the share of the period inside the range; trial, paused, past-due and canceled time ' +
  'earn 0), each limited feature’s limit, usage and utilization (of its usage period at the end of the ' +
  'range), and the flags `upsell`, `unused`, `over_limit`, `unpaid_access`; totals per plan and overall. ' +
  '`evidence` lists the subscriptions, their stretches and billing periods each figure was computed from, ' +
  'and the grants applying; each feature names the source, subscription and grants its limit came from.';

export const reportRoutes: FastifyPluginAsyncTypebox<{
  usageRevenue: UsageRevenueService;
  reports: ReportService;
}> = async (app, { usageRevenue, reports }) => {
  // Reports being downloaded: a slow (or stalled) client must not hold the server's shutdown.
  const downloads = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const response of downloads) response.destroy();
    done();
  });

  app.get(
    '/v1/reports/usage-revenue',
    {
      schema: {
        tags,
        security,
        summary: 'Usage against revenue',
        description: usageRevenueDescription,
        querystring: UsageRevenueQuery,
        response: { 200: UsageRevenueReport, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { from, to, plan, flag } = request.query;
      // Checked before the first byte (a 400 names the field); then streamed a page of customers
      // at a time, so 100,000 customers are never one string in memory.
      const report = await usageRevenue.open({ from: Date.parse(from), to: Date.parse(to), plan, flag });
      return reply.type('application/json; charset=utf-8').send(Readable.from(usageRevenueJson(report)));
    },
  );

  app.post(
    '/v1/reports/usage-revenue',
    {
      schema: {
        tags,
        security,
        summary: 'Store a usage-against-revenue report',
        description:
          'Computes the report `GET /v1/reports/usage-revenue` answers for the range and filters in the body, ' +
          'stores it and answers where it is (`url`); `report.ready` tells the webhooks. The same checks as ' +
          'on demand, each a 400 naming the body field: `to` after `from` and at most 400 days later, a known ' +
          '`plan`, one of the four `flag`s.',
        body: UsageRevenueReportCreate,
        response: { 201: StoredReport, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { from, to, plan, flag } = request.body;
      try {
        const row = await reports.create({
          range: { from: Date.parse(from), to: Date.parse(to), plan, flag },
          made: 'api',
          actor: auditActorOf(request),
          claim: claimOf(request),
        });
        return reply.status(201).send(toApiStoredReport(row));
      } catch (error) {
        throw asBodyFields(error);
      }
    },
  );

  app.get(
    '/v1/reports',
    {
      schema: {
        tags,
        security,
        summary: 'List stored reports',
        description:
          'Stored reports without their documents (each is at its `url`), newest first: those the schedule ' +
          '(KEYMASTER_REVENUE_REPORT_CRON) made, and those made with `POST /v1/reports/usage-revenue` or ' +
          '`keymaster report usage-revenue --save`.',
        querystring: StoredReportListQuery,
        response: { 200: Page(StoredReport, 'A page of stored reports, newest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await reports.list({
        made: request.query.made,
        before: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      return toPage({ rows, limit, sortKey: (row) => row.id, convert: toApiStoredReport });
    },
  );

  app.get(
    '/v1/reports/:id',
    {
      // A HEAD would decompress the whole report for nothing.
      exposeHeadRoute: false,
      schema: {
        tags,
        security,
        summary: 'Get a stored report',
        description:
          'The stored report’s document: what `GET /v1/reports/usage-revenue` answered for its range and ' +
          'filters when it was made, and its `id`. It is stored gzip-compressed and sent as stored ' +
          '(`Content-Encoding: gzip`) to a client that accepts gzip; others get it decompressed as it is sent. ' +
          'Rows of customers erased since are anonymous (see docs/privacy.md).',
        params: StoredReportParams,
        response: {
          200: {
            description: 'The report, with `Content-Encoding: gzip` when the request accepts it.',
            content: { 'application/json': { schema: StoredUsageRevenueReport } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { body } = await reports.get(request.params.id);
      const gzip = acceptsGzip(request.headers['accept-encoding']);
      await hijack(request, reply, 200);
      reply.raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string | string[] | number>),
        'content-type': 'application/json; charset=utf-8',
        vary: 'Accept-Encoding',
        ...(gzip ? { 'content-encoding': 'gzip', 'content-length': body.length } : {}),
      });
      downloads.add(reply.raw);
      try {
        await pipeline(gzip ? Readable.from([body]) : decompressedBody(body), reply.raw);
      } catch (error) {
        // The status is sent: the client sees a cut-off document, never a complete-looking one.
        if (!reply.raw.destroyed) reply.raw.destroy();
        const clientLeft = (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
        const log = { err: error, report: request.params.id };
        if (clientLeft) request.log.info(log, 'stored report: the client closed the connection');
        else request.log.error(log, 'sending a stored report failed part way');
      } finally {
        downloads.delete(reply.raw);
      }
    },
  );
};

/**
 * Whether an `Accept-Encoding` header accepts gzip (RFC 9110): `gzip` or `*` listed without
 * `q=0`, and `gzip` not refused by name even when `*` accepts.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  const weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    weights.set(name.trim(), q === undefined ? 1 : Number(q.slice(2)) || 0);
  }
  const gzip = weights.get('gzip') ?? weights.get('x-gzip') ?? weights.get('*');
  return gzip !== undefined && gzip > 0;
}

/**
 * The report's checks name the query's fields (`/querystring/to`), as the on-demand route takes
 * them; a stored report takes the same fields in its body (`/to`).
 */
function asBodyFields(error: unknown): unknown {
  if (!(error instanceof DomainError) || error.kind !== 'invalid' || !error.errors) return error;
  return invalid(error.errors.map((e) => ({ ...e, path: e.path.replace(/^\/querystring\//, '/') })));
}
