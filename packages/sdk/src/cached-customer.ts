import { apiDecision, type CustomerEntitlements, type Entitlement as SnapshotEntry } from '@keymaster/contract';
import {
  type Decision as CoreDecision,
  type Entitlement as CoreEntitlement,
  type Denial,
  decide,
  type EntitlementSource,
  exceedsAllowance,
  type FeatureType,
  type JsonValue,
  maxQuantity,
  type Overage,
  unknownDecision,
  windowBucketMs,
} from '@keymaster/core';
import type { Decision } from './decision.js';

/** How a feature's answer depends on the quantity asked for. */
const always = 0;
const never = 1;
const compare = 2;

/**
 * One feature of a cached customer, precomputed when the snapshot arrives so that a check is a
 * comparison and a field read: the answer objects exist already (fresh and, made on first need,
 * stale), so the hot path allocates nothing.
 */
export interface FeatureSlot {
  mode: typeof always | typeof never | typeof compare;
  usage: number;
  limit: number;
  /** One-off credits left on top of the allowance (drawn after it); 0 without. */
  credits: number;
  /** Units of the counter one unit costs: a credit pool's `per_unit`, else 1. */
  perUnit: number;
  allowed: Decision;
  denied: Decision;
  staleAllowed: Decision | null;
  staleDenied: Decision | null;
}

/** A customer in the cache: their features' slots and what decides when to refetch. */
export interface CachedCustomer {
  id: string;
  /** False for a customer the server does not know (404): every check is `unknown_customer`. */
  known: boolean;
  slots: Map<string, FeatureSlot>;
  /** The snapshot's `computed_at`. */
  asOf: string;
  /** SDK clock when the snapshot arrived or was last confirmed current (poll, stream). */
  fetchedAt: number;
  /**
   * SDK clock instant after which the snapshot may be wrong by the passage of time alone: its
   * `valid_until`, a usage period's end, a rolling window's next minute. A check after it still
   * answers from the snapshot and triggers a refetch.
   */
  expiresAt: number;
  /** Set by a catalog or reset event: answer, but refetch. */
  dirty: boolean;
  /** The CLOCK eviction bit: set by every check, cleared when eviction passes over it. */
  referenced: boolean;
}

/** Unknown features asked of one customer, remembered so repeats allocate nothing; bounded. */
const maxUnknownSlots = 64;

function toCoreEntitlement(entry: SnapshotEntry): CoreEntitlement {
  // The entry's reason is the answer to quantity 0: anything but entitled or limit_reached is a
  // denial, also when the feature itself is on (one drawing from a pool that is off is denied).
  const off = entry.reason !== 'entitled' && entry.reason !== 'limit_reached';
  return {
    feature: entry.feature,
    type: entry.type as FeatureType,
    enabled: !off,
    denial: off ? (entry.reason as Denial) : null,
    limit: entry.limit,
    unlimited: entry.unlimited,
    // The period comes from the snapshot's resets_at, so decide must not compute its own.
    reset: null,
    window: null,
    overage: entry.overage as Overage | null,
    value: entry.value as JsonValue,
    source: entry.source as EntitlementSource | null,
    billing: null,
    period: null,
    credits: creditsOf(entry),
  };
}

/** Credits left, read back from the snapshot: its balance beyond what the allowance leaves. */
function creditsOf(entry: SnapshotEntry): number {
  if (entry.limit === null || entry.balance === null) return 0;
  return Math.max(0, entry.balance - Math.max(0, entry.limit - (entry.usage ?? 0)));
}

/**
 * A cached answer: core's decision as the server puts it on the wire (`apiDecision`, the server's
 * own mapping), marked as decided locally. Made when a snapshot arrives, never per check.
 */
function cachedDecision(input: {
  decision: CoreDecision;
  resetsAt: string | null;
  asOf: string;
  stale: boolean;
}): Decision {
  // `upgrade` stays null: suggestions need the catalog, which the SDK does not hold (`checkRemote`
  // answers a paywall). Assigned rather than spread: the answer keeps the literal's in-object fields.
  const decision: Decision = Object.assign(apiDecision(input.decision, input.resetsAt), {
    source: 'cache' as const,
    stale: input.stale,
    as_of: input.asOf,
  });
  return Object.freeze(decision);
}

/**
 * The slot for one snapshot entry, decided with core's `decide` — the server's own code — at
 * quantity 0 and at the largest quantity: what does not change between the two never depends
 * on the quantity; what does is decided per check by `exceedsAllowance`, decide's own limit test.
 */
