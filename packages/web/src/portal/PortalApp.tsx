import type { ReactElement } from 'react';

export function PortalApp(): ReactElement {
  return (
    <main className="center-card">
      <h1>Your plan</h1>
    </main>
  );
}
