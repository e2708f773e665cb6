import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Page, PageQuery } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { httpProblem, sendProblem } from '../../http/problems.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { maximumPasswordLength } from './passwords.js';
import { Roles } from './permissions.js';
import { sessionTtlMs, toApiUser, type UserService } from './service.js';
import { sessionCookie } from './session-cookie.js';

const tags = ['Console users'];

const User = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
    role: Type.Union(Roles.map((role) => Type.Literal(role))),
    created_at: Type.String({ format: 'date-time' }),
  },
  { description: 'A person who uses the console, with their role.' },
);

const Session = Type.Object(
  {
    user: User,
    csrf_token: Type.String({
      description: 'Send it as `X-CSRF-Token` on every request of this session that changes something.',
    }),
    expires_at: Type.String({ format: 'date-time' }),
  },
  { description: 'A signed-in console session; the session itself is the HttpOnly `km_session` cookie.' },
);

const SignInBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: maximumPasswordLength }),
  },
  { additionalProperties: false },
);

const sessionOf = (request: FastifyRequest) => request.principal?.user;

const notASession = httpProblem(
  'role_forbidden',
  'This route is for console sessions (the km_session cookie), not API keys.',
);

export const userRoutes: FastifyPluginAsyncTypebox<{ users: UserService }> = async (app, { users }) => {
  app.post(
    '/v1/sessions',
    {
      config: { anonymous: true, secretFields: ['csrf_token'] },
      schema: {
        tags,
        // No credential: the email and password are.
        security: [],
        summary: 'Sign in to the console',
        description:
          'Checks the email and password and sets the session cookie (`km_session`: HttpOnly, Secure, ' +
          'SameSite=Lax, 12 hours). Five failed attempts for an address or from a client within 15 minutes ' +
          'refuse further ones with 429 until the window has passed.',
        body: SignInBody,
        response: { 201: Session, ...problemResponses },
      },
    },
    async (request, reply) => {
      const outcome = await users.signIn({ ...request.body, clientIp: request.ip });
      if (!outcome.ok) {
        if (outcome.reason === 'throttled') {
          reply.header('retry-after', String(Math.ceil(outcome.retryAfterMs / 1000)));
          return sendProblem(
            request,
            reply,
            httpProblem('rate_limited', 'Too many failed sign-ins: wait before trying again.'),
          );
        }
        return sendProblem(request, reply, httpProblem('invalid_credentials', 'The email or the password is wrong.'));
      }
      reply.header('set-cookie', sessionCookie(outcome.token, sessionTtlMs));
      return reply.status(201).send({
        user: toApiUser(outcome.user),
        csrf_token: outcome.csrfToken,
        expires_at: new Date(outcome.expiresAt).toISOString(),
      });
    },
  );

  app.get(
    '/v1/sessions/current',
    {
      schema: {
        tags,
        security,
        summary: 'The signed-in console user',
        description: 'Who the session cookie stands for, with the CSRF token its changes must send.',
        response: { 200: Session, ...problemResponses },
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const session = sessionOf(request);
      if (!session) return sendProblem(request, reply, notASession);
      return {
        user: toApiUser(await users.get(session.userId)),
        csrf_token: session.csrfToken,
        expires_at: new Date(session.expiresAt).toISOString(),
      };
    },
  );

  app.delete(
    '/v1/sessions/current',
    {
      schema: {
        tags,
        security,
        summary: 'Sign out of the console',
        description: 'Ends the session on every node and clears its cookie.',
        response: { 204: { type: 'null', description: 'Signed out.' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const session = sessionOf(request);
      if (!session) return sendProblem(request, reply, notASession);
      await users.signOut(session.token);
      reply.header('set-cookie', sessionCookie('', 0));
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/users',
    {
      schema: {
        tags,
        security,
        summary: 'List console users',
        querystring: PageQuery,
        response: { 200: Page(User, 'A page of users.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await users.list({ after: decodeCursor(request.query.cursor), limit: limit + 1 });
      return toPage({ rows, limit, sortKey: (row) => row.id, convert: toApiUser });
    },
  );
};
