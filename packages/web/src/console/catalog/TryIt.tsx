import type { Decision, Feature } from '@keymaster/contract';
import { useMutation } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { formatCount, formatDateTime, formatMoney } from '../../ui/format';
import { Field, FormError, fieldError } from '../../ui/forms';
import { useApi, useSession } from '../session';
import { looseJson } from './field-errors';

/** What each `reason` of a decision means, for the person reading it. */
export const reasons: Record<Decision['reason'], string> = {
  entitled: 'Allowed: the customer is entitled.',
  no_entitlement: 'Their plan does not include it, or a targeting rule or grant turned it off.',
  limit_reached: 'They have used up their limit for the period.',
  feature_disabled: 'The kill switch is on: denied to everyone.',
  subscription_inactive: 'Their subscription is not live (canceled, expired or paused).',
  unknown_customer: 'There is no customer with this id.',
  unknown_feature: 'There is no feature with this key.',
};

interface ContextRow {
  id: number;
  name: string;
  value: string;
}

/**
 * "Try it": asks `POST /v1/check` for a customer and a context, as the product would, and shows
 * the decision — to see what a targeting rule or the kill switch does before a customer does.
 */
export function TryIt(props: { feature: Feature }): ReactElement {
  const { feature } = props;
  const api = useApi();
  const { can } = useSession();
  const [customer, setCustomer] = useState('');
  const [quantity, setQuantity] = useState('');
  const [rows, setRows] = useState<ContextRow[]>([]);
  const [nextId, setNextId] = useState(1);
  const counted = feature.type === 'metered' || feature.type === 'gauge';
  const check = useMutation({
    mutationFn: () => {
      const context: Record<string, unknown> = {};
      for (const row of rows) if (row.name.trim()) context[row.name.trim()] = looseJson(row.value);
      return api.post<Decision>('/v1/check', {
        customer: customer.trim(),
        feature: feature.key,
        ...(counted && quantity.trim() ? { quantity: Number(quantity) } : {}),
        ...(rows.length > 0 ? { context } : {}),
      });
    },
  });
  if (!can('check:read')) return <p className="muted">Your role may not run checks.</p>;
  const setRow = (id: number, change: Partial<ContextRow>) =>
    setRows(rows.map((row) => (row.id === id ? { ...row, ...change } : row)));
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        check.mutate();
      }}
    >
      <p className="muted small">
        Runs a real check (<code>POST /v1/check</code>); it records no usage.
      </p>
      <div className="grid-2">
        <Field label="Customer id" error={fieldError(check.error, '/customer')}>
          {(control) => <input {...control} required value={customer} onChange={(e) => setCustomer(e.target.value)} />}
        </Field>
        {counted ? (
          <Field
            label="Quantity"
            error={fieldError(check.error, '/quantity')}
            hint="Units about to be used; 1 if empty."
          >
            {(control) => (
              <input
                {...control}
                type="number"
                min={0}
                value={quantity}
                onChange={(e) => setQuantity(e.target.value)}
              />
            )}
          </Field>
        ) : null}
      </div>
      <fieldset>
        <legend>Context</legend>
        <p className="muted small">
          Attributes the caller sends (e.g. <code>app_version</code>). The customer's stored traits win over them.
        </p>
        {rows.map((row, index) => (
          <div className="row" key={row.id}>
            <Field label={`Attribute ${index + 1}`}>
              {(control) => (
                <input {...control} value={row.name} onChange={(e) => setRow(row.id, { name: e.target.value })} />
              )}
            </Field>
            <Field label={`Value ${index + 1}`}>
              {(control) => (
                <input {...control} value={row.value} onChange={(e) => setRow(row.id, { value: e.target.value })} />
              )}
            </Field>
            <button type="button" onClick={() => setRows(rows.filter((r) => r.id !== row.id))}>
              Remove attribute {index + 1}
            </button>
          </div>
        ))}
        <button
          type="button"
          onClick={() => {
            setRows([...rows, { id: nextId, name: '', value: '' }]);
            setNextId(nextId + 1);
          }}
        >
          Add context attribute
        </button>
      </fieldset>
      <FormError error={check.error} shown={['/customer', '/quantity']} />
      <p>
        <button type="submit" className="primary" disabled={check.isPending}>
          {check.isPending ? 'Checking…' : 'Check'}
        </button>
      </p>
      {check.data && !check.isPending ? <DecisionView decision={check.data} /> : null}
    </form>
  );
}

function DecisionView(props: { decision: Decision }): ReactElement {
  const { decision } = props;
  return (
    <section aria-label="Decision" className={`alert ${decision.allowed ? 'ok' : 'error'}`} aria-live="polite">
      <p>
        <strong>{decision.allowed ? 'Allowed' : 'Denied'}</strong> — reason <code>{decision.reason}</code>.{' '}
        {reasons[decision.reason]}
      </p>
      <dl className="small">
        {decision.value !== null && decision.value !== undefined ? (
          <>
            <dt>Value</dt>
            <dd>
              <code>{JSON.stringify(decision.value)}</code>
            </dd>
          </>
        ) : null}
        {decision.usage !== null ? (
          <>
            <dt>Usage</dt>
            <dd>
              {formatCount(decision.usage)} of {decision.unlimited ? 'unlimited' : formatCount(decision.limit)}
              {decision.balance !== null ? ` (${formatCount(decision.balance)} left)` : ''}
            </dd>
          </>
        ) : null}
        {decision.resets_at ? (
          <>
            <dt>Resets</dt>
            <dd>{formatDateTime(decision.resets_at)}</dd>
          </>
        ) : null}
        {decision.upgrade ? (
          <>
            <dt>Plans that would allow it</dt>
            <dd>
              {decision.upgrade.plans
                .map(
                  (plan) =>
                    `${plan.name}${plan.price ? ` (${formatMoney(plan.price.amount, plan.price.currency)}/${plan.price.interval})` : ''}`,
                )
                .join(', ')}
            </dd>
          </>
        ) : null}
      </dl>
    </section>
  );
}
