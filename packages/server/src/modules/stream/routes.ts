import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { StreamHeaders, StreamQuery } from '@keymaster/contract';
import { type Authenticator, presentedCredential } from '../../http/auth.js';
import { hijack } from '../../http/concerns.js';
import { httpProblem, sendProblem } from '../../http/problems.js';
import { problemResponses, rateLimitedResponse, security } from '../../http/route-helpers.js';
import { sessionTokenOf } from '../users/session-cookie.js';
import type { StreamService } from './service.js';
import { sseRetry } from './sse.js';
import { sessionStreamAuthorization, streamAuthorization } from './stream-authorization.js';
import type { StreamHub } from './stream-hub.js';

const description = `Server-sent events (\`text/event-stream\`) of every change that affects entitlements or balances, made
through any server process on this database. Each event's \`data\` is one line of JSON:

- \`ready\` — first, once subscribed: \`{"customer", "heartbeat_ms"}\`. Fetch snapshots after it; nothing after it is missed.
- \`catalog\` — features or plans changed: refetch (every customer's entitlements may differ).
- \`customer\` — the customer's subscriptions, grants or record changed: \`{"customer", "entitlements"}\` with the fresh
  snapshot (as \`GET /v1/customers/{id}/entitlements\` answers), or \`entitlements: null\` when there is none (erased, or
  it could not be computed: refetch).
- \`usage\` — the customer's balances moved: the same payload as \`customer\`.
- \`notification\` — on a stream of one customer (\`?customer=\`), they got an in-app notification or one was marked read:
  \`{"customer", "notifications"}\` with their newest unread notifications (up to 20, newest first, as
  \`GET /v1/customers/{id}/notifications?unread=true\` lists them).
- \`reset\` — the stream cannot say what changed (the resume point is too old, or the client fell too far behind):
  refetch everything.
- \`revoked\` — last, just before the server ends the stream because its credential no longer holds:
  \`{"code", "detail"}\` with code \`api_key_revoked\`, \`token_expired\`, \`token_revoked\` (the token's customer was
  erased, or re-created) or \`session_ended\` (a console session's stream, when the session ends). Reconnecting with the same credential is refused (401): get a new one. The event has no \`id\`.

Comment lines (\`: keepalive\`) are sent every \`KEYMASTER_STREAM_HEARTBEAT_MS\` (15 s). Each event's \`id\` is a
change-feed position, valid on every node: reconnect with \`Last-Event-ID\` (EventSource does this itself) to receive
exactly what was missed. Several quick changes to one customer may arrive as one event. A customer token must name its
customer (\`?customer=\`) and may be passed as \`?access_token=\` because EventSource cannot send headers.

Each server process holds at most \`KEYMASTER_STREAM_MAX_PER_KEY\` (1,000) open streams per secret key and
\`KEYMASTER_STREAM_MAX_PER_TOKEN\` (10) per customer token; one more answers 429 \`rate_limited\` with \`Retry-After\`.
Closing a stream frees its place.`;

/** When a client refused for holding too many streams may try again (seconds). */
const fullRetryAfterSeconds = 30;

export const streamRoutes: FastifyPluginAsyncTypebox<{
  hub: StreamHub;
  streams: StreamService;
  heartbeatMs: number;
  authenticate: Authenticator;
  /** A console session by its cookie's token, while it lasts (the console's live updates). */
  session: (token: string) => Promise<unknown>;
}> = async (app, { hub, streams, heartbeatMs, authenticate, session }) => {
  // Open streams would keep the server from closing: end them first.
  app.addHook('preClose', (done) => {
    hub.closeAll();
    done();
  });

  app.get(
    '/v1/stream',
    {
      // A HEAD would hold a connection open for a body that never comes.
      exposeHeadRoute: false,
      config: { customerScope: 'query.customer', queryToken: true },
      schema: {
        tags: ['Stream'],
        security,
        summary: 'Stream changes (server-sent events)',
        description,
        querystring: StreamQuery,
        headers: StreamHeaders,
        response: {
          200: {
            description: 'An endless `text/event-stream`; see the events above.',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...problemResponses,
          429: rateLimitedResponse('The credential already holds as many open streams on this server as it may.'),
        },
      },
    },
    async (request, reply) => {
      const customer = request.query.customer;
      const header = request.headers['last-event-id'];
      const principal = request.principal!;
      const open = hub.open({
        res: reply.raw,
        customer,
        principal,
        authorize:
          principal.user !== undefined
            ? sessionStreamAuthorization({ session, token: sessionTokenOf(request.headers.cookie)! })
            : streamAuthorization({
                authenticate,
                credential: presentedCredential(request.exchange),
                token: principal.customer !== undefined,
              }),
      });
      if ('full' in open) {
        reply.header('retry-after', String(fullRetryAfterSeconds));
        return sendProblem(
          request,
          reply,
          httpProblem(
            'rate_limited',
            `This ${principal.customer === undefined ? 'API key' : 'customer token'} already holds ${open.full.limit} streams open on this server, as many as it may: close one first.`,
          ),
        );
      }
      const connection = open.opened;
      let plan: Awaited<ReturnType<StreamService['prepare']>>;
      try {
        plan = await streams.prepare({
          connection,
          customer,
          lastEventId: header === undefined ? undefined : Number(header),
        });
      } catch (error) {
        connection.close();
        throw error;
      }
      await hijack(request, reply, 200);
      if (connection.isClosed) return;
      reply.raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string | string[] | number>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx buffers responses unless told otherwise, which would hold events back.
        'x-accel-buffering': 'no',
      });
      reply.raw.write(sseRetry(2000));
      connection.start({
        id: plan.readyId,
        data: { customer: customer ?? null, heartbeat_ms: heartbeatMs },
        skip: plan.skip,
      });
    },
  );
};
