import { type Static, Type } from '@sinclair/typebox';

/** At most this many events per request. */
export const maxEventsPerRequest = 1000;

/**
 * A batch of usage events. Each event is checked on its own — `{id, customer, type, timestamp?,
 * properties?}` — so one bad event is reported in `rejected` without sinking the others; only the
 * envelope is validated here.
 */
export const EventBatch = Type.Object(
  {
    events: Type.Array(Type.Unsafe<unknown>({ description: '{id, customer, type, timestamp?, properties?}' }), {
      maxItems: maxEventsPerRequest,
      description: `Up to ${maxEventsPerRequest} events.`,
    }),
  },
  { additionalProperties: false, description: 'Usage events to record.' },
);
export type EventBatch = Static<typeof EventBatch>;

export const IngestResult = Type.Object(
  {
    accepted: Type.Integer({ description: 'Events stored by this request.' }),
    duplicates: Type.Integer({ description: 'Events already stored before (same id, or CloudEvents source + id).' }),
    rejected: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'Position of the event in the request.' }),
        error: Type.String({ description: 'What is wrong with it.' }),
      }),
    ),
  },
  { description: 'What became of each event; every count is of events in this request.' },
);
export type IngestResult = Static<typeof IngestResult>;
