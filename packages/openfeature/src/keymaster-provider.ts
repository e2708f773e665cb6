import { createKeymaster, type Decision, type Keymaster, type KeymasterOptions } from '@keymaster/sdk';
import {
  type EvaluationContext,
  type FlagMetadata,
  FlagNotFoundError,
  GeneralError,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  type TrackingEventDetails,
  TypeMismatchError,
} from '@openfeature/server-sdk';

/** Either the SDK's options (the provider owns and closes that client) or an existing client. */
export type KeymasterProviderOptions = KeymasterOptions | { client: Keymaster };

type FlagType = 'boolean' | 'string' | 'number' | 'object';

/**
 * An OpenFeature provider that answers flags from Keymaster entitlements, decided locally by
 * `@keymaster/sdk`. The evaluation context's `targetingKey` is the customer id.
 *
 * @example
 * ```ts
 * await OpenFeature.setProviderAndWait(new KeymasterProvider({ baseUrl, apiKey }));
 * const on = await OpenFeature.getClient().getBooleanValue('sso', false, { targetingKey: 'cus_1' });
 * ```
 */
export class KeymasterProvider implements Provider {
  readonly metadata = { name: 'keymaster' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly client: Keymaster;
  private readonly owned: boolean;
  private unsubscribe: (() => void) | null = null;

  constructor(options: KeymasterProviderOptions) {
    if ('client' in options) {
      this.client = options.client;
      this.owned = false;
    } else {
      this.client = createKeymaster(options);
      this.owned = true;
    }
  }

  async initialize(context?: EvaluationContext): Promise<void> {
    this.unsubscribe ??= this.client.onChange(() => {
      this.events.emit(ProviderEvents.ConfigurationChanged);
    });
    // A static context (one customer per process) is worth having cached before the first flag.
    if (context?.targetingKey) await this.client.load(context.targetingKey);
  }

  async onClose(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.owned) await this.client.close();
  }

  /** Records `eventName` as a Keymaster usage event for the context's customer. */
  track(eventName: string, context: EvaluationContext, details: TrackingEventDetails): void {
    const customer = context.targetingKey;
    if (!customer) throw new TargetingKeyMissingError('track needs a targetingKey (customer id)');
    const { value, ...rest } = details ?? {};
    const properties: Record<string, unknown> = { ...rest };
    if (value !== undefined) properties.value = value;
    this.client.track({ customer, type: eventName, properties });
  }

  resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, 'boolean', defaultValue, context);
  }

  resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, 'string', defaultValue, context);
  }

  resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<number>> {
    return this.resolve(flagKey, 'number', defaultValue, context);
  }

  resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, 'object', defaultValue, context);
  }

  private async resolve<T>(
    flagKey: string,
    type: FlagType,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    const customer = context.targetingKey;
    if (!customer) throw new TargetingKeyMissingError('targetingKey (the customer id) is required');
    const decision = await this.client.checkAsync(customer, flagKey);
    return toResolution({ decision, type, defaultValue });
  }
}

function toResolution<T>(input: { decision: Decision; type: FlagType; defaultValue: T }): ResolutionDetails<T> {
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
