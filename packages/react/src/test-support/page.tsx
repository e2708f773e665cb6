import { createKeymaster, type Keymaster } from '@keymaster/sdk';
import { StrictMode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { Feature, KeymasterProvider, Notifications, Paywall, UsageMeter, useEntitlement } from '../index.js';

/**
 * The page the browser tests drive: every component for one customer, under StrictMode (effects
 * run twice, as in development). The test calls `window.keymasterPage.mount(...)` with what a
 * backend would hand the page: the server's address, a customer token and the customer id.
 */
function Status({ feature }: { feature: string }) {
  const { allowed, loading, stale, decision } = useEntitlement(feature);
  return (
    <p data-testid={`status-${feature}`} data-stale={stale}>
      {loading ? 'loading' : `${allowed ? 'allowed' : 'denied'}:${decision.reason}`}
    </p>
  );
}

function App(props: {
  baseUrl: string;
  token: string;
  customer: string;
  client: Keymaster | null;
  staleAfterMs?: number;
}) {
  // Polling an hour apart: every change the tests see within seconds came over the stream.
  const source = props.client
    ? { client: props.client }
    : {
        baseUrl: props.baseUrl,
        token: props.token,
        options: { pollIntervalMs: 3_600_000, ...(props.staleAfterMs ? { staleAfterMs: props.staleAfterMs } : {}) },
      };
  return (
    <KeymasterProvider {...source} customer={props.customer}>
      <Status feature="sso" />
      <Status feature="api_calls" />
      <Feature
        feature="sso"
        loading={<p data-testid="sso-loading">Loading…</p>}
        fallback={<p data-testid="sso-fallback">Single sign-on comes with Pro.</p>}
      >
        <p data-testid="sso-feature">SSO settings</p>
      </Feature>
      <div data-testid="sso-paywall">
        <Paywall
          feature="sso"
          locale="en-US"
          onUpgrade={(plan) => document.body.setAttribute('data-upgrade', plan.key)}
        >
          <p>SSO console</p>
        </Paywall>
      </div>
      <div data-testid="calls-paywall">
        <Paywall feature="api_calls" locale="en-US">
          <p>API console</p>
        </Paywall>
      </div>
      <div data-testid="calls-meter">
        <UsageMeter feature="api_calls" label="API calls" unit="calls" locale="en-US" />
      </div>
      <div data-testid="seats-meter">
        <UsageMeter feature="seats" label="Seats" locale="en-US" />
      </div>
      <div data-testid="notices">
        <Notifications locale="en-US" />
      </div>
    </KeymasterProvider>
  );
}

let root: Root | null = null;
let client: Keymaster | null = null;

interface MountProps {
  baseUrl: string;
  token: string;
  customer: string;
  /** Make the SDK client here and hand it to the provider, instead of letting the provider make one. */
  ownClient?: boolean;
  staleAfterMs?: number;
}

declare global {
  interface Window {
    keymasterPage: { mount(props: MountProps): void };
  }
}

window.keymasterPage = {
  mount({ ownClient, ...props }) {
    root?.unmount();
    void client?.close();
    client = ownClient
      ? createKeymaster({ baseUrl: props.baseUrl, customerToken: props.token, pollIntervalMs: 3_600_000 })
      : null;
    root = createRoot(document.getElementById('root')!);
    root.render(
      <StrictMode>
        <App key={props.customer} {...props} client={client} />
      </StrictMode>,
    );
  },
};
