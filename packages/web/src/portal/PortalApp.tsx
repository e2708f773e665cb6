import { useQuery } from '@tanstack/react-query';
import { type ReactElement, useEffect, useMemo } from 'react';
import { createPortalClient } from '../../../react/src/portal-client.js';
import { ErrorAlert, Loading } from '../ui/forms';
import { PortalExpired } from './PortalExpired';
import { PortalPage } from './PortalPage';
import { remembered, startSession } from './session';

/** How often the open portal fetches the customer's view again (usage moves while it is open). */
const refreshIntervalMs = 5_000;

/**
 * The customer portal at `/portal`: opened from a portal link (`/portal#<token>`, made by the
 * SaaS's backend with `POST /v1/portal-sessions`), it shows one customer their plan, usage,
 * plan choice, add-ons and notifications, and changes only their subscription, through
 * `/v1/portal…` with the `km_portal` cookie. It uses @keymaster/react's portal components.
 */
export function PortalApp(): ReactElement {
  const start = useQuery({
    queryKey: ['portal', 'session'],
    queryFn: startSession,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: Number.POSITIVE_INFINITY,
    retry: false,
  });
  // Another link opened in this tab while the portal is open: start over with it.
  useEffect(() => {
    const reload = () => {
      if (window.location.hash.length > 1) window.location.reload();
    };
    window.addEventListener('hashchange', reload);
    return () => window.removeEventListener('hashchange', reload);
  }, []);
  const client = useMemo(
    () => (start.data?.ok ? createPortalClient({ csrfToken: () => remembered().csrf_token, refreshIntervalMs }) : null),
    [start.data],
  );

  if (start.data === undefined) {
    return (
      <main className="portal">
        <h1>Your plan</h1>
        {start.error ? <ErrorAlert error={start.error} /> : <Loading what="your plan" />}
      </main>
    );
  }
  if (!start.data.ok) {
    if (start.data.expired) return <PortalExpired returnUrl={remembered().return_url ?? null} />;
    return (
      <main className="portal">
        <h1>Your plan</h1>
        <ErrorAlert title="The portal could not be opened" error={start.data.error} />
        <button type="button" onClick={() => window.location.reload()}>
          Try again
        </button>
      </main>
    );
  }
  return client ? <PortalPage client={client} /> : <Loading what="your plan" />;
}
