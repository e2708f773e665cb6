import type { Feature as ApiFeature } from '@keymaster/contract';
import {
  buildCatalog,
  type Catalog,
  evaluateFlag,
  type Feature,
  type FeatureType,
  type FlagEvaluation,
  type JsonObject,
} from '@keymaster/core';
import { type HttpSettings, requestJson } from './http.js';

/** A feature answered from its definition alone: `evaluateFlag` plus what a flag client needs. */
export interface FlagAnswer extends FlagEvaluation {
  feature: string;
  type: FeatureType;
  /** The feature's own flag metadata (`{}` when it has none). */
  metadata: Readonly<Record<string, string | number | boolean>>;
}

interface FeaturePage {
  data: ApiFeature[];
  has_more: boolean;
  next_cursor: string | null;
}

/**
 * The catalog's feature definitions, for customer-less evaluation. Fetched whole (every page of
 * `GET /v1/features`, which needs a secret key) and replaced whole, so an evaluation never sees a
 * half-updated catalog; targeting rules are compiled once per fetch.
 */
export class FeatureDefinitions {
  private catalog: Catalog | null = null;
  private inflight: Promise<boolean> | null = null;
  /** Set when a change arrives during a fetch: that fetch may have missed it, so another follows. */
  private again = false;

  constructor(private readonly deps: { http: HttpSettings; signal: AbortSignal }) {}

  get loaded(): boolean {
    return this.catalog !== null;
  }

  /** Fetches every definition (or joins the fetch already out). Resolves whether they changed; rejects with KeymasterError. */
  refresh(): Promise<boolean> {
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    const run = async (): Promise<boolean> => {
      let changed = false;
      do {
        this.again = false;
        changed = this.replace(await this.fetchAll()) || changed;
      } while (this.again);
      return changed;
    };
    this.inflight = run().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** The feature's definition, or undefined when the catalog has no such feature (or nothing is loaded yet). */
  get(feature: string): Feature | undefined {
    return this.catalog?.features.get(feature);
  }

  /** `evaluateFlag` over the cached definition; undefined for a feature the catalog does not have. */
  evaluate(feature: string, context: JsonObject): FlagAnswer | undefined {
    const definition = this.catalog?.features.get(feature);
    if (!definition) return undefined;
    const evaluation = evaluateFlag({
      feature: definition,
      context,
      targeting: this.catalog?.targeting.get(feature),
    });
    return {
      ...evaluation,
      feature,
      type: definition.type,
      metadata: (definition.metadata ?? {}) as FlagAnswer['metadata'],
    };
  }

  private json = '';

  private replace(features: Feature[]): boolean {
    const json = JSON.stringify(features);
    if (this.catalog !== null && json === this.json) return false;
    this.json = json;
    this.catalog = buildCatalog({ features, planVersions: [] });
    return true;
  }

  private async fetchAll(): Promise<Feature[]> {
    const features: Feature[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page: FeaturePage = await requestJson<FeaturePage>(this.deps.http, {
        method: 'GET',
        path: `/v1/features?limit=100${query}`,
        signal: this.deps.signal,
      });
      for (const feature of page.data) features.push(fromApiFeature(feature));
      cursor = page.has_more ? page.next_cursor : null;
    } while (cursor !== null);
    return features;
  }
}

/** The core feature an API answer describes. */
export function fromApiFeature(api: ApiFeature): Feature {
  const base = {
    key: api.key,
    name: api.name,
    unit: api.unit,
    status: api.status,
    targeting: (api.targeting ?? null) as Feature['targeting'],
    variants: (api.variants ?? null) as Feature['variants'],
    defaultVariant: api.default_variant ?? null,
    metadata: (api.metadata ?? null) as Feature['metadata'],
  };
  switch (api.type) {
    case 'metered':
      return {
        ...base,
        type: 'metered',
        meter: api.meter
          ? {
              eventType: api.meter.event_type,
              aggregation: api.meter.aggregation,
              property: api.meter.property ?? null,
              filter: (api.meter.filter ?? null) as JsonObject | null,
            }
          : null,
        creditCost: api.credit_cost ? { pool: api.credit_cost.pool, perUnit: api.credit_cost.per_unit } : null,
      };
    case 'config':
      return {
        ...base,
        type: 'config',
        options: (api.options ?? null) as Extract<Feature, { type: 'config' }>['options'],
      };
    case 'gauge':
      return { ...base, type: 'gauge' };
    default:
      return { ...base, type: 'boolean' };
  }
}
