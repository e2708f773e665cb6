import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Customer, CustomerParams, CustomerUpsert, Page, PageQuery } from '@keymaster/contract';
import { auditActorOf } from '../../http/audit-actor.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiCustomer } from './convert.js';
import type { CustomerService } from './service.js';

const tags = ['Customers'];

export const customerRoutes: FastifyPluginAsyncTypebox<{ customers: CustomerService }> = async (app, { customers }) => {
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
        querystring: PageQuery,
        response: { 200: Page(Customer, 'A page of customers, by id.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await customers.list({ after: decodeCursor(request.query.cursor), limit: limit + 1 });
      return toPage({ rows, limit, sortKey: (c) => c.id, convert: toApiCustomer });
    },
  );

  app.delete(
    '/v1/customers/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Erase a customer (GDPR)',
        description: 'Deletes the customer with their subscriptions and grants.',
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
