import { createKeymaster, type Keymaster, KeymasterError, type KeymasterOptions } from '@keymaster/sdk';
import {
  type EvaluationContext,
  GeneralError,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  ProviderFatalError,
  ProviderNotReadyError,
  type ResolutionDetails,
  TargetingKeyMissingError,
} from '@openfeature/web-sdk';
import { followStreamHealth, staleMessage } from './stream-health.js';
import { type FlagType, toResolution } from './to-resolution.js';

/**
 * A customer token, or how to get one for a customer: your backend mints it with its secret key
 * (`POST /v1/customer-tokens`). A function lets the provider follow `OpenFeature.setContext` to
 * another customer; a string serves only the customer it was minted for.
 */
export type CustomerTokenSource = string | ((customer: string) => string | Promise<string>);

/**
 * The SDK's options with a customer token (the provider makes, and closes, one client per
 * customer), or an existing `@keymaster/sdk` client made with a customer token (left to you).
 */
export type KeymasterWebProviderOptions =
  | (Omit<KeymasterOptions, 'apiKey' | 'customerToken'> & { customerToken: CustomerTokenSource })
  | { client: Keymaster };

/** The customer the provider answers for, and the client that holds their snapshot. */
interface Active {
  customer: string;
  client: Keymaster;
  owned: boolean;
  detach: () => void;
}

/**
 * An OpenFeature provider for `@openfeature/web-sdk` (static context: one user per page) that
 * answers flags for the customer named by the context's `targetingKey`, from the customer's
 * snapshot cached by `@keymaster/sdk` and kept fresh by the stream. Evaluations are synchronous
 * and answer as `KeymasterProvider` does for a customer (same values, reasons, error codes and
 * flagMetadata). A customer token cannot list features: without a `targetingKey` every flag
 * answers `TARGETING_KEY_MISSING`.
 *
 * @example
 * ```ts
 * import { OpenFeature } from '@openfeature/web-sdk';
 * import { KeymasterWebProvider } from '@keymaster/openfeature/web';
 *
 * await OpenFeature.setContext({ targetingKey: 'acme' });
 * await OpenFeature.setProviderAndWait(
 *   new KeymasterWebProvider({ baseUrl, customerToken: (customer) => fetchTokenFromYourBackend(customer) }),
 * );
 * OpenFeature.getClient().getBooleanValue('sso', false);
 * ```
 */
export class KeymasterWebProvider implements Provider {
  readonly metadata = { name: 'keymaster-web' } as const;
  readonly runsOn = 'client' as const;
  readonly events = new OpenFeatureEventEmitter();
  private active: Active | null = null;
  /** Why the current customer cannot be answered at all (a refused token); thrown by evaluations. */
  private failure: Error | null = null;
  /** Counts context switches: a slower, older switch must not overwrite a newer one. */
  private generation = 0;
  private trackWarned = false;

  constructor(private readonly options: KeymasterWebProviderOptions) {}

  /**
   * Loads the context's customer. A token the server refuses (expired, revoked, or minted for
   * another customer) throws ProviderFatalError; a server that cannot be reached throws
   * GeneralError (status ERROR; `READY` follows once a load succeeds, and meanwhile flags answer
   * the failure policy).
   */
  async initialize(context?: EvaluationContext): Promise<void> {
    await this.switchTo(context?.targetingKey);
  }

  /** Loads the new context's customer when it changed; the web SDK shows RECONCILING meanwhile. */
  async onContextChange(oldContext: EvaluationContext, newContext: EvaluationContext): Promise<void> {
    if (oldContext.targetingKey === newContext.targetingKey && this.failure === null) return;
    await this.switchTo(newContext.targetingKey);
  }

  async onClose(): Promise<void> {
    this.generation += 1;
    await this.release(this.active);
    this.active = null;
  }

  /**
   * A no-op: a customer token may not post usage events (`POST /v1/events` needs a secret key),
   * so a browser records usage through its backend. Warns once instead of failing silently.
   */
  track(): void {
    if (this.trackWarned) return;
    this.trackWarned = true;
    console.warn(
      'KeymasterWebProvider: track() does nothing in the browser; a customer token cannot record usage. Send usage events from your backend.',
    );
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext) {
    return this.resolve(flagKey, 'boolean', defaultValue, context);
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext) {
    return this.resolve(flagKey, 'string', defaultValue, context);
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext) {
    return this.resolve(flagKey, 'number', defaultValue, context);
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext) {
    return this.resolve(flagKey, 'object', defaultValue, context);
  }

