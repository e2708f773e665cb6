import type { Plan } from '@keymaster/contract';
import { type ReactElement, useState } from 'react';
import { formatDate } from '../../ui/format';
import { Field } from '../../ui/forms';
import { PlanStatus } from './PlansPage';
import { describePrice, describeTerm, describeTerms, diffEntitlements, diffPlanFields } from './plan-diff';

/** The version to compare the latest one with by default: what is on sale, else the one before. */
function defaultPair(versions: readonly Plan[]): [number, number] {
  const latest = versions.at(-1)!.version;
  const published = versions.at(-1)!.published_version;
  const from = published !== null && published !== latest ? published : Math.max(1, latest - 1);
  return [from, latest];
}

/** Two versions of a plan side by side, and what changes from the first to the second. */
export function VersionCompare(props: { versions: readonly Plan[] }): ReactElement {
  const { versions } = props;
  // Until someone picks, the pair follows the plan (a new version becomes the one compared).
  const [picked, setPicked] = useState<{ from?: number; to?: number }>({});
  const [defaultFrom, defaultTo] = defaultPair(versions);
  const fromVersion = picked.from ?? defaultFrom;
  const toVersion = picked.to ?? defaultTo;
  const setFrom = (version: number) => setPicked({ ...picked, from: version });
  const setTo = (version: number) => setPicked({ ...picked, to: version });
  const from = versions.find((v) => v.version === fromVersion) ?? versions[0]!;
  const to = versions.find((v) => v.version === toVersion) ?? versions.at(-1)!;
  if (versions.length === 1) {
    return (
      <>
        <p className="muted">Only one version so far. Editing the plan after it is published opens version 2.</p>
        <VersionPanel plan={versions[0]!} />
      </>
    );
  }
  const changes = diffEntitlements(from.entitlements, to.entitlements);
  const planChanges = diffPlanFields(from, to);
  const choose = (value: number, label: string, onChange: (version: number) => void) => (
    <Field label={label}>
      {(control) => (
        <select {...control} value={value} onChange={(e) => onChange(Number(e.target.value))}>
          {versions.map((v) => (
            <option key={v.version} value={v.version}>
              Version {v.version} ({v.status})
            </option>
          ))}
        </select>
      )}
    </Field>
  );
  return (
    <>
      <div className="row">
        {choose(fromVersion, 'Compare version', setFrom)}
        {choose(toVersion, 'With version', setTo)}
      </div>
      <div className="grid-2">
        <VersionPanel plan={from} />
        <VersionPanel plan={to} />
      </div>
      <h3>
        Changes from version {from.version} to version {to.version}
      </h3>
      {changes.length === 0 && planChanges.length === 0 ? (
        <p className="muted">These versions give the same.</p>
      ) : (
        <table>
          <caption className="visually-hidden">
            Changes from version {from.version} to version {to.version}
          </caption>
          <thead>
            <tr>
              <th scope="col">What</th>
              <th scope="col">Change</th>
              <th scope="col">Version {from.version}</th>
              <th scope="col">Version {to.version}</th>
            </tr>
          </thead>
          <tbody>
            {planChanges.map((change) => (
              <tr key={change.label}>
                <td>{change.label}</td>
                <td>
                  <span className="badge warn">changed</span>
                </td>
                <td>{change.from}</td>
                <td>{change.to}</td>
              </tr>
            ))}
            {changes.map((change) => (
              <tr key={change.feature}>
                <td>
                  <code>{change.feature}</code>
                </td>
                <td>
                  <span
                    className={`badge ${change.kind === 'added' ? 'ok' : change.kind === 'removed' ? 'danger' : 'warn'}`}
                  >
                    {change.kind}
                  </span>
                </td>
                <td>
                  {change.from === null
                    ? '—'
                    : change.kind === 'changed'
                      ? change.fields.map((field) => describeTerm(change.from!, field)).join(', ')
                      : describeTerms(change.from)}
                </td>
                <td>
                  {change.to === null
                    ? '—'
                    : change.kind === 'changed'
                      ? change.fields.map((field) => describeTerm(change.to!, field)).join(', ')
                      : describeTerms(change.to)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function VersionPanel(props: { plan: Plan }): ReactElement {
  const { plan } = props;
  return (
    <div className="panel">
      <h3>
        Version {plan.version} <PlanStatus status={plan.status} />
      </h3>
      <p className="small muted">
        {describePrice(plan.price)}
        {plan.trial_days ? ` · ${plan.trial_days}-day trial` : ''} ·{' '}
        {plan.published_at ? `published ${formatDate(plan.published_at)}` : `created ${formatDate(plan.created_at)}`}
      </p>
      {plan.entitlements.length === 0 ? (
        <p className="muted">No features.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Features of version {plan.version}</caption>
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">Terms</th>
            </tr>
          </thead>
          <tbody>
            {plan.entitlements.map((term) => (
              <tr key={term.feature}>
                <td>
                  <code>{term.feature}</code>
                </td>
                <td>{describeTerms(term)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
