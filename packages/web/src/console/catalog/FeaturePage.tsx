import type { Feature } from '@keymaster/contract';
import { useQuery } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Link, useParams } from 'react-router';
import { segment } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { formatDateTime } from '../../ui/format';
import { ErrorAlert, FormError, Loading } from '../../ui/forms';
import { useApi, useSession } from '../session';
import { StatusBadge } from './FeaturesPage';
import { featureKey, useFeaturePatch } from './feature-api';
import { draftOf, FeatureFields, featureFieldPaths, featureTypes, patchBody } from './feature-form';
import { shownUnder } from './field-errors';
import { TargetingEditor } from './TargetingEditor';
import { TryIt } from './TryIt';

/** `/features/:key`: one feature, its kill switch, its targeting rules and a place to try a check. */
export function FeaturePage(): ReactElement {
  const { key = '' } = useParams();
  const api = useApi();
  const feature = useQuery({
    queryKey: featureKey(key),
    queryFn: () => api.get<Feature>(`/v1/features/${segment(key)}`),
  });
  if (feature.isPending) return <Loading what="the feature" />;
  if (feature.isError)
    return (
      <>
        <h1>Feature {key}</h1>
        <ErrorAlert error={feature.error} />
        <Link to="/features">All features</Link>
      </>
    );
  return <FeatureView feature={feature.data} />;
}

function FeatureView(props: { feature: Feature }): ReactElement {
  const { feature } = props;
  const { can } = useSession();
  const writable = can('catalog:write');
  return (
    <>
      <p className="small">
        <Link to="/features">Features</Link> / <code>{feature.key}</code>
      </p>
      <div className="spread">
        <h1>
          {feature.name} <StatusBadge status={feature.status} />
        </h1>
        {writable ? <KillSwitch feature={feature} /> : null}
      </div>
      <p className="muted">
        <code>{feature.key}</code> · {featureTypes[feature.type]}
        {feature.unit ? ` · in ${feature.unit}` : ''} · changed {formatDateTime(feature.updated_at)}
      </p>
      {feature.status === 'disabled' ? (
        <p className="alert error">
          The kill switch is on: every check of this feature is denied for every customer (reason{' '}
          <code>feature_disabled</code>), whatever their plan, grants or targeting.
        </p>
      ) : null}
      <div className="grid-2">
        <section className="panel" aria-labelledby="details">
          <h2 id="details">Details</h2>
          {writable ? <EditFeature feature={feature} /> : <FeatureSummary feature={feature} />}
        </section>
        <section className="panel" aria-labelledby="try-it">
          <h2 id="try-it">Try it</h2>
          <TryIt feature={feature} />
        </section>
      </div>
      <section className="panel" aria-labelledby="targeting">
        <h2 id="targeting">Targeting rules</h2>
        <TargetingEditor feature={feature} writable={writable} />
      </section>
    </>
  );
}

function FeatureSummary(props: { feature: Feature }): ReactElement {
  const { feature } = props;
  return (
    <dl>
      <dt>Description</dt>
      <dd>{feature.description ?? '—'}</dd>
      {feature.options ? (
        <>
          <dt>Allowed values</dt>
          <dd>{feature.options.map((option) => JSON.stringify(option)).join(', ')}</dd>
        </>
      ) : null}
      {feature.meter ? (
        <>
          <dt>Meter</dt>
          <dd>
            {feature.meter.aggregation} of <code>{feature.meter.event_type}</code> events
            {feature.meter.property ? ` (${feature.meter.property})` : ''}
          </dd>
        </>
      ) : null}
      {feature.credit_cost ? (
        <>
          <dt>Credit pool</dt>
          <dd>
            {feature.credit_cost.per_unit} × <code>{feature.credit_cost.pool}</code> per unit
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function EditFeature(props: { feature: Feature }): ReactElement {
  const { feature } = props;
  const [draft, setDraft] = useState(() => draftOf(feature));
  const save = useFeaturePatch(feature.key);
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate(patchBody(draft), { onSuccess: (saved) => setDraft(draftOf(saved)) });
      }}
    >
      <FeatureFields draft={draft} onChange={setDraft} error={save.error} creating={false} />
      <FormError error={save.error} shown={shownUnder(save.error, featureFieldPaths)} />
      {save.isSuccess && !save.isPending ? (
        <p className="alert ok" role="status">
          Saved.
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={save.isPending}>
        {save.isPending ? 'Saving…' : 'Save details'}
      </button>
    </form>
  );
}

/**
 * Turns the kill switch on or off (`status: disabled | active`), after saying what that does:
 * on, the feature is denied to every customer at once.
 */
function KillSwitch(props: { feature: Feature }): ReactElement {
  const { feature } = props;
  const save = useFeaturePatch(feature.key);
  const on = feature.status === 'disabled';
  return on ? (
    <ConfirmDialog
      trigger={<button type="button">Turn off kill switch</button>}
      title={`Turn off the kill switch of ${feature.name}?`}
      description={
        <p>
          Customers get <code>{feature.key}</code> again as their plans, grants and targeting rules say. SDK caches and
          other servers follow within a second.
        </p>
      }
      confirmLabel="Turn off kill switch"
      onConfirm={() => save.mutateAsync({ status: 'active' })}
    />
  ) : (
    <ConfirmDialog
      trigger={
        <button type="button" className="danger">
          Turn on kill switch
        </button>
      }
      title={`Turn on the kill switch of ${feature.name}?`}
      description={
        <>
          <p>
            Every check of <code>{feature.key}</code> will be denied for <strong>every customer</strong>, with reason{' '}
            <code>feature_disabled</code>, whatever their plan, grants or targeting rules say — within a second on every
            server and SDK cache.
          </p>
          <p>It stays off until someone turns the kill switch off again. Nothing else about the feature changes.</p>
        </>
      }
      confirmLabel="Turn on kill switch"
      danger
      onConfirm={() => save.mutateAsync({ status: 'disabled' })}
    />
  );
}
