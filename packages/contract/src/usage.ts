import { type Static, Type } from '@sinclair/typebox';
import { CatalogKey } from './schema-helpers.js';

/** Sets or adjusts a gauge's current level (seats in use, projects, GB stored). */
export const GaugeUpdate = Type.Object(
  {
    feature: CatalogKey,
    set: Type.Optional(Type.Number({ minimum: 0, description: 'The new level.' })),
    delta: Type.Optional(
      Type.Number({ description: 'A change to the level, e.g. 1 when a seat is added, -1 when removed.' }),
    ),
  },
  { additionalProperties: false, description: 'Exactly one of `set` or `delta`.' },
);
export type GaugeUpdate = Static<typeof GaugeUpdate>;

export const GaugeLevel = Type.Object(
  {
    customer: Type.String(),
    feature: Type.String(),
    usage: Type.Number({ description: 'The level now.' }),
  },
  { description: "A gauge's current level." },
);
export type GaugeLevel = Static<typeof GaugeLevel>;
