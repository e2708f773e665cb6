import { createKeymaster, type Keymaster } from '@keymaster/sdk';
import { type EvaluationDetails, type JsonValue, OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { KeymasterWebProvider } from '../web.js';

/**
 * The page the web provider's browser test drives: @openfeature/web-sdk with
 * KeymasterWebProvider, a customer token per customer (as a backend would hand them out), and a
 * record of every provider event the client saw.
 */
const events: { type: string; message?: string }[] = [];

declare global {
  interface Window {
    webPage: {
      /**
       * Registers the provider for `customer`. `tokens` maps customers to their tokens; with
       * `fixedToken` the provider gets that one string instead of a lookup.
       */
      start(input: {
        baseUrl: string;
        customer: string;
        tokens: Record<string, string>;
        fixedToken?: string;
        staleAfterMs?: number;
        /** Make the SDK client in the page and hand it to the provider (`{ client }`). */
        shareClient?: boolean;
      }): Promise<void>;
      evaluate(): Record<string, EvaluationDetails<JsonValue>>;
      setContext(customer: string | undefined, tokens?: Record<string, string>): Promise<void>;
      status(): string;
      events(): { type: string; message?: string }[];
      track(): void;
      stop(): Promise<void>;
      /** The page's own client (with `shareClient`), asked directly: still open after stop? */
      sharedCheck(customer: string, feature: string): { allowed: boolean; source: string } | null;
    };
  }
}

let tokens: Record<string, string> = {};
let shared: Keymaster | null = null;

for (const type of [
  ProviderEvents.Ready,
  ProviderEvents.Error,
  ProviderEvents.Stale,
  ProviderEvents.ConfigurationChanged,
  ProviderEvents.Reconciling,
  ProviderEvents.ContextChanged,
]) {
  OpenFeature.getClient().addHandler(type, (details) => events.push({ type, message: details?.message }));
}

window.webPage = {
  async start({ baseUrl, customer, tokens: given, fixedToken, staleAfterMs, shareClient }) {
    tokens = { ...given };
    await shared?.close();
    shared = shareClient ? createKeymaster({ baseUrl, customerToken: given[customer]!, staleAfterMs }) : null;
    const provider =
      shared !== null
        ? new KeymasterWebProvider({ client: shared })
        : new KeymasterWebProvider({
            baseUrl,
            staleAfterMs,
            customerToken:
              fixedToken ??
              (async (id) => {
                const token = tokens[id];
                if (token === undefined) throw new Error(`the backend has no token for ${id}`);
                return token;
              }),
          });
    await OpenFeature.setContext({ targetingKey: customer });
    await OpenFeature.setProviderAndWait(provider).catch(() => undefined);
  },
  evaluate() {
    const client = OpenFeature.getClient();
    return {
      sso: client.getBooleanDetails('sso', false),
      api_calls: client.getNumberDetails('api_calls', -1),
      api_calls_allowed: client.getBooleanDetails('api_calls', false),
      support_tier: client.getStringDetails('support_tier', 'none'),
      unknown: client.getBooleanDetails('no_such_feature', true),
      sso_as_string: client.getStringDetails('sso', 'nope'),
      sso_as_number: client.getNumberDetails('sso', 7),
    };
  },
  async setContext(customer, more) {
    Object.assign(tokens, more);
    await OpenFeature.setContext(customer === undefined ? {} : { targetingKey: customer });
  },
  status: () => OpenFeature.getClient().providerStatus,
  events: () => events,
  track: () => OpenFeature.getClient().track('search', { value: 1 }),
  async stop() {
    await OpenFeature.clearProviders();
    await OpenFeature.setContext({});
    events.length = 0;
  },
  sharedCheck(customer, feature) {
    if (shared === null) return null;
    const { allowed, source } = shared.check(customer, feature);
    return { allowed, source };
  },
};
