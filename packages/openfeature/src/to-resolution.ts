import type { Decision } from '@keymaster/sdk';
import {
  type FlagMetadata,
  FlagNotFoundError,
  GeneralError,
  type ResolutionDetails,
  StandardResolutionReasons,
  TypeMismatchError,
} from '@openfeature/core';

/**
 * The mapping from a Keymaster decision to an OpenFeature resolution, shared by the server
 * provider (`KeymasterProvider`) and the web provider (`KeymasterWebProvider`) so that a customer
 * gets the same values, reasons, error codes and flagMetadata from both. It depends on
 * `@openfeature/core`, which both SDKs re-export: the error classes thrown here are the ones
 * either SDK catches and turns into error codes.
 */

export type FlagType = 'boolean' | 'string' | 'number' | 'object';

/** Whether a value can answer a flag of `type` (objects: any non-null object, arrays included). */
export function hasType(value: unknown, type: FlagType): boolean {
  if (type === 'object') return typeof value === 'object' && value !== null;
  return typeof value === type;
}

/**
 * A customer's decision as a flag of `type` answers it; throws the OpenFeature error whose code
 * the SDK reports (`FLAG_NOT_FOUND`, `TYPE_MISMATCH`, `GENERAL`). See the README's tables.
 */
export function toResolution<T>(input: { decision: Decision; type: FlagType; defaultValue: T }): ResolutionDetails<T> {
  const { decision, type, defaultValue } = input;
  if (decision.reason === 'unknown_feature') throw new FlagNotFoundError(`unknown feature: ${decision.feature}`);
  const flagMetadata = metadataOf(decision);
  if (decision.source === 'fallback') {
    // Nothing to go by: the boolean answer is the feature's failure policy, anything else the default.
    if (type === 'boolean') {
      return { value: decision.allowed as T, reason: StandardResolutionReasons.DEFAULT, flagMetadata };
    }
    throw new GeneralError(`no entitlements for ${decision.customer} (${decision.reason})`);
  }
  if (decision.reason === 'feature_disabled') {
    const value = (type === 'boolean' ? false : defaultValue) as T;
    return { value, reason: StandardResolutionReasons.DISABLED, flagMetadata };
  }
  const reason = decision.stale ? StandardResolutionReasons.STALE : StandardResolutionReasons.TARGETING_MATCH;
  if (type === 'boolean') return { value: decision.allowed as T, reason, flagMetadata };
  if (type === 'number' ? decision.type === 'boolean' : decision.type !== 'config') {
    throw new TypeMismatchError(`feature ${decision.feature} (${decision.type}) has no ${type} value`);
  }
  // Denied (no entitlement, inactive subscription, ...): the caller's default stands.
  if (!decision.allowed && decision.type === 'config') {
    return { value: defaultValue, reason: StandardResolutionReasons.DEFAULT, flagMetadata };
  }
  const value = typedValue(decision, type);
  if (value === undefined) {
    throw new TypeMismatchError(`feature ${decision.feature} has no ${type} value`);
  }
  return { value: value as T, reason, flagMetadata };
}

/** The value a flag of `type` reads from a decision; undefined when the feature has none. */
function typedValue(decision: Decision, type: FlagType): unknown {
  if (type === 'number' && (decision.type === 'metered' || decision.type === 'gauge')) {
    return decision.unlimited ? Number.POSITIVE_INFINITY : (decision.balance ?? 0);
  }
  if (decision.type !== 'config') return undefined;
  const v = decision.value;
  if (type === 'number') return typeof v === 'number' ? v : undefined;
  if (type === 'string') return typeof v === 'string' ? v : undefined;
  return v !== null && typeof v === 'object' ? v : undefined;
}

function metadataOf(decision: Decision): FlagMetadata {
  const metadata: Record<string, string | number | boolean> = {
    keymaster_reason: decision.reason,
    source: decision.source,
    stale: decision.stale,
  };
  if (decision.type) metadata.type = decision.type;
  if (decision.limit !== null) metadata.limit = decision.limit;
  if (decision.usage !== null) metadata.usage = decision.usage;
  if (decision.balance !== null) metadata.balance = decision.balance;
  if (decision.unlimited) metadata.unlimited = true;
  return metadata;
}
