import type { ReactElement } from 'react';

/** What a customer sees when the link or the session is no longer good. */
export function PortalExpired(props: { returnUrl: string | null }): ReactElement {
  return (
    <main className="portal center-card">
      <h1>This link has expired</h1>
      <p>
        Your link to this page has expired or is not valid. Links to manage your plan last an hour: open the portal
        again from the app you came from.
      </p>
      {props.returnUrl ? (
        <p>
          <a className="button primary" href={props.returnUrl}>
            Back to the app
          </a>
        </p>
      ) : null}
    </main>
  );
}
