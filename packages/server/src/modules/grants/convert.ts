import type { Grant as ApiGrant } from '@keymaster/contract';
import { type Grant, isGrantActive, type JsonValue } from '@keymaster/core';
import type { Selectable } from 'kysely';
import type { GrantTable } from '../../db/schema.js';
import { toIso } from '../../json-column.js';

type TermsJson = { enabled?: boolean; limit?: number | null; value?: JsonValue; rollover_cap?: number };

export function fromDbGrant(row: Selectable<GrantTable> & { remaining?: number | null }): Grant {
  const terms = JSON.parse(row.terms) as TermsJson;
  return {
    id: row.id,
    customerId: row.customer_id,
    feature: row.feature,
    mode: row.mode as Grant['mode'],
    enabled: terms.enabled,
    limit: terms.limit,
    value: terms.value,
    startsAt: row.starts_at,
    expiresAt: row.expires_at,
    reason: row.reason,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    remaining: row.mode === 'credit' ? Number(row.remaining ?? 0) : null,
    rolloverCap: terms.rollover_cap ?? null,
  };
}

export function toDbGrant(grant: Grant): GrantTable {
  const terms: TermsJson = {};
  if (grant.enabled !== undefined) terms.enabled = grant.enabled;
  if (grant.limit !== undefined) terms.limit = grant.limit;
  if (grant.value !== undefined) terms.value = grant.value;
  if (grant.rolloverCap !== null) terms.rollover_cap = grant.rolloverCap;
  return {
    id: grant.id,
    customer_id: grant.customerId,
    feature: grant.feature,
    mode: grant.mode,
    terms: JSON.stringify(terms),
    starts_at: grant.startsAt,
    expires_at: grant.expiresAt,
    reason: grant.reason,
    created_at: grant.createdAt,
    revoked_at: grant.revokedAt,
  };
}

export function toApiGrant(grant: Grant, now: number): ApiGrant {
  return {
    id: grant.id,
    customer: grant.customerId,
    feature: grant.feature,
    mode: grant.mode,
    enabled: grant.enabled ?? null,
    limit: grant.limit ?? null,
    unlimited: grant.limit === null,
    value: grant.value ?? null,
    starts_at: toIso(grant.startsAt),
    expires_at: toIso(grant.expiresAt),
    reason: grant.reason,
    active: isGrantActive(grant, now),
    created_at: toIso(grant.createdAt),
    revoked_at: toIso(grant.revokedAt),
    remaining: grant.remaining,
    rollover_cap: grant.rolloverCap,
  };
}
