import { useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';

/**
 * Keeps every page current without a reload: one `EventSource` on `/v1/stream` (the session
 * cookie is its credential) and, on each event, the queries it may have changed are refetched.
 * Query keys start with the area they read (`['features', …]`, `['customers', id, …]`), which is
 * what an event names.
 */
export function useLiveUpdates(enabled: boolean): void {
  const queries = useQueryClient();
  useEffect(() => {
    if (!enabled) return;
    const stream = new EventSource('/v1/stream');
    const refresh = (keys: readonly (readonly unknown[])[]) => {
      for (const queryKey of keys) void queries.invalidateQueries({ queryKey });
    };
    stream.addEventListener('catalog', () => refresh([['features'], ['plans'], ['customers']]));
    const customerChanged = (event: MessageEvent<string>) => refresh(keysOfCustomer(event.data));
    stream.addEventListener('customer', customerChanged);
    stream.addEventListener('usage', customerChanged);
    stream.addEventListener('reset', () => void queries.invalidateQueries());
    stream.addEventListener('revoked', () => {
      stream.close();
      void queries.invalidateQueries({ queryKey: ['session'] });
    });
    return () => stream.close();
  }, [enabled, queries]);
}

function keysOfCustomer(data: string): readonly (readonly unknown[])[] {
  try {
    const { customer } = JSON.parse(data) as { customer?: string };
    if (typeof customer === 'string')
      return [
        ['customers', customer],
        ['customers', 'list'],
      ];
  } catch {
    // An event without a customer: refresh the customer pages as a whole.
  }
  return [['customers']];
}
