import { ContractEndActions, maxQuantity } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { Grant, GrantCreate } from './grants.js';
import { CatalogKey, CustomerId, FeatureKey, JsonValue, Nullable, StringEnum, Timestamp } from './schema-helpers.js';
import { Subscription } from './subscriptions.js';

const contractEndActions = ContractEndActions;

/** Where a contract comes from: the CRM (or CPQ) system, its deal, and the deal's revision. */
export const ContractSource = Type.Object(
  {
    system: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
      description: 'The system the deal lives in, e.g. `hubspot` or `salesforce`.',
    }),
    deal_id: Type.String({
      pattern: '^[^\\s]{1,255}$',
      description: "The deal's id in that system (HubSpot deal id, Salesforce opportunity id).",
    }),
    revision: Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description:
        'Increases with every change of the deal: a higher one amends, the same one again answers the first ' +
        'answer, a lower one is refused (409 `stale_revision`). A timestamp in milliseconds does.',
    }),
  },
  { additionalProperties: false },
);
export type ContractSource = Static<typeof ContractSource>;

/** A contract's grant: a grant (see `GrantCreate`) whose reason defaults to naming the contract. */
export const ContractGrant = Type.Object(
  {
    ...GrantCreate.properties,
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description: 'Default: "Contract <system>:<deal_id> revision <n>".',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'A custom limit, credit or config value the contract includes. Starts with the contract and, unless ' +
      '`expires_at` says otherwise, ends with it (at `ends_at` when `on_ends_at` is `expire`).',
  },
);
export type ContractGrant = Static<typeof ContractGrant>;

export const ContractCreate = Type.Object(
  {
    customer: CustomerId,
    customer_name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Names the customer when the contract creates it.' }),
    ),
    plan: CatalogKey,
    add_ons: Type.Optional(
      Type.Array(
        Type.Object(
          { plan: CatalogKey, quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: maxQuantity, default: 1 })) },
          { additionalProperties: false },
        ),
        { maxItems: 50 },
      ),
    ),
    grants: Type.Optional(Type.Array(ContractGrant, { maxItems: 100 })),
    starts_at: Type.Optional(Timestamp),
    ends_at: Timestamp,
    on_ends_at: Type.Optional(
      StringEnum(contractEndActions, {
        description: '`expire` (default): access ends at `ends_at`; `renew`: another term of the same length.',
      }),
    ),
    source: ContractSource,
  },
  {
    additionalProperties: false,
    description:
      "Provisions or amends the customer's subscription with the contract's terms. Creates the customer when " +
      'it does not exist.',
  },
);
export type ContractCreate = Static<typeof ContractCreate>;

export const ContractQuery = Type.Object(
  {
    dry_run: Type.Optional(
      Type.Boolean({ default: false, description: 'Answer what would change, and change nothing.' }),
    ),
  },
  { additionalProperties: false },
);
export type ContractQuery = Static<typeof ContractQuery>;

/** What the customer may use once the contract applies, one feature a row. */
export const ContractEntitlement = Type.Object({
  feature: FeatureKey,
  enabled: Type.Boolean(),
  limit: Nullable(Type.Integer({ description: 'null: unlimited or not counted.' })),
  unlimited: Type.Boolean(),
  value: JsonValue,
  source: Nullable(Type.String({ description: '`plan`, `addon`, `grant`, `targeting` or `default`.' })),
});
export type ContractEntitlement = Static<typeof ContractEntitlement>;

export const Contract = Type.Object(
  {
    source: ContractSource,
    outcome: StringEnum(['created', 'amended'] as const, {
      description: '`created`: the contract provisioned a subscription; `amended`: it changed the one it had.',
    }),
    dry_run: Type.Boolean({ description: 'true: nothing was written; this is what would be.' }),
    subscription: Subscription,
    previous: Nullable(Subscription),
    entitlements: Type.Array(ContractEntitlement),
    grants: Type.Array(Grant, { description: "The contract's grants in this revision." }),
    revoked_grants: Type.Array(Type.String(), { description: "Ids of the previous revision's grants it revoked." }),
  },
  { description: "A contract's effect on the customer's subscription, entitlements and grants." },
);
export type Contract = Static<typeof Contract>;
