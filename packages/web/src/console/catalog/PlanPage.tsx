import type { Plan } from '@keymaster/contract';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Link, useParams } from 'react-router';
import { segment } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { formatDate } from '../../ui/format';
import { ErrorAlert, FormError, Loading } from '../../ui/forms';
import { useApi, useSession } from '../session';
import { useFeatureTypes } from './EntitlementsEditor';
import { shownUnder } from './field-errors';
import { MigrationPanel } from './MigrationPanel';
import { PlanStatus } from './PlansPage';
import { describePrice } from './plan-diff';
import { PlanFields, planDraftOf, planFieldPaths, planKinds, planPatchBody } from './plan-form';
import { VersionCompare } from './VersionCompare';

const versionsKey = (key: string) => ['plans', key, 'versions'] as const;

/** `/plans/:key`: a plan's versions side by side, its draft, publishing, archiving and migrating subscribers. */
export function PlanPage(): ReactElement {
  const { key = '' } = useParams();
  const api = useApi();
  const versions = useQuery({
    queryKey: versionsKey(key),
    queryFn: async () => (await api.get<{ data: Plan[] }>(`/v1/plans/${segment(key)}/versions`)).data,
  });
  if (versions.isPending) return <Loading what="the plan" />;
  if (versions.isError || versions.data.length === 0)
    return (
      <>
        <h1>Plan {key}</h1>
        <ErrorAlert error={versions.error ?? new Error('This plan has no versions.')} />
        <Link to="/plans">All plans</Link>
      </>
    );
  const sorted = [...versions.data].sort((a, b) => a.version - b.version);
  return <PlanView versions={sorted} />;
}

function PlanView(props: { versions: Plan[] }): ReactElement {
  const { versions } = props;
  const latest = versions.at(-1)!;
  const { can } = useSession();
  const writable = can('catalog:write');
  const draft = versions.find((v) => v.status === 'draft');
  return (
    <>
      <p className="small">
        <Link to="/plans">Plans</Link> / <code>{latest.key}</code>
      </p>
      <div className="spread">
        <h1>
          {latest.name} <PlanStatus status={latest.status} />
        </h1>
        {writable ? <PlanActions versions={versions} /> : null}
      </div>
      <p className="muted">
        <code>{latest.key}</code> · {planKinds[latest.kind]} · {describePrice(latest.price)} ·{' '}
        {latest.published_version === null
          ? 'not on sale'
          : `version ${latest.published_version} on sale since ${formatDate(
              versions.find((v) => v.version === latest.published_version)?.published_at,
            )}`}
        {draft ? ` · draft: version ${draft.version}` : ''}
      </p>
      <section className="panel" aria-labelledby="versions">
        <h2 id="versions">Versions</h2>
        <VersionCompare versions={versions} />
      </section>
      {writable ? (
        <section className="panel" aria-labelledby="draft">
          <h2 id="draft">{draft ? `Draft: version ${draft.version}` : 'Next version'}</h2>
          <DraftEditor key={`${latest.version}-${latest.status}`} latest={latest} />
        </section>
      ) : null}
      {writable ? (
        <section className="panel" aria-labelledby="migrate">
          <h2 id="migrate">Migrate subscribers</h2>
          <p className="muted">
            Subscribers stay on the version they bought until moved. Run a dry run first to see what each one gains and
            loses.
          </p>
          <MigrationPanel plan={latest.key} versions={versions} />
        </section>
      ) : null}
    </>
  );
}

/** Publish the draft and archive the plan, each behind a confirmation that says what it does. */
function PlanActions(props: { versions: Plan[] }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const latest = props.versions.at(-1)!;
  const draft = props.versions.find((v) => v.status === 'draft');
  const onSale = props.versions.some((v) => v.status === 'published');
  const path = `/v1/plans/${segment(latest.key)}`;
  const refresh = () => queries.invalidateQueries({ queryKey: ['plans'] });
  return (
    <div className="row">
      {draft ? (
        <ConfirmDialog
          trigger={
            <button type="button" className="primary">
              Publish
            </button>
          }
          title={`Publish version ${draft.version} of ${latest.name}?`}
          description={
            <p>
              New subscriptions get version {draft.version} from now on. Existing subscribers stay on their version
              until you migrate them. A published version can no longer be edited.
            </p>
          }
          confirmLabel="Publish"
          onConfirm={async () => {
            await api.post(`${path}/publish`, { version: draft.version });
            await refresh();
          }}
        />
      ) : null}
      {onSale ? (
        <ConfirmDialog
          trigger={<button type="button">Archive</button>}
          title={`Archive ${latest.name}?`}
          description={
            <p>
              Takes every published version off sale: nobody can subscribe to it any more. Existing subscriptions keep
              their version and their access.
            </p>
          }
          confirmLabel="Archive"
          danger
          onConfirm={async () => {
            await api.post(`${path}/archive`);
            await refresh();
          }}
        />
      ) : null}
    </div>
  );
}

/**
 * The draft's editor: edits the draft in place, or — when the latest version is published or
 * archived — opens the next version as a draft with these terms (`PATCH` does either).
 */
function DraftEditor(props: { latest: Plan }): ReactElement {
  const { latest } = props;
  const api = useApi();
  const queries = useQueryClient();
  const isDraft = latest.status === 'draft';
  const [open, setOpen] = useState(isDraft);
  const [draft, setDraft] = useState(() => planDraftOf(latest));
  const types = useFeatureTypes(draft.entitlements);
  const save = useMutation({
    mutationFn: () => api.patch<Plan>(`/v1/plans/${segment(latest.key)}`, planPatchBody(draft, types)),
    onSuccess: () => queries.invalidateQueries({ queryKey: ['plans'] }),
  });
  if (!open)
    return (
      <>
        <p className="muted">
          Version {latest.version} is {latest.status} and cannot change. A new version starts as a copy of it.
        </p>
        <button type="button" onClick={() => setOpen(true)}>
          New draft version
        </button>
      </>
    );
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      {isDraft ? null : (
        <p className="alert info">
          Saving creates version {latest.version + 1} as a draft; version {latest.version} stays as it is.
        </p>
      )}
      <PlanFields draft={draft} onChange={setDraft} types={types} error={save.error} creating={false} />
      <FormError error={save.error} shown={shownUnder(save.error, planFieldPaths)} />
      {save.isSuccess && !save.isPending ? (
        <p className="alert ok" role="status">
          Draft saved.
        </p>
      ) : null}
      <div className="row">
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : isDraft ? 'Save draft' : `Create version ${latest.version + 1}`}
        </button>
        {isDraft ? null : (
          <button type="button" onClick={() => setOpen(false)}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
