import {
  createKeymaster,
  type Decision,
  type FlagAnswer,
  type Keymaster,
  KeymasterError,
  type KeymasterOptions,
} from '@keymaster/sdk';
import {
  type EvaluationContext,
  type FlagMetadata,
  FlagNotFoundError,
  GeneralError,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  ProviderFatalError,
  type ResolutionDetails,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  type TrackingEventDetails,
  TypeMismatchError,
} from '@openfeature/server-sdk';
import { followStreamHealth, staleMessage } from './stream-health.js';
import { type FlagType, hasType, toResolution } from './to-resolution.js';

/** Either the SDK's options (the provider owns and closes that client) or an existing client. */
export type KeymasterProviderOptions = KeymasterOptions | { client: Keymaster };

/**
 * An OpenFeature provider that answers flags from Keymaster, locally through `@keymaster/sdk`:
 *
 * - a `targetingKey` naming a Keymaster customer → that customer's entitlement (plan, grants,
 *   targeting, usage), as `check` decides it;
 * - no `targetingKey`, or one Keymaster does not know (an anonymous visitor, a user bucketed by
 *   key) → the feature's definition alone, evaluated as flagd would (`evaluate`).
 *
 * See the README for reasons, errors and provider states.
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
  /**
   * Flags whose definition answered STATIC: later evaluations answer CACHED, as flagd's RPC
   * provider does, until a catalog change clears it. Per provider instance.
   */
  private readonly staticFlags = new Set<string>();
  /** Definitions cannot be listed with this credential (a customer token): customer answers only. */
  private customerOnly = false;

  constructor(options: KeymasterProviderOptions) {
    if ('client' in options) {
      this.client = options.client;
      this.owned = false;
    } else {
      this.client = createKeymaster(options);
      this.owned = true;
    }
  }

  /**
   * Loads the feature definitions. A rejected API key (401) throws ProviderFatalError (status
   * FATAL: it will not get better by itself); a server that cannot be reached throws GeneralError
   * (status ERROR; the SDK keeps polling, and READY follows once the definitions load).
   */
  async initialize(context?: EvaluationContext): Promise<void> {
    if (this.unsubscribe === null) {
      const offChange = this.client.onChange((customer) => {
        if (customer === null) this.staticFlags.clear();
        this.events.emit(ProviderEvents.ConfigurationChanged);
      });
      const offSync = followStreamHealth(this.client, {
        onStale: () => this.events.emit(ProviderEvents.Stale, { message: staleMessage }),
        onLive: () => this.events.emit(ProviderEvents.Ready),
      });
      this.unsubscribe = () => {
        offChange();
        offSync();
      };
    }
    try {
      await this.client.loadDefinitions();
    } catch (error) {
      if (error instanceof KeymasterError && error.status === 401) {
        throw new ProviderFatalError(`Keymaster refused the API key: ${error.message}`);
      }
      if (error instanceof KeymasterError && error.status === 403) this.customerOnly = true;
      else throw new GeneralError(`Keymaster feature definitions could not be loaded: ${(error as Error).message}`);
    }
    // A static context (one customer per process) is worth having cached before the first flag.
    if (context?.targetingKey) await this.client.load(context.targetingKey).catch(() => undefined);
  }

  async onClose(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.staticFlags.clear();
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
    if (customer) {
      const decision = await this.decide({ customer, flagKey, context });
      if (decision.reason !== 'unknown_customer' || this.customerOnly) {
        return toResolution({ decision, type, defaultValue });
      }
    } else if (this.customerOnly) {
      throw new TargetingKeyMissingError('targetingKey (the customer id) is required');
    }
    const answer = this.client.evaluate(flagKey, context as Record<string, unknown>);
    if (answer === undefined) {
      if (!this.client.definitionsLoaded) throw new GeneralError('Keymaster feature definitions are not loaded');
      throw new FlagNotFoundError(`unknown feature: ${flagKey}`);
    }
    if (!customer && (answer.type === 'metered' || answer.type === 'gauge')) {
      throw new TargetingKeyMissingError(
        `${answer.type} feature ${flagKey} is counted per customer: targetingKey is required`,
      );
    }
    return this.fromDefinition({ answer, type, defaultValue });
  }

  /**
   * The customer's decision: from the SDK's cached snapshot, or — when the caller's context holds
   * more than the targeting key and the feature has a targeting rule the snapshot could not have
   * seen that context with — from the server, which evaluates the rule with it (stored traits still
   * win, as in `POST /v1/check`). Without the server, the cached answer stands.
   */
  private async decide(input: { customer: string; flagKey: string; context: EvaluationContext }): Promise<Decision> {
    const { customer, flagKey, context } = input;
    const local = await this.client.checkAsync(customer, flagKey);
    const { targetingKey: _key, ...callerContext } = context;
    if (
      local.source === 'fallback' ||
      local.reason === 'unknown_customer' ||
      local.reason === 'unknown_feature' ||
      Object.keys(callerContext).length === 0 ||
      (this.client.definition(flagKey)?.targeting ?? null) === null
    ) {
      return local;
    }
    return this.client
      .checkRemote({ customer, feature: flagKey, quantity: 1, context: callerContext as Record<string, unknown> })
      .catch(() => local);
  }

  /** A definition answer, typed as the flag asks; STATIC answers are remembered (CACHED). */
  private fromDefinition<T>(input: { answer: FlagAnswer; type: FlagType; defaultValue: T }): ResolutionDetails<T> {
    const { answer, type, defaultValue } = input;
    const flagMetadata: FlagMetadata = { ...answer.metadata };
    if (answer.reason === 'ERROR') throw new GeneralError(answer.error ?? `${answer.feature} could not be evaluated`);
    if (answer.value === undefined) {
      // DISABLED, or DEFAULT without a default variant: the caller's default, no variant.
      return { value: defaultValue, reason: answer.reason, flagMetadata };
    }
    if (!hasType(answer.value, type)) {
      throw new TypeMismatchError(`feature ${answer.feature} answers ${typeof answer.value}, not ${type}`);
    }
    let reason: string = answer.reason;
    if (reason === StandardResolutionReasons.STATIC) {
      if (this.staticFlags.has(answer.feature)) reason = StandardResolutionReasons.CACHED;
      else this.staticFlags.add(answer.feature);
    }
    return { value: answer.value as T, variant: answer.variant, reason, flagMetadata };
  }
}
