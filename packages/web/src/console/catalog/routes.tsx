import type { RouteObject } from 'react-router';
import { FeaturePage } from './FeaturePage';
import { FeaturesPage } from './FeaturesPage';
import { PlanPage } from './PlanPage';
import { PlansPage } from './PlansPage';

/** The catalog: features (with the kill switch, targeting and "Try it") and plans (versions, drafts, migrations). */
export const catalogRoutes: RouteObject[] = [
  { path: 'features', element: <FeaturesPage /> },
  { path: 'features/:key', element: <FeaturePage /> },
  { path: 'plans', element: <PlansPage /> },
  { path: 'plans/:key', element: <PlanPage /> },
];
