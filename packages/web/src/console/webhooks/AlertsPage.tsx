import type { AlertRule, AlertRuleCreate, Feature, Plan } from '@keymaster/contract';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactElement, useId, useState } from 'react';
import { useSearchParams } from 'react-router';
import { type Page, segment } from '../../api/client';
import { ConfirmDialog, FormDialog } from '../../ui/dialogs';
import { formatCount, formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, FormError, fieldError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useSession } from '../session';

const rulesKey = ['alerts', 'rules'] as const;

type AlertType = AlertRule['type'];
const typeLabels: Record<AlertType, string> = {
  percent: 'Percent of the limit',
  units: 'Units used',
  forecast_percent: 'Forecast percent of the limit',
};

/** What a rule watches for, in words: "80 % of the limit", "1,000 units". */
function condition(rule: Pick<AlertRule, 'type' | 'value'>): string {
  if (rule.type === 'units') return `${formatCount(rule.value)} units used`;
  if (rule.type === 'percent') return `${formatCount(rule.value)} % of the limit`;
  return `${formatCount(rule.value)} % of the limit, forecast to the period's end`;
}

function scope(rule: Pick<AlertRule, 'plan' | 'customer'>): ReactElement {
  if (rule.customer) return <>Customer {rule.customer}</>;
  if (rule.plan) return <>Subscribers of {rule.plan}</>;
  return <>Every customer</>;
}

/**
 * `/alerts`: the usage alert rules. Each fires `usage.threshold_reached` (to webhooks, the
 * customer's in-app notifications and email) once per customer and usage period when met.
 */
