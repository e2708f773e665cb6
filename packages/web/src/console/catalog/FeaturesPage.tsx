import type { Feature } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { segment } from '../../api/client';
import { FormDialog } from '../../ui/dialogs';
import { ErrorAlert, FormError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useApi, useSession } from '../session';
import { createBody, emptyFeature, FeatureFields, featureFieldPaths, featureTypes } from './feature-form';
import { shownUnder } from './field-errors';

/** The kill switch as a badge: what a support person needs to see at a glance. */
export function StatusBadge(props: { status: Feature['status'] }): ReactElement {
  return props.status === 'disabled' ? (
    <span className="badge danger">Kill switch on</span>
  ) : (
    <span className="badge ok">Active</span>
  );
}

/** `/features`: the catalog's features, their type and kill switch, and a form to add one. */
export function FeaturesPage(): ReactElement {
  const { can } = useSession();
  const list = useCursorList<Feature>({ key: ['features', 'list'], path: '/v1/features' });
  return (
    <>
      <div className="spread">
        <h1>Features</h1>
        {can('catalog:write') ? <NewFeature /> : null}
      </div>
      <p className="muted">
        What your product can turn on, count or configure. Plans give features to customers; the kill switch denies a
        feature to everyone at once.
      </p>
      {list.isPending ? (
        <Loading what="features" />
      ) : list.isError ? (
        <ErrorAlert error={list.error} />
      ) : list.rows.length === 0 ? (
        <p className="alert info">No features yet. Add the first one with “New feature”.</p>
      ) : (
        <>
          <table>
            <caption>Features by key</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Unit</th>
                <th scope="col">Targeting</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {list.rows.map((feature) => (
                <tr key={feature.id}>
                  <td>
                    <Link to={`/features/${segment(feature.key)}`}>
                      <code>{feature.key}</code>
                    </Link>
                  </td>
                  <td>{feature.name}</td>
                  <td>{feature.type}</td>
                  <td>{feature.unit ?? '—'}</td>
                  <td>{feature.targeting === null ? '—' : 'rules'}</td>
                  <td>
                    <StatusBadge status={feature.status} />
                  </td>
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

function NewFeature(): ReactElement {
  return (
    <FormDialog
      trigger={
        <button type="button" className="primary">
          New feature
        </button>
      }
      title="New feature"
      description={`Types: ${Object.values(featureTypes).join('; ')}. The type cannot change later.`}
    >
      {(close) => <NewFeatureForm onDone={close} />}
    </FormDialog>
  );
}

function NewFeatureForm(props: { onDone: () => void }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [draft, setDraft] = useState(emptyFeature);
  const create = useMutation({
    mutationFn: () => api.post<Feature>('/v1/features', createBody(draft)),
    onSuccess: async (feature) => {
      await queries.invalidateQueries({ queryKey: ['features'] });
      props.onDone();
      navigate(`/features/${segment(feature.key)}`);
    },
  });
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate();
      }}
    >
      <FeatureFields draft={draft} onChange={setDraft} error={create.error} creating />
      <FormError error={create.error} shown={shownUnder(create.error, featureFieldPaths)} />
      <div className="actions">
        <button type="button" onClick={props.onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create feature'}
        </button>
      </div>
    </form>
  );
}
