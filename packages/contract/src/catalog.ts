import { type Static, Type } from '@sinclair/typebox';
import { FeatureCreate } from './features.js';
import { PlanCreate } from './plans.js';

/**
 * A catalog file: features and plans in the same shapes as the create routes, so a file can be
 * kept in git and applied with `keymaster catalog apply` (plans in it are published).
 */
export const CatalogFile = Type.Object(
  {
    features: Type.Optional(Type.Array(FeatureCreate)),
    plans: Type.Optional(Type.Array(PlanCreate)),
  },
  { additionalProperties: false, description: 'Features and plans, as kept in git.' },
);
export type CatalogFile = Static<typeof CatalogFile>;
