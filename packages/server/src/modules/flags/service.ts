import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { type CatalogPlan, createCatalogService } from '../catalog/service.js';
import { listAllFeatures } from '../features/store.js';
import { type FlagdFile, featuresToFlags, flagsToFeatures, type Unmapped } from './flagd-file.js';

/**
 * flagd flag definitions in and out of the catalog. Import goes through the catalog's apply —
 * one transaction, idempotent, the same validation as the API — with the flags that cannot map
 * reported rather than failing the rest.
 */
export function createFlagsService(deps: { db: Db; clock: Clock }) {
  const catalog = createCatalogService(deps);
  return {
    /** What importing would change (and what cannot be imported); writes nothing. */
    async plan(file: FlagdFile): Promise<CatalogPlan & { unmapped: Unmapped[] }> {
      const { features, unmapped } = flagsToFeatures(file);
      return { ...(await catalog.plan({ features, plans: [] })), unmapped };
    },

    async import(file: FlagdFile): Promise<CatalogPlan & { unmapped: Unmapped[] }> {
      const { features, unmapped } = flagsToFeatures(file);
      return { ...(await catalog.apply({ features, plans: [] })), unmapped };
    },

    async export(): Promise<{ file: FlagdFile; unmapped: Unmapped[] }> {
      return featuresToFlags(await listAllFeatures(deps.db));
    },
  };
}