export function buildSlot(input: {
  customer: string;
  entry: SnapshotEntry;
  usage?: number;
  asOf: string;
}): FeatureSlot {
  const { entry } = input;
  const entitlement = toCoreEntitlement(entry);
  const usage = input.usage ?? entry.usage ?? 0;
  // A feature drawing from a credit pool is decided in the pool's units, as the server does.
  const perUnit = entry.credit_cost?.per_unit ?? 1;
  const creditCost = entry.credit_cost ? { pool: entry.credit_cost.pool, perUnit } : null;
  const at = (quantity: number) =>
    cachedDecision({
      decision: {
        ...decide({ customer: input.customer, entitlement, usage, quantity: quantity * perUnit, now: 0 }),
        creditCost,
      },
      resetsAt: entry.resets_at,
      asOf: input.asOf,
      stale: false,
    });
  const none = at(0);
  const most = at(maxQuantity);
  const mode = most.allowed ? always : !none.allowed && none.reason !== 'limit_reached' ? never : compare;
  return {
    mode,
    usage,
    limit: entry.limit ?? Number.POSITIVE_INFINITY,
    credits: entitlement.credits,
    perUnit,
    allowed: none.allowed ? none : most,
    denied: none.allowed ? most : none,
    staleAllowed: null,
    staleDenied: null,
  };
}

function fixedSlot(decision: Decision): FeatureSlot {
  return {
    mode: decision.allowed ? always : never,
    usage: 0,
    limit: 0,
    credits: 0,
    perUnit: 1,
    allowed: decision,
    denied: decision,
    staleAllowed: null,
    staleDenied: null,
  };
}

/** The answer a slot gives to `quantity`, fresh or marked stale (stale copies made once). */
export function answer(slot: FeatureSlot, quantity: number, stale: boolean): Decision {
  const ok =
    slot.mode === always ||
    (slot.mode === compare && !exceedsAllowance(slot.limit, slot.credits, slot.usage, quantity * slot.perUnit));
  if (!stale) return ok ? slot.allowed : slot.denied;
  if (ok) {
    if (slot.staleAllowed === null) slot.staleAllowed = Object.freeze({ ...slot.allowed, stale: true });
    return slot.staleAllowed;
  }
  if (slot.staleDenied === null) slot.staleDenied = Object.freeze({ ...slot.denied, stale: true });
  return slot.staleDenied;
}

function expiryOf(snapshot: CustomerEntitlements, receivedAt: number): number {
  // Server instants are converted to the SDK clock by the offset at arrival, so a skewed client
  // clock neither refetches forever nor never.
  const serverNow = Date.parse(snapshot.computed_at);
  const offset = Number.isFinite(serverNow) ? receivedAt - serverNow : 0;
  let expires = snapshot.valid_until === null ? Number.POSITIVE_INFINITY : Date.parse(snapshot.valid_until);
  for (const entry of snapshot.entitlements) {
    if (entry.resets_at !== null) expires = Math.min(expires, Date.parse(entry.resets_at));
    // A rolling window's usage moves every bucket as old usage falls out of it.
    if (entry.window !== null && entry.enabled)
      expires = Math.min(expires, (Math.floor(serverNow / windowBucketMs) + 1) * windowBucketMs);
  }
  return Number.isNaN(expires) ? receivedAt : expires + offset;
}

/** Compiles a snapshot (from `GET /v1/customers/{id}/entitlements` or the stream). */
export function compileSnapshot(input: { snapshot: CustomerEntitlements; receivedAt: number }): CachedCustomer {
  const { snapshot } = input;
  const slots = new Map<string, FeatureSlot>();
  for (const entry of snapshot.entitlements) {
    slots.set(entry.feature, buildSlot({ customer: snapshot.customer, entry, asOf: snapshot.computed_at }));
  }
  return {
    id: snapshot.customer,
    known: true,
    slots,
    asOf: snapshot.computed_at,
    fetchedAt: input.receivedAt,
    expiresAt: expiryOf(snapshot, input.receivedAt),
    dirty: false,
    referenced: true,
  };
}

/** A customer the server answered 404 for. */
export function unknownCustomer(input: { id: string; receivedAt: number; asOf: string }): CachedCustomer {
  return {
    id: input.id,
    known: false,
    slots: new Map(),
    asOf: input.asOf,
    fetchedAt: input.receivedAt,
    expiresAt: Number.POSITIVE_INFINITY,
    dirty: false,
    referenced: true,
  };
}

/**
 * The slot for a feature the customer's snapshot lacks. Every snapshot lists every feature of the
 * catalog, so the feature is unknown — unless the customer is unknown too: the server names the
 * feature first when it knows neither, so `knownFeatures` (the last snapshot's features, from any
 * customer) tells which; with no snapshot seen yet, `unknown_customer`.
 */
export function missingSlot(input: {
  customer: CachedCustomer;
  feature: string;
  knownFeatures: ReadonlySet<string> | null;
}): FeatureSlot {
  const { customer, feature } = input;
  const reason =
    customer.known || (input.knownFeatures !== null && !input.knownFeatures.has(feature))
      ? 'unknown_feature'
      : 'unknown_customer';
  const slot = fixedSlot(
    cachedDecision({
      decision: unknownDecision({ customer: customer.id, feature, reason }),
      resetsAt: null,
      asOf: customer.asOf,
      stale: false,
    }),
  );
  if (customer.slots.size < maxUnknownSlots + (input.knownFeatures?.size ?? 0)) customer.slots.set(feature, slot);
  return slot;
}