  private resolve<T>(
    flagKey: string,
    type: FlagType,
    defaultValue: T,
    context: EvaluationContext,
  ): ResolutionDetails<T> {
    const customer = context.targetingKey;
    if (!customer) {
      throw new TargetingKeyMissingError(
        'targetingKey (the customer id) is required: a customer token cannot evaluate features without a customer',
      );
    }
    if (this.failure !== null) throw this.failure;
    const active = this.active;
    if (active === null || active.customer !== customer) {
      throw new ProviderNotReadyError(`customer ${customer} is not loaded yet`);
    }
    return toResolution({ decision: active.client.check(customer, flagKey), type, defaultValue });
  }

  /** Makes `customer` the active one: its client, its first load, its events. */
  private async switchTo(customer: string | undefined): Promise<void> {
    const generation = ++this.generation;
    const previous = this.active;
    this.active = null;
    this.failure = null;
    // The previous customer's client is closed (when ours) before the next one exists: one
    // stream at a time, and no answers for the wrong customer meanwhile.
    await this.release(previous);
    if (!customer) return;
    let client: Keymaster;
    let owned: boolean;
    try {
      ({ client, owned } = await this.clientFor(customer));
    } catch (error) {
      if (generation !== this.generation) return;
      this.failure = new ProviderFatalError(`no customer token for ${customer}: ${(error as Error).message}`);
      throw this.failure;
    }
    if (generation !== this.generation) {
      if (owned) await client.close();
      return;
    }
    // Answers (the failure policy while loading) come from this client at once.
    const active: Active = { customer, client, owned, detach: () => undefined };
    this.active = active;
    try {
      await client.load(customer);
    } catch (error) {
      if (generation !== this.generation) return;
      const refused = error instanceof KeymasterError && (error.status === 401 || error.status === 403);
      if (refused) {
        // A refused token stays refused: stop the client rather than let it retry with it.
        this.active = null;
        await this.release(active);
        this.failure = new ProviderFatalError(`Keymaster refused the customer token for ${customer}: ${error.message}`);
        throw this.failure;
      }
      active.detach = this.follow(active, { unreachable: true });
      throw new GeneralError(`Keymaster could not load customer ${customer}: ${(error as Error).message}`);
    }
    if (generation !== this.generation) return;
    active.detach = this.follow(active, { unreachable: false });
  }

  /** A client for the customer: the one given, or a new one with the customer's token. */
  private async clientFor(customer: string): Promise<{ client: Keymaster; owned: boolean }> {
    if ('client' in this.options) return { client: this.options.client, owned: false };
    const { customerToken, ...rest } = this.options;
    const token = typeof customerToken === 'string' ? customerToken : await customerToken(customer);
    return { client: createKeymaster({ ...rest, customerToken: token }), owned: true };
  }

  /**
   * Turns the client's news about the active customer into provider events: a changed snapshot
   * (stream push, poll, a load after a failed one) → CONFIGURATION_CHANGED, or READY after an
   * unreachable start; the stream going down → STALE, coming back → READY.
   */
  private follow(active: Active, state: { unreachable: boolean }): () => void {
    const offChange = active.client.onChange((changed) => {
      if (changed !== null && changed !== active.customer) return;
      if (state.unreachable && active.client.status().reachable) {
        state.unreachable = false;
        this.events.emit(ProviderEvents.Ready);
      } else {
        this.events.emit(ProviderEvents.ConfigurationChanged);
      }
    });
    const offSync = followStreamHealth(active.client, {
      onStale: () => this.events.emit(ProviderEvents.Stale, { message: staleMessage }),
      onLive: () => this.events.emit(ProviderEvents.Ready),
    });
    return () => {
      offChange();
      offSync();
    };
  }

  private async release(active: Active | null): Promise<void> {
    if (active === null) return;
    active.detach();
    if (active.owned) await active.client.close();
  }
}
