import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  PortalAddOnRequest,
  PortalChangePreview,
  PortalChangeRequest,
  PortalCheckoutRequest,
  PortalLink,
  PortalRedirect,
  PortalSession,
  PortalSessionCreate,
  PortalSessionExchange,
  PortalView,
  Subscription,
} from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../clock.js';
import { httpProblem, sendProblem } from '../../http/problems.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toIso } from '../../json-column.js';
import type { PortalService } from './service.js';
import { type PortalGrant, type PortalTokens, portalCookie } from './tokens.js';

const tags = ['Customer portal'];

/** Portal routes take the `km_portal` cookie (with `X-CSRF-Token` on changes) or the portal token as a bearer. */
export const portalSecurity: { [scheme: string]: string[] }[] = [{ portalCookie: [] }, { bearerAuth: [] }];

const grantOf = (request: FastifyRequest): PortalGrant => request.principal!.portal!;

const linkExpired = httpProblem(
  'token_expired',
  'This portal link has expired or is not valid: open the portal again from the app.',
);

export const portalRoutes: FastifyPluginAsyncTypebox<{
  portal: PortalService;
  tokens: PortalTokens;
  /** The console's and portal's public address (KEYMASTER_PUBLIC_URL), else the address the request came to. */
  publicUrl: string | undefined;
  clock: Clock;
}> = async (app, { portal, tokens, publicUrl, clock }) => {
  app.post(
    '/v1/portal-sessions',
    {
      config: { readOnly: true, secretFields: ['token', 'url'] },
      schema: {
        tags,
        security,
        summary: 'Create a portal link for a customer',
        description:
          "A link to the customer portal for this one customer, good for one hour: open it in the customer's browser " +
          '(redirect them to `url`). The portal shows their plan, usage, notifications and plan choice, and changes ' +
          'only their subscription. `token` is the same credential, for embedded components (@keymaster/react).',
        body: PortalSessionCreate,
        response: { 201: PortalLink, ...problemResponses },
      },
    },
    async (request, reply) => {
      const minted = await tokens.mint({ customer: request.body.customer, returnUrl: request.body.return_url });
      const base = publicUrl ?? `${request.protocol}://${request.host}`;
      return reply.status(201).send({
        url: `${base}/portal#${minted.token}`,
        token: minted.token,
        expires_at: toIso(minted.expiresAt)!,
      });
    },
  );

  app.post(
    '/v1/portal/session',
    {
      config: { anonymous: true, readOnly: true, secretFields: ['token'] },
      schema: {
        tags,
        security: [],
        summary: 'Open a portal session with a portal link',
        description:
          "Exchanges the link's token for the HttpOnly `km_portal` cookie (Secure, SameSite=Lax), which lasts as long " +
          'as the link. The answer names the customer and the CSRF token to send as `X-CSRF-Token` on changes.',
        body: PortalSessionExchange,
        response: { 201: PortalSession, ...problemResponses },
      },
    },
    async (request, reply) => {
      const verdict = await tokens.verify(request.body.token);
      if (!verdict.valid) return sendProblem(request, reply, linkExpired);
      const { grant } = verdict;
      reply.header('set-cookie', portalCookie(request.body.token, grant.expiresAt - clock.now()));
      return reply
        .status(201)
        .send({ customer: grant.customer, csrf_token: grant.csrfToken, expires_at: toIso(grant.expiresAt)! });
    },
  );

  app.get(
    '/v1/portal/session',
    {
      config: { portal: true },
      schema: {
        tags,
        security: portalSecurity,
        summary: 'The portal session',
        description:
          'The customer and the CSRF token of the session the `km_portal` cookie holds: for a portal page opened in a ' +
          'new tab, which has the cookie but was not given the token.',
        response: { 200: PortalSession, ...problemResponses },
      },
    },
    async (request) => {
      const grant = grantOf(request);
      return { customer: grant.customer, csrf_token: grant.csrfToken, expires_at: toIso(grant.expiresAt)! };
    },
  );

  app.delete(
    '/v1/portal/session',
    {
      config: { portal: true, readOnly: true },
      schema: {
        tags,
        security: portalSecurity,
        summary: 'End the portal session',
        description: 'Clears the `km_portal` cookie in this browser.',
        response: { 204: { type: 'null', description: 'Ended.' }, ...problemResponses },
      },
    },
    async (_request, reply) => {
      reply.header('set-cookie', portalCookie('', 0));
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/portal',
    {
      config: { portal: true },
      schema: {
        tags,
        security: portalSecurity,
        summary: "The portal's customer: plan, usage, plans on sale, notifications",
        response: { 200: PortalView, ...problemResponses },
      },
    },
    async (request) => portal.view(grantOf(request)),
  );

  app.post(
    '/v1/portal/preview',
    {
      config: { portal: true, readOnly: true },
      schema: {
        tags,
        security: portalSecurity,
        summary: 'Preview a plan change',
        description:
          'What moving to the plan would do, for the Confirm step: upgrade or downgrade, when (an upgrade now, a ' +
          'downgrade at period end unless `when` says), what is gained, lost and changed, and where current usage ' +
          'already exceeds a new limit. Changes nothing.',
        body: PortalChangeRequest,
        response: { 200: PortalChangePreview, ...problemResponses },
      },
    },
    async (request) => portal.preview(grantOf(request), request.body as PortalChangeRequest),
  );

  /** Where Stripe sends the customer back: the portal (its session cookie is still there). */
  const portalAddress = (request: FastifyRequest) => `${publicUrl ?? `${request.protocol}://${request.host}`}/portal`;

  app.post(
    '/v1/portal/checkout',
    {
      config: { portal: true, readOnly: true },
      schema: {
        tags,
        security: portalSecurity,
        summary: 'Subscribe through Stripe Checkout',
        description:
          'With Stripe configured (`billing: stripe`), a customer without a subscription buys a plan sold on Stripe: the ' +
          "answer is a Checkout session for its product's default price. Access follows Stripe's webhook; the customer " +
          'returns to the portal.',
        body: PortalCheckoutRequest,
        response: { 200: PortalRedirect, ...problemResponses },
      },
    },
    async (request) => portal.checkout(grantOf(request), request.body as { plan: string }, portalAddress(request)),
  );

  app.post(
    '/v1/portal/billing-portal',
    {
      config: { portal: true, readOnly: true },
      schema: {
        tags,
        security: portalSecurity,
        summary: "Open Stripe's billing portal",
        description:
          "For a subscription Stripe bills: a session of Stripe's billing portal, where the customer changes plan, seats, " +
          "payment method or cancels; access follows Stripe's webhook.",
        body: Type.Object({}, { additionalProperties: false }),
        response: { 200: PortalRedirect, ...problemResponses },
      },
    },
    async (request) => portal.billingPortal(grantOf(request), portalAddress(request)),
  );

  const changes = [
    {
      path: 'change',
      summary: 'Change plan',
      description:
        'Moves the subscription to the plan (an upgrade now, a downgrade at period end unless `when` says); subscribes ' +
        'the customer when they have no subscription.',
      body: PortalChangeRequest,
      run: (request: FastifyRequest) => portal.change(grantOf(request), request.body as PortalChangeRequest),
    },
    {
      path: 'add-ons',
      summary: 'Set an add-on quantity (seats)',
      description: 'Quantity 0 removes the add-on.',
      body: PortalAddOnRequest,
      run: (request: FastifyRequest) => portal.setAddOn(grantOf(request), request.body as PortalAddOnRequest),
    },
    {
      path: 'cancel',
      summary: 'Cancel at period end',
      description: 'Access continues until the end of the period; undo with `undo-cancel` until then.',
      body: Type.Object({}, { additionalProperties: false }),
      run: (request: FastifyRequest) => portal.cancel(grantOf(request)),
    },
    {
      path: 'undo-cancel',
      summary: 'Undo the cancellation',
      description: 'Takes back a cancellation at period end that has not happened yet.',
      body: Type.Object({}, { additionalProperties: false }),
      run: (request: FastifyRequest) => portal.undoCancel(grantOf(request)),
    },
  ] as const;

  for (const change of changes) {
    app.post(
      `/v1/portal/${change.path}`,
      {
        config: { portal: true },
        schema: {
          tags,
          security: portalSecurity,
          summary: change.summary,
          description: change.description,
          body: change.body,
          response: { 200: Subscription, ...problemResponses },
        },
      },
      async (request) => change.run(request),
    );
  }
};
