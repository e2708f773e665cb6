import type { ContractCreate, ContractEntitlement, GrantCreate } from '@keymaster/contract';
import type { CustomerEntitlements } from '@keymaster/core';
import { fromIso } from '../../json-column.js';
import type { DesiredSubscription } from '../billing/billing-source.js';

/** The billing seam's names for a contract: its external id, and the id of one revision. */
export function contractIds(source: ContractCreate['source']) {
  const externalId = `${source.system}:${source.deal_id}`;
  return { externalId, idempotencyId: `${externalId}:${source.revision}` };
}

/** The subscription a contract asks for: its plan and add-ons, active from its start to its end. */
export function fromApiContract(body: ContractCreate): DesiredSubscription {
  return {
    customer: body.customer,
    customerIfMissing: { name: body.customer_name ?? body.customer },
    plan: body.plan,
    addOns: (body.add_ons ?? []).map((a) => ({ plan: a.plan, quantity: a.quantity ?? 1 })),
    status: 'active',
    startsAt: fromIso(body.starts_at) ?? undefined,
    trialEnd: null,
    cancelAt: null,
    endsAt: fromIso(body.ends_at),
    onEndsAt: body.on_ends_at ?? 'expire',
  };
}

/**
 * One of the contract's grants as the grants module takes it: named after the contract unless it
 * says why, and lasting as long as the contract unless it says otherwise (a contract that renews
 * keeps its grants until a revision or an end says otherwise).
 */
export function toGrantCreate(input: { body: ContractCreate; index: number }): GrantCreate {
  const { body } = input;
  const grant = body.grants![input.index]!;
  const expires = grant.expires_at ?? ((body.on_ends_at ?? 'expire') === 'expire' ? body.ends_at : undefined);
  const starts = grant.starts_at ?? body.starts_at;
  return {
    ...grant,
    reason: grant.reason ?? `Contract ${body.source.system}:${body.source.deal_id} revision ${body.source.revision}`,
    ...(starts !== undefined ? { starts_at: starts } : {}),
    ...(expires !== undefined ? { expires_at: expires } : {}),
  };
}

export function toApiContractEntitlements(resolved: CustomerEntitlements): ContractEntitlement[] {
  return [...resolved.entitlements.values()].map((e) => ({
    feature: e.feature,
    enabled: e.enabled,
    limit: e.limit,
    unlimited: e.unlimited,
    value: e.value,
    source: e.source,
  }));
}
