import type { Plan, PlanMigrationRequest, PlanMigrationResult } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Link } from 'react-router';
import { segment } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { formatCount } from '../../ui/format';
import { Field, FormError, fieldError } from '../../ui/forms';
import { useApi } from '../session';

type When = NonNullable<PlanMigrationRequest['when']>;
type Terms = PlanMigrationResult['customers'][number]['changes'][number]['from'];

const whens: Record<When, string> = {
  period_end: "At each subscriber's period end",
  now: 'Now',
};

/** Terms in a few words, for the "changes" column: `limit 1,000`, `off`, `value "gold"`. */
function termsText(terms: Terms): string {
  if (!terms.enabled) return 'off';
  if (terms.value !== null && terms.value !== undefined) return `value ${JSON.stringify(terms.value)}`;
  return terms.limit === null ? 'on, unlimited' : `limit ${formatCount(terms.limit)}`;
}

/**
 * Moves the subscribers of one version to another: first a dry run (what each customer gains,
 * loses, sees change, and where their usage is already over a new limit), then — confirmed — the
 * migration itself with the same choices.
 */
export function MigrationPanel(props: { plan: string; versions: readonly Plan[] }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const published = props.versions.filter((v) => v.status === 'published');
  const onSale = props.versions.at(-1)!.published_version ?? published.at(-1)?.version;
  // Until someone picks, the choices follow the plan: to what is on sale, from the oldest other version.
  const [picked, setPicked] = useState<{ from?: number; to?: number }>({});
  const to = picked.to ?? onSale;
  const from = picked.from ?? props.versions.find((v) => v.version !== to && v.status !== 'draft')?.version;
  const setFrom = (version: number) => setPicked({ ...picked, from: version });
  const setTo = (version: number) => setPicked({ ...picked, to: version });
  const [when, setWhen] = useState<When>('period_end');
  const run = (dryRun: boolean) =>
    api.post<PlanMigrationResult>(`/v1/plans/${segment(props.plan)}/migrate`, {
      from_version: from,
      to_version: to,
      when,
      dry_run: dryRun,
    });
  const preview = useMutation({ mutationFn: () => run(true) });
  const migrate = useMutation({
    mutationFn: () => run(false),
    onSuccess: () => {
      preview.reset();
      void queries.invalidateQueries({ queryKey: ['customers'] });
    },
  });
  // A dry run answers for the choices it was made with: changing one asks for a new one.
  const choose =
    <T,>(setter: (value: T) => void) =>
    (value: T) => {
      setter(value);
      preview.reset();
      migrate.reset();
    };
  const candidates = props.versions.filter((v) => v.status !== 'draft');
  if (published.length === 0)
    return <p className="muted">Publish a version first: subscribers can only move to a published version.</p>;
  if (candidates.length < 2)
    return <p className="muted">Publish another version first: subscribers move from one version to another.</p>;
  const result = migrate.data ?? preview.data;
  return (
    <>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          preview.mutate();
        }}
      >
        <div className="row">
          <Field label="From version" error={fieldError(preview.error, '/from_version')}>
            {(control) => (
              <select {...control} value={from ?? ''} onChange={(e) => choose(setFrom)(Number(e.target.value))}>
                <option value="" disabled>
                  Choose…
                </option>
                {candidates.map((v) => (
                  <option key={v.version} value={v.version}>
                    Version {v.version} ({v.status})
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="To version" error={fieldError(preview.error, '/to_version')}>
            {(control) => (
              <select {...control} value={to ?? ''} onChange={(e) => choose(setTo)(Number(e.target.value))}>
                {published.map((v) => (
                  <option key={v.version} value={v.version}>
                    Version {v.version}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="When" error={fieldError(preview.error, '/when')}>
            {(control) => (
              <select {...control} value={when} onChange={(e) => choose(setWhen)(e.target.value as When)}>
                {Object.entries(whens).map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <FormError error={preview.error} shown={['/from_version', '/to_version', '/when']} />
        <button type="submit" disabled={preview.isPending || from === undefined || to === undefined}>
          {preview.isPending ? 'Running…' : 'Dry run'}
        </button>
      </form>
      {result ? <MigrationResult result={result} /> : null}
      {preview.data && !migrate.data ? (
        <p>
          <ConfirmDialog
            trigger={
              <button type="button" className="primary" disabled={preview.data.affected === 0}>
                Migrate
              </button>
            }
            title={`Migrate version ${preview.data.from_version} to version ${preview.data.to_version}?`}
            description={
              <p>
                {formatCount(preview.data.affected)} subscription{preview.data.affected === 1 ? '' : 's'} move
                {when === 'now' ? ' now' : " at each one's period end (shown on the subscription until then)"}. They get
                what the dry run shows, including the losses. It cannot be undone in one step.
              </p>
            }
            confirmLabel="Migrate"
            onConfirm={() => migrate.mutateAsync()}
          />
        </p>
      ) : null}
    </>
  );
}

function MigrationResult(props: { result: PlanMigrationResult }): ReactElement {
  const { result } = props;
  const subject = `${formatCount(result.affected)} subscription${result.affected === 1 ? '' : 's'} on version ${result.from_version}`;
  return (
    <section aria-label={result.dry_run ? 'Dry run' : 'Migration'}>
      <p className={`alert ${result.dry_run ? 'info' : 'ok'}`} role="status">
        {result.dry_run
          ? `Dry run: ${subject} would move to version ${result.to_version}. Nothing has changed yet.`
          : `Migrated: ${formatCount(result.applied)} of ${subject} ${result.when === 'now' ? 'moved' : 'scheduled to move'} to version ${result.to_version}.`}
      </p>
      {result.customers.length > 0 ? (
        <table>
          <caption>{result.dry_run ? 'What each customer would' : 'What each customer will'} gain and lose</caption>
          <thead>
            <tr>
              <th scope="col">Customer</th>
              <th scope="col">Gains</th>
              <th scope="col">Losses</th>
              <th scope="col">Changes</th>
              <th scope="col">Over the new limit</th>
              <th scope="col">Note</th>
            </tr>
          </thead>
          <tbody>
            {result.customers.map((row) => (
              <tr key={row.subscription}>
                <td>
                  <Link to={`/customers/${segment(row.customer)}`}>{row.customer}</Link>
                </td>
                <td>{row.gains.length > 0 ? row.gains.join(', ') : '—'}</td>
                <td>{row.losses.length > 0 ? row.losses.join(', ') : '—'}</td>
                <td>
                  {row.changes.length > 0
                    ? row.changes
                        .map((change) => `${change.feature}: ${termsText(change.from)} → ${termsText(change.to)}`)
                        .join('; ')
                    : '—'}
                </td>
                <td>
                  {row.over_limit.length > 0
                    ? row.over_limit
                        .map(
                          (over) =>
                            `${over.feature}: ${formatCount(over.usage)} used, new limit ${formatCount(over.limit)}`,
                        )
                        .join('; ')
                    : '—'}
                </td>
                <td>{row.skipped ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
