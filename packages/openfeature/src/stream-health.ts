import type { Keymaster } from '@keymaster/sdk';

/** What both providers say with STALE: answers are served, but the push channel is down. */
export const staleMessage = 'the Keymaster stream is down; answers may be stale';

/**
 * Calls `onStale` when the client's stream goes down (it polls meanwhile) and `onLive` when it
 * is back, once per change: both providers turn these into STALE and READY. Answers the unsubscribe.
 */
export function followStreamHealth(client: Keymaster, handlers: { onStale(): void; onLive(): void }): () => void {
  let stale = false;
  return client.onSync(({ mode }) => {
    if (mode === 'polling' && !stale) {
      stale = true;
      handlers.onStale();
    } else if (mode === 'live' && stale) {
      stale = false;
      handlers.onLive();
    }
  });
}
