import { type Static, Type } from '@sinclair/typebox';
import { Entitlement } from './entitlements.js';
import { Notification } from './notifications.js';
import { Price } from './plans.js';
import { CatalogKey, CustomerId, Nullable, StringEnum, Timestamp } from './schema-helpers.js';
import { Subscription } from './subscriptions.js';

/**
 * The customer portal: a SaaS's backend asks for a short-lived link for one customer
 * (`POST /v1/portal-sessions`); the customer's browser exchanges it for a cookie scoped to that
 * customer (`POST /v1/portal/session`) and then reads and changes only that customer's plan
 * through `/v1/portal…`. An embedded component may instead send the link's token as a bearer
 * credential.
 */

export const PortalSessionCreate = Type.Object(
  {
    customer: CustomerId,
    return_url: Type.Optional(
      Type.String({
        maxLength: 2000,
        pattern: '^https?://',
        description: 'Where the portal\'s "Back" link leads (your app).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PortalSessionCreate = Static<typeof PortalSessionCreate>;

export const PortalLink = Type.Object(
  {
    url: Type.String({ description: 'Open it in the customer’s browser: `<KEYMASTER_PUBLIC_URL>/portal#<token>`.' }),
    token: Type.String({
      description:
        'The same credential as the link carries, for embedded components (`Authorization: Bearer`); a secret of the customer’s.',
    }),
    expires_at: Timestamp,
  },
  { description: 'A portal link for one customer, good until `expires_at` (one hour).' },
);
export type PortalLink = Static<typeof PortalLink>;

export const PortalSessionExchange = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);

export const PortalSession = Type.Object(
  {
    customer: Type.String(),
    csrf_token: Type.String({ description: 'Send it as `X-CSRF-Token` on every change made with the cookie.' }),
    expires_at: Timestamp,
  },
  { description: 'A portal session; the session itself is the HttpOnly `km_portal` cookie.' },
);
export type PortalSession = Static<typeof PortalSession>;

export const PortalFeature = Type.Object({
  feature: Type.String(),
  name: Type.String(),
  type: Type.String(),
  limit: Nullable(Type.Integer()),
  unlimited: Type.Boolean(),
  reset: Nullable(Type.String()),
  window: Nullable(Type.String()),
});
export type PortalFeature = Static<typeof PortalFeature>;

export const portalPlanRelations = ['current', 'upgrade', 'downgrade'] as const;
export const portalBillings = ['keymaster', 'stripe', 'contract'] as const;

export const PortalPlan = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  price: Nullable(Price),
  features: Type.Array(PortalFeature, { description: 'What the plan enables, feature by feature.' }),
  relation: StringEnum(portalPlanRelations, {
    description: 'Against the customer’s plan: by monthly-equivalent price, as plan changes are timed.',
  }),
});
export type PortalPlan = Static<typeof PortalPlan>;

export const PortalAddOn = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  price: Nullable(Price),
  features: Type.Array(PortalFeature),
  quantity: Type.Integer({ description: 'How many the subscription has now (0: none).' }),
});
export type PortalAddOn = Static<typeof PortalAddOn>;

export const PortalView = Type.Object(
  {
    customer: Type.Object({ id: Type.String(), name: Nullable(Type.String()) }),
    subscription: Nullable(Subscription),
    plans: Type.Array(PortalPlan, { description: 'Published base plans, cheapest first.' }),
    add_ons: Type.Array(PortalAddOn, { description: 'Published add-ons.' }),
    entitlements: Type.Array(Entitlement, { description: 'Every feature now, with usage, limit and reset.' }),
    notifications: Type.Array(Notification, { description: 'The newest 20.' }),
    return_url: Nullable(Type.String()),
    billing: StringEnum(portalBillings, {
      description:
        'How plan changes are made: `keymaster` directly (`/v1/portal/change` and the rest); `stripe` through Stripe ' +
        '(`/v1/portal/checkout` to subscribe, `/v1/portal/billing-portal` to change a Stripe subscription), access ' +
        'following its webhook; `contract` not in the portal (the plan is set by a signed contract).',
    }),
  },
  { description: 'Everything the portal shows a customer.' },
);
export type PortalView = Static<typeof PortalView>;

export const PortalChangeRequest = Type.Object(
  {
    plan: CatalogKey,
    when: Type.Optional(
      StringEnum(['now', 'period_end'] as const, {
        description: 'Default: `now` for an upgrade, `period_end` for a downgrade.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PortalChangeRequest = Static<typeof PortalChangeRequest>;

const Terms = Type.Object({ enabled: Type.Boolean(), limit: Nullable(Type.Integer()) });

export const PortalChangePreview = Type.Object(
  {
    plan: Type.String(),
    relation: StringEnum(['upgrade', 'downgrade'] as const),
    when: StringEnum(['now', 'period_end'] as const),
    at: Timestamp,
    price_now: Nullable(Price),
    price_after: Nullable(Price),
    gains: Type.Array(Type.String(), { description: 'Features the customer gets.' }),
    losses: Type.Array(Type.String(), { description: 'Features the customer loses.' }),
    changes: Type.Array(Type.Object({ feature: Type.String(), from: Terms, to: Terms })),
    over_limit: Type.Array(Type.Object({ feature: Type.String(), usage: Type.Number(), limit: Type.Integer() }), {
      description: 'Where current usage already exceeds the new plan’s limit.',
    }),
  },
  { description: 'What a plan change would do, before it is confirmed; changes nothing.' },
);
export type PortalChangePreview = Static<typeof PortalChangePreview>;

export const PortalCheckoutRequest = Type.Object({ plan: CatalogKey }, { additionalProperties: false });
export type PortalCheckoutRequest = Static<typeof PortalCheckoutRequest>;

export const PortalRedirect = Type.Object(
  { url: Type.String({ description: "Send the customer's browser there (Stripe)." }) },
  { description: 'Where the customer continues: a Stripe Checkout or billing-portal session.' },
);
export type PortalRedirect = Static<typeof PortalRedirect>;

export const PortalAddOnRequest = Type.Object(
  { plan: CatalogKey, quantity: Type.Integer({ minimum: 0, maximum: 10_000 }) },
  { additionalProperties: false },
);
export type PortalAddOnRequest = Static<typeof PortalAddOnRequest>;
