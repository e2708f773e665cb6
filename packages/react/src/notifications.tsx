import type { Notification } from '@keymaster/sdk';
import { type ReactNode, useId, useState } from 'react';
import { formatDateTime } from './format.js';
import { useNotifications } from './use-notifications.js';

export interface NotificationsProps {
  /** The panel's heading (default "Notifications"). */
  title?: ReactNode;
  /** Shown until the list has arrived (default "Loading notifications…"). */
  loading?: ReactNode;
  /** Shown when nothing is unread (default "No unread notifications."). */
  empty?: ReactNode;
  /** Renders one notification's content instead of its title, body and time; its "Mark read" button stays. */
  renderNotification?: (notification: Notification) => ReactNode;
  /** For the times; the browser's by default. */
  locale?: string;
}

/**
 * The customer's unread in-app notifications — alerts, trial and plan notices — with their
 * count, a "Mark read" button each and "Mark all read". A new one appears as the stream pushes
 * it, without a reload. Unstyled: style the `km-notifications*` and `km-notification*` classes;
 * the panel's `data-state` is `loading`, `error`, `empty` or `unread`.
 *
 * @example
 * <KeymasterProvider baseUrl={url} token={token} customer="acme">
 *   <Notifications locale="en-US" />
 * </KeymasterProvider>
 */
export function Notifications(props: NotificationsProps): ReactNode {
  const {
    title = 'Notifications',
    loading: loadingNode = <p className="km-notifications-loading">Loading notifications…</p>,
    empty = <p className="km-notifications-empty">No unread notifications.</p>,
    renderNotification,
    locale,
  } = props;
  const { notifications, more, loading, error, markRead, markAllRead } = useNotifications();
  const titleId = useId();
  /** Ids being marked ('*': all), so a button is not pressed twice meanwhile. */
  const [pending, setPending] = useState<ReadonlySet<string>>(new Set());
  const [failed, setFailed] = useState<string | null>(null);

  const mark = (id: string, failure: string) => {
    setFailed(null);
    setPending((ids) => new Set(ids).add(id));
    (id === '*' ? markAllRead() : markRead(id))
      .catch(() => setFailed(failure))
      .finally(() =>
        setPending((ids) => {
          const left = new Set(ids);
          left.delete(id);
          return left;
        }),
      );
  };

  const count = notifications.length;
  const state = loading ? 'loading' : count > 0 ? 'unread' : error ? 'error' : 'empty';
  const shownCount = more ? `${count}+` : String(count);
  return (
    <section className="km-notifications" data-state={state} aria-labelledby={titleId} aria-busy={loading}>
      <div className="km-notifications-header">
        <p className="km-notifications-title" id={titleId}>
          {title}
        </p>
        {!loading && (
          <span
            className="km-notifications-count"
            role="status"
            data-count={count}
            aria-label={
              count === 0
                ? 'No unread notifications'
                : `${shownCount} unread notification${count === 1 && !more ? '' : 's'}`
            }
          >
            {shownCount}
          </span>
        )}
      </div>
      {state === 'loading' && loadingNode}
      {state === 'empty' && empty}
      {state === 'error' && (
        <p className="km-notifications-error" role="alert">
          Notifications could not be loaded.
        </p>
      )}
      {count > 0 && (
        <ul className="km-notifications-list">
          {notifications.map((notification) => (
            <li
              className="km-notification"
              key={notification.id}
              data-id={notification.id}
              data-type={notification.type}
              aria-busy={pending.has(notification.id)}
            >
              {renderNotification ? (
                renderNotification(notification)
              ) : (
                <>
                  <p className="km-notification-title">{notification.title}</p>
                  <p className="km-notification-body">{notification.body}</p>
                  <time className="km-notification-time" dateTime={notification.created_at}>
                    {formatDateTime(notification.created_at, locale)}
                  </time>
                </>
              )}
              <button
                type="button"
                className="km-notification-read"
                aria-label={`Mark read: ${notification.title}`}
                disabled={pending.has(notification.id) || pending.has('*')}
                onClick={() => mark(notification.id, 'The notification could not be marked read.')}
              >
                Mark read
              </button>
            </li>
          ))}
        </ul>
      )}
      {count > 0 && (
        <button
          type="button"
          className="km-notifications-read-all"
          disabled={pending.has('*')}
          onClick={() => mark('*', 'The notifications could not be marked read.')}
        >
          Mark all read
        </button>
      )}
      {failed !== null && (
        <p className="km-notifications-error" role="alert">
          {failed}
        </p>
      )}
    </section>
  );
}
