import { StrictMode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { Feature, KeymasterProvider, Paywall, UsageMeter, useEntitlement } from '../index.js';

/**
 * The page the browser tests drive: every component for one customer, under StrictMode (effects
 * run twice, as in development). The test calls `window.keymasterPage.mount(...)` with what a
 * backend would hand the page: the server's address, a customer token and the customer id.
 */
function Status({ feature }: { feature: string }) {
  const { allowed, loading, decision } = useEntitlement(feature);
  return (
    <p data-testid={`status-${feature}`}>
      {loading ? 'loading' : `${allowed ? 'allowed' : 'denied'}:${decision.reason}`}
    </p>
  );
}

function App(props: { baseUrl: string; token: string; customer: string }) {
  return (
    // Polling an hour apart: every change the tests see within seconds came over the stream.
    <KeymasterProvider
      baseUrl={props.baseUrl}
      token={props.token}
      customer={props.customer}
      options={{ pollIntervalMs: 3_600_000 }}
    >
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
    </KeymasterProvider>
  );
}

let root: Root | null = null;

declare global {
  interface Window {
    keymasterPage: { mount(props: { baseUrl: string; token: string; customer: string }): void };
  }
}

window.keymasterPage = {
  mount(props) {
    root?.unmount();
    root = createRoot(document.getElementById('root')!);
    root.render(
      <StrictMode>
        <App key={props.customer} {...props} />
      </StrictMode>,
    );
  },
};
