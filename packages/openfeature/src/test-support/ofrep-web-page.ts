import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { type EvaluationDetails, type JsonValue, OpenFeature, ProviderEvents } from '@openfeature/web-sdk';

/**
 * The page the OFREP browser test drives: @openfeature/web-sdk with the official OFREP web
 * provider pointed at Keymaster, authenticated with a customer token, exactly as an app would set
 * it up. Nothing Keymaster-specific runs in the page.
 */
let changes = 0;

declare global {
  interface Window {
    ofrepPage: {
      start(input: { baseUrl: string; token: string; customer: string; pollInterval: number }): Promise<void>;
      evaluate(): Record<string, EvaluationDetails<JsonValue>>;
      /** How many times the provider announced changed flags (a poll that did not answer 304). */
      changes(): number;
    };
  }
}

window.ofrepPage = {
  async start({ baseUrl, token, customer, pollInterval }) {
    const provider = new OFREPWebProvider({
      baseUrl,
      headers: [['Authorization', `Bearer ${token}`]],
      pollInterval,
      cacheMode: 'disabled',
    });
    await OpenFeature.setContext({ targetingKey: customer });
    await OpenFeature.setProviderAndWait(provider);
    OpenFeature.getClient().addHandler(ProviderEvents.ConfigurationChanged, () => {
      changes += 1;
    });
  },
  evaluate() {
    const client = OpenFeature.getClient();
    return {
      sso: client.getBooleanDetails('sso', false),
      api_calls: client.getBooleanDetails('api_calls', false),
      support_tier: client.getStringDetails('support_tier', 'none'),
      unknown: client.getBooleanDetails('no_such_feature', true),
    };
  },
  changes: () => changes,
};
