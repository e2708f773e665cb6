import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IngestResult, maxEventsPerRequest } from '@keymaster/contract';
import type { FastifyRequest } from 'fastify';
import { readBodyAsync } from '../../http/json-body.js';
import { sendProblem, unsupportedMediaTypeProblem } from '../../http/problems.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { cloudEventBatchType, cloudEventType, eventBodySchemas, eventMediaType } from './event-body.js';
import type { EventIngester } from './service.js';

const tags = ['Usage'];
const mediaTypes = Object.keys(eventBodySchemas);

export const eventRoutes: FastifyPluginAsyncTypebox<{ events: EventIngester }> = async (app, { events }) => {
  // The body is read (parsed and checked against `eventBodySchemas`) by the ingester, which on a
  // SQLite file does it off the event loop: here it stays bytes, for these routes only.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(mediaTypes, (request: FastifyRequest, payload: IncomingMessage) =>
    readBodyAsync(payload, request.routeOptions.bodyLimit),
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
          `Also accepts one CloudEvent (\`${cloudEventType}\`) or a batch (\`${cloudEventBatchType}\`): ` +
          '`subject` is the customer, `type` the event type, `time` the timestamp, `data` the properties. ' +
          'Bad events are reported in `rejected` by index; the others are stored. Answers once the batch is durable.',
        body: {
          content: Object.fromEntries(Object.entries(eventBodySchemas).map(([type, schema]) => [type, { schema }])),
        },
        response: { 200: IngestResult, ...problemResponses },
      },
      // Documented above, checked by the ingester (`readEventBody`) with the same validator.
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (request, reply) => {
      // Fastify refuses the media types it has no parser for, but it has one for text/plain.
      const contentType = request.headers['content-type'];
      const mediaType = eventMediaType(contentType);
      if (mediaType === undefined) return sendProblem(request, reply, unsupportedMediaTypeProblem(contentType));
      // A body it cannot read or that fails its schema is a domain error: the error handler answers it.
      return events.ingest({ body: request.body instanceof Uint8Array ? request.body : undefined, mediaType });
    },
  );
};
