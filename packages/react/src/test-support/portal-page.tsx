import { StrictMode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { createPortalClient, PlanPicker, PortalButton, UsageMeters } from '../index.js';

/**
 * The page the portal components' browser tests drive: a SaaS's settings page embedding
 * `UsageMeters`, `PlanPicker` and `PortalButton` with a portal token its backend asked for,
 * under StrictMode. The test calls `window.portalPage.mount(...)`; the portal button's link
 * comes from `window.portalPage.resolveUrl` / `rejectUrl`, as a backend would answer it.
 */

interface MountProps {
  baseUrl: string;
  token: string;
}

let root: Root | null = null;
let pending: { resolve(url: string): void; reject(error: Error): void } | null = null;

declare global {
  interface Window {
    portalPage: {
      mount(props: MountProps): void;
      resolveUrl(url: string): void;
      rejectUrl(message: string): void;
    };
  }
}

window.portalPage = {
  mount({ baseUrl, token }) {
    root?.unmount();
    document.body.removeAttribute('data-changed');
    document.body.removeAttribute('data-navigated');
    const client = createPortalClient({ baseUrl, token, refreshIntervalMs: 0 });
    root = createRoot(document.getElementById('root')!);
    root.render(
      <StrictMode>
        <main>
          <h1>Billing settings</h1>
          <section data-testid="meters">
            <h2>Usage</h2>
            <UsageMeters client={client} locale="en-US" timeZone="UTC" />
          </section>
          <section data-testid="plans">
            <h2>Plans</h2>
            <PlanPicker
              client={client}
              locale="en-US"
              timeZone="UTC"
              onChanged={(subscription) => document.body.setAttribute('data-changed', subscription.plan)}
            />
          </section>
          <PortalButton
            getUrl={() =>
              new Promise<string>((resolve, reject) => {
                pending = { resolve, reject };
              })
            }
            navigate={(url) => document.body.setAttribute('data-navigated', url)}
          >
            Manage plan
          </PortalButton>
        </main>
      </StrictMode>,
    );
  },
  resolveUrl(url) {
    pending?.resolve(url);
  },
  rejectUrl(message) {
    pending?.reject(new Error(message));
  },
};
