import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AddOnUpdate,
  CancelRequest,
  ChangeRequest,
  CustomerParams,
  HistoryEntry,
  Page,
  PageQuery,
  PastDueRequest,
  PauseRequest,
  PlanMigrationRequest,
  PlanMigrationResult,
  PlanParams,
  Subscription,
  SubscriptionCreate,
  SubscriptionParams,
  SubscriptionUpdate,
  TransitionRequest,
} from '@keymaster/contract';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import type { EffectClaim } from '../../db/transaction.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiSubscription } from './convert.js';
import type { PlanMigration } from './plan-migration.js';
import type { SubscriptionService } from './service.js';
import { listHistory } from './store.js';
import type { Actor } from './transitions.js';

const tags = ['Subscriptions'];

export const subscriptionRoutes: FastifyPluginAsyncTypebox<{
  subscriptions: SubscriptionService;
  planMigration: PlanMigration;
  clock: Clock;
  database: Db;
}> = async (app, { subscriptions, planMigration, clock, database }) => {
  app.post(
    '/v1/plans/:key/migrate',
    {
      schema: {
        tags: ['Plans'],
        security,
        summary: "Migrate a plan version's subscribers",
        description:
          "Moves subscribers from `from_version` to `to_version` (published), now or at each one's period end. " +
          'With `dry_run`, changes nothing and lists per customer what they gain, lose and see change, and where ' +
          'their current usage would exceed a new limit.',
        params: PlanParams,
        body: PlanMigrationRequest,
        response: { 200: PlanMigrationResult, ...problemResponses },
      },
    },
    async (request) =>
      // No claim: a migration is one transaction per subscription, and a retry after a crash
      // finishes the ones not yet moved (those moved are skipped), which a claim would prevent.
      planMigration.migrate({ key: request.params.key, body: request.body, actor: actorOf(request) }),
  );

  app.post(
    '/v1/customers/:id/subscriptions',
    {
      schema: {
        tags,
        security,
        summary: 'Subscribe a customer to a plan',
        description:
          "Provisions the plan's latest published version (with its trial, if any). One live subscription per customer.",
        params: CustomerParams,
        body: SubscriptionCreate,
        response: { 201: Subscription, ...problemResponses },
      },
    },
    async (request, reply) => {
      const subscription = await subscriptions.create({
        customerId: request.params.id,
        body: request.body,
        actor: actorOf(request),
        claim: claimOf(request),
      });
      return reply.status(201).send(toApiSubscription(subscription, clock.now()));
    },
  );

  app.get(
    '/v1/customers/:id/subscriptions',
    {
      schema: {
        tags,
        security,
        summary: "List a customer's subscriptions",
        description: 'Newest first.',
        params: CustomerParams,
        querystring: PageQuery,
        response: { 200: Page(Subscription, 'A page of subscriptions.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await subscriptions.list({
        customerId: request.params.id,
        before: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      const now = clock.now();
      return toPage({ rows, limit, sortKey: (s) => s.id, convert: (s) => toApiSubscription(s, now) });
    },
  );

  app.get(
    '/v1/subscriptions/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Get a subscription',
        params: SubscriptionParams,
        response: { 200: Subscription, ...problemResponses },
      },
    },
    async (request) => toApiSubscription(await subscriptions.get(request.params.id), clock.now()),
  );

  /** The transitions: each is a POST on the subscription answering it as it now stands. */
  const transitions = [
    {
      path: 'cancel',
      summary: 'Cancel a subscription',
      description:
        '`when: now` (default) ends access at once; `period_end` at the end of the current period, undoable ' +
        'with `undo-cancel` until then.',
      body: CancelRequest,
      run: subscriptions.cancel,
    },
    {
      path: 'undo-cancel',
      summary: 'Undo a cancellation at period end',
      description: 'Takes back a `period_end` cancellation that has not happened yet.',
      body: TransitionRequest,
      run: subscriptions.undoCancel,
    },
    {
      path: 'change',
      summary: 'Change plan (upgrade or downgrade)',
      description:
        "Moves to another base plan's latest published version. Upgrades apply now (the period and its usage " +
        'carry over); downgrades default to the period end and show as `scheduled_change` until then; a second ' +
        'change replaces a scheduled one. Nothing is deleted when a gauge ends above the new cap: adding more is ' +
        'refused until it is back under.',
      body: ChangeRequest,
      run: subscriptions.change,
    },
    {
      path: 'activate',
      summary: 'Mark as paid',
      description: 'Converts a trial to active now, or settles a past-due subscription.',
      body: TransitionRequest,
      run: subscriptions.activate,
    },
    {
      path: 'past-due',
      summary: 'Mark as past due',
      description: 'Access continues for the grace period (`grace_days`), then the subscription is suspended (paused).',
      body: PastDueRequest,
      run: subscriptions.markPastDue,
    },
    {
      path: 'pause',
      summary: 'Pause',
      description: 'Access stops (or falls back to the fallback plan) until resumed, or until `resumes_at`.',
      body: PauseRequest,
      run: subscriptions.pause,
    },
    {
      path: 'resume',
      summary: 'Resume a paused subscription',
      description: 'Access returns now, and a new billing period starts now.',
      body: TransitionRequest,
      run: subscriptions.resume,
    },
    {
      path: 'add-ons',
      summary: 'Attach, resize or detach an add-on',
      description: 'Sets the quantity of an add-on plan on the subscription; quantity 0 detaches it.',
      body: AddOnUpdate,
      run: subscriptions.setAddOn,
    },
  ] as const;

  for (const transition of transitions) {
    app.post(
      `/v1/subscriptions/:id/${transition.path}`,
      {
        schema: {
          tags,
          security,
          summary: transition.summary,
          description: transition.description,
          params: SubscriptionParams,
          body: transition.body,
          response: { 200: Subscription, ...problemResponses },
        },
      },
      async (request) => {
        const run = transition.run as (input: {
          id: string;
          body: object;
          actor: Actor;
          claim: EffectClaim | undefined;
        }) => ReturnType<typeof subscriptions.get>;
        const body = (request.body ?? {}) as object;
        return toApiSubscription(
          await run({ id: request.params.id, body, actor: actorOf(request), claim: claimOf(request) }),
          clock.now(),
        );
      },
    );
  }

  app.patch(
    '/v1/subscriptions/:id',
    {
      schema: {
        tags,
        security,
        summary: "Edit a subscription's terms",
        description:
          '`on_trial_end: activate` once a payment method is on file (the trial then converts at its end); ' +
          '`ends_at` sets or clears the contract end.',
        params: SubscriptionParams,
        body: SubscriptionUpdate,
        response: { 200: Subscription, ...problemResponses },
      },
    },
    async (request) =>
      toApiSubscription(
        await subscriptions.update({
          id: request.params.id,
          body: request.body,
          actor: actorOf(request),
          claim: claimOf(request),
        }),
        clock.now(),
      ),
  );

  app.get(
    '/v1/subscriptions/:id/history',
    {
      config: { readOnly: true },
      schema: {
        tags,
        security,
        summary: "A subscription's history",
        description:
          'Every change, newest first: what happened, when it took effect, who did it (`key:<id>` or `scheduler`), ' +
          'why, and the subscription before and after.',
        params: SubscriptionParams,
        querystring: PageQuery,
        response: { 200: Page(HistoryEntry, 'A page of history entries.'), ...problemResponses },
      },
    },
    async (request) => {
      await subscriptions.get(request.params.id);
      const limit = request.query.limit ?? 20;
      const rows = await listHistory(database, {
        subscriptionId: request.params.id,
        before: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      return toPage({ rows, limit, sortKey: (r) => r.cursor, convert: (r) => r.entry });
    },
  );
};

/** Who is making a request, as history records it: `user:<id>` for a console user, `key:<id>` for a key. */
function actorOf(request: FastifyRequest): Actor {
  const user = request.principal?.user;
  if (user) return `user:${user.userId}`;
  return request.principal ? `key:${request.principal.keyId}` : 'unknown';
}
