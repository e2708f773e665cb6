import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Page, PageQuery, StripeEvent, StripeWebhookResult } from '@keymaster/contract';
import { DomainError, ErrorCodes } from '@keymaster/core';
import type { FastifyRequest } from 'fastify';
import Stripe from 'stripe';
import type { Clock } from '../../../clock.js';
import { readBodyAsync } from '../../../http/json-body.js';
import { decodeCursor, toPage } from '../../../http/pagination.js';
import { httpProblem, malformedJsonError, sendProblem } from '../../../http/problems.js';
import { problemResponses, security } from '../../../http/route-helpers.js';
import { toApiStripeEvent } from './convert.js';
import { StripeEventFailed, type StripeService } from './service.js';

const tags = ['Integrations'];

/** Stripe's own limit on the age of a signed delivery: older ones may be replays by someone else. */
const toleranceSeconds = 300;

const signatureInvalid = () =>
  new DomainError({
    kind: 'invalid',
    code: ErrorCodes.signatureInvalid,
    message: 'The Stripe-Signature header is missing or does not sign this body with the webhook secret within 300 s.',
  });

export const stripeRoutes: FastifyPluginAsyncTypebox<{
  stripe: StripeService;
  /** KEYMASTER_STRIPE_WEBHOOK_SECRET; without it the webhook route does not exist. */
  webhookSecret: string | undefined;
  clock: Clock;
}> = async (app, { stripe, webhookSecret, clock }) => {
  app.get(
    '/v1/integrations/stripe/events',
    {
      schema: {
        tags,
        security,
        summary: 'List received Stripe events',
        description: 'Every event Stripe delivered, newest first, with what became of it.',
        querystring: PageQuery,
        response: { 200: Page(StripeEvent, 'A page of Stripe events, newest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await stripe.list({ before: decodeCursor(request.query.cursor), limit: limit + 1 });
      return toPage({ rows, limit, sortKey: (row) => row.id, convert: toApiStripeEvent });
    },
  );

  if (webhookSecret === undefined) return;

  // The signature covers the body's bytes as sent: here they stay bytes, for these routes only.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', (request: FastifyRequest, payload: IncomingMessage) =>
    readBodyAsync(payload, request.routeOptions.bodyLimit),
  );

  app.post(
    '/v1/integrations/stripe/webhook',
    {
      schema: {
        tags,
        // No API key: the signature is the credential.
        security: [],
        summary: 'Receive a Stripe event',
        description:
          'The endpoint to give Stripe (see docs/stripe.md). Authenticated by its `Stripe-Signature` header, not an ' +
          'API key: a missing or bad signature is a 400 `signature_invalid` and changes nothing. Answers 200 once ' +
          'the event is applied or recorded (ignored, stale, duplicate); 503 when applying failed, so Stripe retries.',
        headers: {
          type: 'object',
          properties: { 'stripe-signature': { type: 'string', description: 'Set by Stripe.' } },
        },
        response: { 200: StripeWebhookResult, ...problemResponses },
      },
      // The signature is the credential (see http/auth.ts).
      config: { signed: true },
      // The body is checked by its signature, then read by the service.
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (request, reply) => {
      const body = request.body;
      const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : '', 'utf8');
      const header = request.headers['stripe-signature'];
      let event: unknown;
      try {
        if (typeof header !== 'string' || header === '') throw signatureInvalid();
        event = Stripe.webhooks.constructEvent(
          payload,
          header,
          webhookSecret,
          toleranceSeconds,
          undefined,
          clock.now(),
        );
      } catch (error) {
        if (error instanceof Stripe.errors.StripeSignatureVerificationError) throw signatureInvalid();
        // Signed, but not JSON.
        if (error instanceof SyntaxError) throw malformedJsonError(error);
        throw error;
      }
      try {
        return await stripe.receive({ event, payload: payload.toString('utf8'), requestId: request.id });
      } catch (error) {
        if (error instanceof StripeEventFailed) {
          return sendProblem(request, reply, httpProblem('stripe_event_failed', error.message));
        }
        throw error;
      }
    },
  );
};
