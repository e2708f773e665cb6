import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Customer, CustomerParams, CustomerUpsert, Page, PageQuery } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import { auditActorOf } from '../../http/audit-actor.js';
import { hijack } from '../../http/concerns.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiCustomer } from './convert.js';
import { exportContentDisposition, exportFormatVersion } from './export.js';
import { exportDocumentSchema, exportSections } from './export-sections.js';
import type { CustomerService } from './service.js';

const tags = ['Customers'];

const CustomerListQuery = Type.Object(
  {
    ...PageQuery.properties,
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description: 'A prefix of the id (exact), or of the name or email (ignoring case).',
      }),
    ),
  },
  { additionalProperties: false },
);

const exportDescription = `Everything Keymaster holds about the customer, as one JSON document (GDPR access and
portability), sent as an attachment. It is written as it is read, a page of rows at a time, so a customer with millions
of usage events exports in bounded memory; rows written meanwhile may or may not be in it. Secret API keys only.

The object holds \`version\` (${exportFormatVersion}), \`exported_at\`, \`customer\` (as \`GET /v1/customers/{id}\`) and one
array per kind of row, in this order, each in its API form where the API has one:

${exportSections.map((s) => `- \`${s.name}\` — ${s.description}`).join('\n')}

Audit rows stay after an erasure, without their data; everything else goes (see docs/privacy.md). The same document is
written by \`keymaster customers export <id>\`.`;

export const customerRoutes: FastifyPluginAsyncTypebox<{ customers: CustomerService }> = async (app, { customers }) => {
  // Exports being downloaded: a slow (or stalled) client must not hold the server's shutdown.
  const downloads = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const response of downloads) response.destroy();
    done();
  });

  app.put(
    '/v1/customers/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Create or update a customer',
        description:
          'An upsert keyed by your own account id. Fields left out keep their value; `traits` is replaced whole.',
        params: CustomerParams,
        body: CustomerUpsert,
        response: { 200: Customer, 201: Customer, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { customer, created } = await customers.upsert({
        id: request.params.id,
        body: request.body,
        actor: auditActorOf(request),
      });
      return reply.status(created ? 201 : 200).send(toApiCustomer(customer));
    },
  );

  app.get(
    '/v1/customers/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Get a customer',
        params: CustomerParams,
        response: { 200: Customer, ...problemResponses },
      },
    },
    async (request) => toApiCustomer(await customers.get(request.params.id)),
  );

  app.get(
    '/v1/customers',
    {
      schema: {
        tags,
        security,
        summary: 'List customers',
        description:
          'By id. With `q`, only the customers whose id starts with `q`, or whose name or email starts with it ' +
          "ignoring case (the console's search).",
        querystring: CustomerListQuery,
        response: { 200: Page(Customer, 'A page of customers, by id.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await customers.list({
        after: decodeCursor(request.query.cursor),
        limit: limit + 1,
        prefix: request.query.q,
      });
      return toPage({ rows, limit, sortKey: (c) => c.id, convert: toApiCustomer });
    },
  );

  app.get(
    '/v1/customers/:id/export',
    {
      // A HEAD would read the whole export for nothing.
      exposeHeadRoute: false,
      schema: {
        tags,
        security,
        summary: 'Export everything held about a customer (GDPR)',
        description: exportDescription,
        params: CustomerParams,
        response: {
          200: {
            description: 'The export, as an attachment (`Content-Disposition`).',
            content: {
              'application/json': {
                schema: exportDocumentSchema({ customer: Customer, version: exportFormatVersion }),
              },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const document = await customers.export(request.params.id);
      await hijack(request, reply, 200);
      reply.raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string | string[] | number>),
        'content-type': 'application/json; charset=utf-8',
        'content-disposition': exportContentDisposition(request.params.id),
        'cache-control': 'no-store',
      });
      downloads.add(reply.raw);
      try {
        await pipeline(Readable.from(document), reply.raw);
      } catch (error) {
        // The status is sent: the client sees a cut-off document (not JSON), never a complete-looking one.
        if (!reply.raw.destroyed) reply.raw.destroy();
        const clientLeft = (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
        const log = { err: error, customer: request.params.id };
        if (clientLeft) request.log.info(log, 'customer export: the client closed the connection');
        else request.log.error(log, 'customer export failed part way');
      } finally {
        downloads.delete(reply.raw);
      }
    },
  );

  app.delete(
    '/v1/customers/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Erase a customer (GDPR)',
        description:
          'Deletes the customer and every row about them (all that `GET /v1/customers/{id}/export` holds) in one ' +
          'transaction; audit rows about them stay, without their data. See docs/privacy.md.',
        params: CustomerParams,
        response: { 204: { type: 'null', description: 'Erased.' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      await customers.erase(request.params.id, auditActorOf(request));
      return reply.status(204).send();
    },
  );
};
