import type { ReactElement } from 'react';
import { formatDateTime } from '../../ui/format';
import { CopyField } from './CopyField';

/**
 * The answer of `POST /v1/users/invitations` and `POST /v1/users/:id/password-reset`: the link, or
 * `emailed: true` (and no URL) when the server sent it to its person (SMTP and KEYMASTER_PUBLIC_URL set).
 */
export interface OneTimeLink {
  email: string;
  expires_at: string;
  url: string | null;
  emailed: boolean;
}

/** What became of a one-time link: emailed to its person, or shown here to be passed on. */
export function LinkResult(props: { link: OneTimeLink; label: string; what: string }): ReactElement {
  const { link } = props;
  if (link.emailed || link.url === null) {
    return (
      <div className="alert ok" role="status">
        The {props.what} link was emailed to <strong>{link.email}</strong>. It works once, until{' '}
        {formatDateTime(link.expires_at)}.
      </div>
    );
  }
  // Without KEYMASTER_PUBLIC_URL the server answers a path: the link is under this console's address.
  const url = new URL(link.url, window.location.origin).href;
  return (
    <>
      <div className="alert info" role="status">
        Email is not set up on this server, so pass this link on to <strong>{link.email}</strong> yourself. It works
        once, until {formatDateTime(link.expires_at)}; whoever holds it can use it.
      </div>
      <CopyField label={props.label} value={url} />
    </>
  );
}
