import type { Customer } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { useNavigate } from 'react-router';
import { ConfirmDialog } from '../../ui/dialogs';
import { formatDateTime } from '../../ui/format';
import { Field, FormError } from '../../ui/forms';
import { useApi, useSession } from '../session';
import { customerKeys, customerPath } from './queries';

/** `POST /v1/portal-sessions`' answer: a link good for an hour. */
interface PortalLink {
  url: string;
  expires_at: string;
}

/**
 * What support does to a customer as a whole: open their portal as they would see it, download
 * everything held about them (GDPR access), or erase them (GDPR erasure, after typing their id).
 */
export function CustomerActions(props: { customer: Customer }): ReactElement {
  const { customer } = props;
  const api = useApi();
  const { can } = useSession();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [typed, setTyped] = useState('');

  const portal = useMutation({
    mutationFn: () => api.post<PortalLink>('/v1/portal-sessions', { customer: customer.id }),
    onSuccess: (link) => {
      window.open(link.url, '_blank', 'noopener,noreferrer');
    },
  });

  async function erase(): Promise<void> {
    if (typed !== customer.id) {
      throw new Error(`Type the customer id, ${customer.id}, exactly to confirm.`);
    }
    await api.delete(customerPath(customer.id));
    queries.removeQueries({ queryKey: customerKeys.of(customer.id) });
    await queries.invalidateQueries({ queryKey: ['customers', 'list'] });
    navigate('/customers', { replace: true });
  }

  const write = can('customers:write');
  return (
    <div>
      <div className="row">
        {write ? (
          <button type="button" onClick={() => portal.mutate()} disabled={portal.isPending}>
            Open portal as this customer
          </button>
        ) : null}
        {/* A plain link: the browser streams the download itself, however large the export. */}
        <a className="button" href={customerPath(customer.id, 'export')} download={`customer-${customer.id}.json`}>
          Export (GDPR)
        </a>
        {write ? (
          <ConfirmDialog
            trigger={
              <button type="button" className="danger" onClick={() => setTyped('')}>
                Erase
              </button>
            }
            title={`Erase ${customer.name ?? customer.id}?`}
            description={
              <>
                <p>
                  This deletes the customer and everything stored about them — subscriptions, grants, usage,
                  notifications and decisions — at once and for good. The audit trail keeps that it happened, without
                  their data. Export first if you need a copy.
                </p>
                <Field label={`Type the customer id (${customer.id}) to confirm`}>
                  {(control) => (
                    <input
                      {...control}
                      value={typed}
                      onChange={(event) => setTyped(event.target.value)}
                      autoComplete="off"
                      spellCheck={false}
                    />
                  )}
                </Field>
              </>
            }
            confirmLabel="Erase customer"
            danger
            onConfirm={erase}
          />
        ) : null}
      </div>
      <FormError error={portal.error} />
      {portal.data ? (
        <p className="small muted" role="status">
          Portal opened in a new tab.{' '}
          <a href={portal.data.url} target="_blank" rel="noopener noreferrer">
            Open the portal link
          </a>{' '}
          (valid until {formatDateTime(portal.data.expires_at)}).
        </p>
      ) : null}
    </div>
  );
}
