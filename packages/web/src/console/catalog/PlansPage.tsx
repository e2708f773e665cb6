import type { Plan } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { segment } from '../../api/client';
import { FormDialog } from '../../ui/dialogs';
import { ErrorAlert, FormError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useApi, useSession } from '../session';
import { useFeatureTypes } from './EntitlementsEditor';
import { shownUnder } from './field-errors';
import { describePrice } from './plan-diff';
import { emptyPlan, PlanFields, planCreateBody, planFieldPaths, planKinds } from './plan-form';

const statusBadges: Record<Plan['status'], string> = { draft: 'warn', published: 'ok', archived: '' };

export function PlanStatus(props: { status: Plan['status'] }): ReactElement {
  return <span className={`badge ${statusBadges[props.status]}`}>{props.status}</span>;
}

/** `/plans`: every plan and add-on with its latest version, what is on sale, and a form for a new one. */
export function PlansPage(): ReactElement {
  const { can } = useSession();
  const list = useCursorList<Plan>({ key: ['plans', 'list'], path: '/v1/plans' });
  return (
    <>
      <div className="spread">
        <h1>Plans</h1>
        {can('catalog:write') ? <NewPlan /> : null}
      </div>
      <p className="muted">
        Base plans and add-ons. A published version never changes: editing opens the next version as a draft, and
        subscribers stay on their version until migrated.
      </p>
      {list.isPending ? (
        <Loading what="plans" />
      ) : list.isError ? (
        <ErrorAlert error={list.error} />
      ) : list.rows.length === 0 ? (
        <p className="alert info">No plans yet. Add the first one with “New plan”.</p>
      ) : (
        <>
          <table>
            <caption>Plans by key, with their latest version</caption>
            <thead>
              <tr>
                <th scope="col">Plan</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">
                  Latest version
                </th>
                <th scope="col">Status</th>
                <th scope="col">On sale</th>
                <th scope="col">Price</th>
                <th scope="col" className="num">
                  Features
                </th>
              </tr>
            </thead>
            <tbody>
              {list.rows.map((plan) => (
                <tr key={plan.key}>
                  <td>
                    <Link to={`/plans/${segment(plan.key)}`}>{plan.name}</Link>{' '}
                    <code className="small muted">{plan.key}</code>
                  </td>
                  <td>{planKinds[plan.kind]}</td>
                  <td className="num">v{plan.latest_version}</td>
                  <td>
                    <PlanStatus status={plan.status} />
                  </td>
                  <td>{plan.published_version === null ? 'not on sale' : `v${plan.published_version}`}</td>
                  <td>{describePrice(plan.price)}</td>
                  <td className="num">{plan.entitlements.filter((term) => term.enabled).length}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <ShowMore list={list} />
        </>
      )}
    </>
  );
}

function NewPlan(): ReactElement {
  return (
    <FormDialog
      trigger={
        <button type="button" className="primary">
          New plan
        </button>
      }
      title="New plan"
      description="Created as version 1, a draft: publish it to put it on sale."
    >
      {(close) => <NewPlanForm onDone={close} />}
    </FormDialog>
  );
}

function NewPlanForm(props: { onDone: () => void }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [draft, setDraft] = useState(emptyPlan);
  const types = useFeatureTypes(draft.entitlements);
  const create = useMutation({
    mutationFn: () => api.post<Plan>('/v1/plans', planCreateBody(draft, types)),
    onSuccess: async (plan) => {
      await queries.invalidateQueries({ queryKey: ['plans'] });
      props.onDone();
      navigate(`/plans/${segment(plan.key)}`);
    },
  });
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate();
      }}
    >
      <PlanFields draft={draft} onChange={setDraft} types={types} error={create.error} creating />
      <FormError error={create.error} shown={shownUnder(create.error, planFieldPaths)} />
      <div className="actions">
        <button type="button" onClick={props.onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create plan'}
        </button>
      </div>
    </form>
  );
}