export function AlertsPage(): ReactElement {
  const { can } = useSession();
  const writable = can('webhooks:write');
  const [params, setParams] = useSearchParams();
  const feature = params.get('feature') ?? '';
  const [featureFilter, setFeatureFilter] = useState(feature);
  const rules = useCursorList<AlertRule>({
    key: rulesKey,
    path: '/v1/alert-rules',
    query: { feature: feature || undefined },
  });
  return (
    <>
      <h1>Alerts</h1>
      <p className="muted">
        A rule watches a metered feature or a gauge and fires <code>usage.threshold_reached</code> once per customer and
        usage period when it is met: to the webhooks, to the customer's notifications, and by email when set up.
      </p>
      <div className="spread">
        <form
          className="row"
          style={{ alignItems: 'flex-end' }}
          onSubmit={(event) => {
            event.preventDefault();
            setParams(featureFilter.trim() ? { feature: featureFilter.trim() } : {}, { replace: true });
          }}
        >
          <Field label="Feature">
            {(control) => (
              <input
                {...control}
                value={featureFilter}
                onChange={(e) => setFeatureFilter(e.target.value)}
                placeholder="Every feature"
              />
            )}
          </Field>
          <div className="field">
            <button type="submit">Filter</button>
          </div>
        </form>
        {writable ? <RuleDialog /> : null}
      </div>
      {rules.isPending ? (
        <Loading what="alert rules" />
      ) : rules.isError ? (
        <ErrorAlert error={rules.error} />
      ) : rules.rows.length === 0 ? (
        <p className="muted">No alert rules{feature ? ` on ${feature}` : ''}.</p>
      ) : (
        <>
          <table>
            <caption className="visually-hidden">Alert rules</caption>
            <thead>
              <tr>
                <th scope="col">Feature</th>
                <th scope="col">Fires at</th>
                <th scope="col">Watches</th>
                <th scope="col">Created</th>
                {writable ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {rules.rows.map((rule) => (
                <tr key={rule.id}>
                  <td>
                    <code>{rule.feature}</code>
                    <div className="small muted">{rule.id}</div>
                  </td>
                  <td>{condition(rule)}</td>
                  <td>{scope(rule)}</td>
                  <td className="small">{formatDateTime(rule.created_at)}</td>
                  {writable ? (
                    <td>
                      <div className="row">
                        <RuleDialog rule={rule} />
                        <DeleteRule rule={rule} />
                      </div>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
          <ShowMore list={rules} />
        </>
      )}
    </>
  );
}

function DeleteRule(props: { rule: AlertRule }): ReactElement {
  const { rule } = props;
  const { api } = useSession();
  const queries = useQueryClient();
  return (
    <ConfirmDialog
      trigger={
        <button type="button" aria-label={`Delete the rule on ${rule.feature} at ${condition(rule)}`}>
          Delete
        </button>
      }
      title="Delete the alert rule?"
      description={
        <p>
          The rule on <code>{rule.feature}</code> at {condition(rule)} stops firing at once. The alerts it fired stay.
        </p>
      }
      confirmLabel="Delete rule"
      danger
      onConfirm={async () => {
        await api.delete(`/v1/alert-rules/${segment(rule.id)}`);
        await queries.invalidateQueries({ queryKey: rulesKey });
      }}
    />
  );
}

/**
 * Creates a rule, or changes one. The API keeps rules as they were made (a rule's firings are
 * counted by its id), so a change creates the rule as edited and then deletes the old one.
 */
function RuleDialog(props: { rule?: AlertRule }): ReactElement {
  const { rule } = props;
  const { api } = useSession();
  const queries = useQueryClient();
  const save = useMutation({
    mutationFn: async (body: AlertRuleCreate) => {
      const created = await api.post<AlertRule>('/v1/alert-rules', body);
      if (rule) await api.delete(`/v1/alert-rules/${segment(rule.id)}`);
      return created;
    },
    onSettled: () => queries.invalidateQueries({ queryKey: rulesKey }),
  });
  return (
    <FormDialog
      trigger={
        rule ? (
          <button
            type="button"
            onClick={() => save.reset()}
            aria-label={`Edit the rule on ${rule.feature} at ${condition(rule)}`}
          >
            Edit
          </button>
        ) : (
          <button type="button" className="primary" onClick={() => save.reset()}>
            Add rule
          </button>
        )
      }
      title={rule ? 'Change the alert rule' : 'Add an alert rule'}
      description={
        rule
          ? 'Saving replaces the rule with a new one (a new id): customers already past its threshold this period are alerted again at their next use.'
          : 'It fires once per customer and usage period when met.'
      }
    >
      {(close) => (
        <RuleForm
          rule={rule}
          pending={save.isPending}
          error={save.error}
          onCancel={close}
          onSubmit={(body) => save.mutate(body, { onSuccess: close })}
        />
      )}
    </FormDialog>
  );
}

function RuleForm(props: {
  rule?: AlertRule | undefined;
  pending: boolean;
  error: unknown;
  onSubmit: (body: AlertRuleCreate) => void;
  onCancel: () => void;
}): ReactElement {
  const { rule, error } = props;
  const { api } = useSession();
  const listId = useId();
  const [feature, setFeature] = useState(rule?.feature ?? '');
  const [type, setType] = useState<AlertType>(rule?.type ?? 'percent');
  const [value, setValue] = useState(rule ? String(rule.value) : '80');
  const [plan, setPlan] = useState(rule?.plan ?? '');
  const [customer, setCustomer] = useState(rule?.customer ?? '');
  // Suggestions only (the first page of each): the API says what it does not know.
  const features = useQuery({
    queryKey: ['features', 'list', 'alert-suggestions'],
    queryFn: () => api.get<Page<Feature>>('/v1/features', { limit: 100 }),
  });
  const plans = useQuery({
    queryKey: ['plans', 'list', 'alert-suggestions'],
    queryFn: () => api.get<Page<Plan>>('/v1/plans', { limit: 100 }),
  });
  const [notWhole, setNotWhole] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const number = Number(value.trim());
    setNotWhole(value.trim() === '' || !Number.isInteger(number));
    if (value.trim() === '' || !Number.isInteger(number)) return;
    props.onSubmit({
      feature: feature.trim(),
      type,
      value: number,
      ...(plan.trim() ? { plan: plan.trim() } : {}),
      ...(customer.trim() ? { customer: customer.trim() } : {}),
    });
  };
  return (
    <form onSubmit={submit} noValidate>
      <Field label="Feature" hint="A metered feature or a gauge, by key." error={fieldError(error, '/feature')}>
        {(control) => (
          <input
            {...control}
            list={`${listId}-features`}
            value={feature}
            onChange={(e) => setFeature(e.target.value)}
          />
        )}
      </Field>
      <datalist id={`${listId}-features`}>
        {features.data?.data
          .filter((f) => f.type === 'metered' || f.type === 'gauge')
          .map((f) => (
            <option key={f.key} value={f.key}>
              {f.name}
            </option>
          ))}
      </datalist>
      <Field label="Fires when" error={fieldError(error, '/type')}>
        {(control) => (
          <select {...control} value={type} onChange={(e) => setType(e.target.value as AlertType)}>
            {Object.entries(typeLabels).map(([key, label]) => (
              <option key={key} value={key}>
                {label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label="Threshold"
        hint={type === 'units' ? 'Units used in the usage period, at least 1.' : 'Percent of the limit, 1 to 1000.'}
        error={notWhole ? 'Enter a whole number.' : fieldError(error, '/value')}
      >
        {(control) => (
          <input {...control} inputMode="numeric" value={value} onChange={(e) => setValue(e.target.value)} />
        )}
      </Field>
      <Field
        label="Plan"
        hint="Only this plan's subscribers; empty: not limited to a plan."
        error={fieldError(error, '/plan')}
      >
        {(control) => (
          <input {...control} list={`${listId}-plans`} value={plan} onChange={(e) => setPlan(e.target.value)} />
        )}
      </Field>
      <datalist id={`${listId}-plans`}>
        {plans.data?.data.map((p) => (
          <option key={p.key} value={p.key}>
            {p.name}
          </option>
        ))}
      </datalist>
      <Field
        label="Customer"
        hint="Only this customer (overriding the plan's rules on the feature); empty: every customer."
        error={fieldError(error, '/customer')}
      >
        {(control) => <input {...control} value={customer} onChange={(e) => setCustomer(e.target.value)} />}
      </Field>
      <FormError error={error} shown={['/feature', '/type', '/value', '/plan', '/customer']} />
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={props.pending}>
          {rule ? 'Save' : 'Add rule'}
        </button>
      </div>
    </form>
  );
}
