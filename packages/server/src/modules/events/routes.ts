import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EventBatch, IngestResult, maxEventsPerRequest } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import { problemResponses, security } from '../../http/route-helpers.js';
import type { EventService } from './service.js';

const tags = ['Usage'];
const cloudEvent = 'application/cloudevents+json';
const cloudEventBatch = 'application/cloudevents-batch+json';

export const eventRoutes: FastifyPluginAsyncTypebox<{ events: EventService }> = async (app, { events }) => {
  // CloudEvents' structured JSON modes are JSON under their own media types.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser([cloudEvent, cloudEventBatch], { parseAs: 'string' }, (request, body, done) =>
    parseJson(request, body as string, done),
  );

  app.post(
    '/v1/events',
    {
      schema: {
        tags,
        security,
        summary: 'Record usage events',
        description:
          `Up to ${maxEventsPerRequest} events a request, idempotent by event id (CloudEvents: source + id). ` +
          'Also accepts one CloudEvent (`application/cloudevents+json`) or a batch (`application/cloudevents-batch+json`): ' +
          '`subject` is the customer, `type` the event type, `time` the timestamp, `data` the properties. ' +
          'Bad events are reported in `rejected` by index; the others are stored. Answers once the batch is durable.',
        body: {
          content: {
            'application/json': { schema: EventBatch },
            [cloudEvent]: { schema: Type.Object({}, { additionalProperties: true, description: 'One CloudEvent.' }) },
            [cloudEventBatch]: {
              schema: Type.Array(Type.Unknown(), { maxItems: maxEventsPerRequest, description: 'CloudEvents.' }),
            },
          },
        },
        response: { 200: IngestResult, ...problemResponses },
      },
    },
    async (request) => {
      const type = request.headers['content-type'] ?? '';
      if (type.startsWith(cloudEventBatch))
        return events.ingest({ events: request.body as unknown[], format: 'cloudevents' });
      if (type.startsWith(cloudEvent)) return events.ingest({ events: [request.body], format: 'cloudevents' });
      return events.ingest({ events: (request.body as EventBatch).events, format: 'keymaster' });
    },
  );
};
