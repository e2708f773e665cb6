import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Contract, ContractCreate, ContractQuery } from '@keymaster/contract';
import { DomainError, ErrorCodes } from '@keymaster/core';
import type { FastifyRequest } from 'fastify';
import { Webhook } from 'standardwebhooks';
import { claimOf } from '../../http/idempotency.js';
import { parseJson, readBodyAsync } from '../../http/json-body.js';
import { schemaError } from '../../http/problems.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { bodyValidator } from '../../http/validation.js';
import type { ContractService } from './service.js';

const tags = ['Contracts'];

const description =
  "Provisions or amends the customer's subscription with a signed contract's terms (plan, add-ons, grants, " +
  'start and end), through the same path as every billing source: `source: "contract"`, history written by ' +
  '`integration:contract`. Idempotent on `(system, deal_id, revision)`: the same revision again answers the ' +
  'first answer; a lower one is a 409 `stale_revision`. A contract naming an unknown plan changes nothing.';

export const contractRoutes: FastifyPluginAsyncTypebox<{ contracts: ContractService }> = async (app, { contracts }) => {
  app.post(
    '/v1/contracts',
    {
      schema: {
        tags,
        security,
        summary: 'Apply a contract (a CRM deal)',
        description: `${description} With \`?dry_run=true\` it answers what would change and writes nothing.`,
        querystring: ContractQuery,
        body: ContractCreate,
        response: { 200: Contract, 201: Contract, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { created, contract } = await contracts.apply({
        body: request.body,
        dryRun: request.query.dry_run ?? false,
        requestId: request.id,
        claim: claimOf(request),
      });
      return reply.status(created ? 201 : 200).send(contract);
    },
  );
};

const signatureHeaders = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * The signed form of `POST /v1/contracts`, for automation tools (a HubSpot workflow, a Salesforce
 * Flow): Standard Webhooks signatures over the exact bytes received, so the body stays bytes here
 * until it is verified. Standard Webhooks' five-minute window is judged by the real clock, not
 * Keymaster's (which may be simulated): a signature is as old as the wall says.
 */
export const contractWebhookRoutes: FastifyPluginAsyncTypebox<{ contracts: ContractService; secret: string }> = async (
  app,
  { contracts, secret },
) => {
  const webhook = new Webhook(secret);
  const validate = bodyValidator(ContractCreate);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', (request: FastifyRequest, payload: IncomingMessage) =>
    readBodyAsync(payload, request.routeOptions.bodyLimit),
  );

  app.post(
    '/v1/integrations/contracts/webhook',
    {
      config: { signed: true },
      schema: {
        tags,
        security: [],
        summary: 'Apply a signed contract (Standard Webhooks)',
        description:
          `${description} Signed as Standard Webhooks (\`webhook-id\`, \`webhook-timestamp\`, \`webhook-signature\`) ` +
          'with KEYMASTER_CONTRACTS_WEBHOOK_SECRET instead of an API key; a missing or bad signature is a 400 ' +
          '`signature_invalid` and changes nothing. The body is that of `POST /v1/contracts`.',
        body: ContractCreate,
        response: { 200: Contract, 201: Contract, ...problemResponses },
      },
      // Documented above; checked after the signature, against the verified bytes.
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (request, reply) => {
      const bytes = request.body instanceof Uint8Array ? request.body : new Uint8Array();
      const headers: Record<string, string> = {};
      for (const name of signatureHeaders) {
        const value = request.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      try {
        webhook.verify(bytes, headers, { jsonParse: false });
      } catch (error) {
        throw new DomainError({
          kind: 'invalid',
          code: ErrorCodes.signatureInvalid,
          message: `The Standard Webhooks signature does not verify (${error instanceof Error ? error.message : 'unreadable'}): sign the exact body with KEYMASTER_CONTRACTS_WEBHOOK_SECRET.`,
        });
      }
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
      const validated = validate(parseJson(text), text);
      if (validated.error) throw schemaError(validated.error.validation, 'body');
      const { created, contract } = await contracts.apply({
        body: validated.value as ContractCreate,
        dryRun: false,
        requestId: request.id,
      });
      return reply.status(created ? 201 : 200).send(contract);
    },
  );
};
