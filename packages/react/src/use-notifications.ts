import type { KeymasterError, Notification } from '@keymaster/sdk';
import { useCallback, useMemo, useSyncExternalStore } from 'react';
import { useCustomerStore } from './keymaster-context.js';

/** What `useNotifications` answers. */
export interface NotificationsState {
  /** The customer's unread notifications, newest first (the newest 20 at most). */
  notifications: readonly Notification[];
  /** More are unread than `notifications` holds: show the count as "20+". */
  more: boolean;
  /** The first list has not arrived yet. */
  loading: boolean;
  /** Why the list could not be fetched (what was shown before stays); null once it could. */
  error: KeymasterError | null;
  /** Marks one read; it leaves `notifications` once the server agreed. Rejects with KeymasterError. */
  markRead: (id: string) => Promise<void>;
  /** Marks every unread notification read (not only those listed). Rejects with KeymasterError. */
  markAllRead: () => Promise<void>;
}

const notFollowing = () => () => undefined;

/**
 * The provider's customer's unread in-app notifications (alerts, trial and plan notices), kept
 * live: a new one arrives over the stream and re-renders without a reload. The SDK follows the
 * customer while a component uses this (`onNotifications`) and fetches the list once.
 *
 * @example
 * const { notifications, more, markRead } = useNotifications();
 * return <Bell count={more ? `${notifications.length}+` : notifications.length} onOpen={...} />;
 */
export function useNotifications(): NotificationsState {
  const { client, customer } = useCustomerStore('useNotifications');
  const subscribe = useCallback(
    (listener: () => void) => (client === null ? notFollowing() : client.onNotifications(customer, listener)),
    [client, customer],
  );
  // The SDK answers the same object until the list changes, as useSyncExternalStore needs.
  const read = () => client?.unreadNotifications(customer);
  const unread = useSyncExternalStore(subscribe, read, () => undefined);
  const markRead = useCallback(
    async (id: string) => {
      if (client === null) throw new Error('useNotifications: the Keymaster client is not ready yet');
      await client.markNotificationRead({ customer, id });
    },
    [client, customer],
  );
  const markAllRead = useCallback(async () => {
    if (client === null) throw new Error('useNotifications: the Keymaster client is not ready yet');
    await client.markAllNotificationsRead({ customer });
  }, [client, customer]);
  return useMemo(
    () => ({
      notifications: unread?.notifications ?? [],
      more: unread?.more ?? false,
      loading: unread === undefined || !unread.loaded,
      error: unread?.error ?? null,
      markRead,
      markAllRead,
    }),
    [unread, markRead, markAllRead],
  );
}
