import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Page, PageQuery } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditActorOf } from '../../http/audit-actor.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { httpProblem, sendProblem } from '../../http/problems.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import type { LinkDelivery } from './link-delivery.js';
import { maximumPasswordLength } from './passwords.js';
import { Roles, rolePermissions } from './permissions.js';
import { type NewLink, sessionTtlMs, toApiUser, type UserService } from './service.js';
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
    permissions: Type.Array(Type.String(), {
      description:
        "What the user's role may do, as `<area>:read` and `<area>:write` (docs/console.md): for a UI to offer only what the server will allow.",
    }),
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

/** A session as the API answers it: its user, CSRF token, expiry, and what the user's role may do. */
function sessionAnswer(user: ReturnType<typeof toApiUser>, session: { csrfToken: string; expiresAt: number }) {
  return {
    user,
    csrf_token: session.csrfToken,
    expires_at: new Date(session.expiresAt).toISOString(),
    permissions: [...rolePermissions[user.role]].sort(),
  };
}

const sessionOf = (request: FastifyRequest) => request.principal?.user;

const notASession = httpProblem(
  'role_forbidden',
  'This route is for console sessions (the km_session cookie), not API keys.',
);

const UserParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

const Password = Type.String({ minLength: 1, maxLength: maximumPasswordLength });
const RoleSchema = Type.Union(Roles.map((role) => Type.Literal(role)));

const LinkMade = Type.Object(
  {
    email: Type.String(),
    expires_at: Type.String({ format: 'date-time' }),
    url: Type.Union([Type.String(), Type.Null()], {
      description: 'The link, to pass on; null when it was emailed to its person (SMTP and KEYMASTER_PUBLIC_URL set).',
    }),
    emailed: Type.Boolean(),
  },
  { description: 'A one-time link, good once until `expires_at`.' },
);

const roleOf = (request: FastifyRequest) => request.principal?.user?.role;

export const userRoutes: FastifyPluginAsyncTypebox<{ users: UserService; links: LinkDelivery }> = async (
  app,
  { users, links },
) => {
  const answerLink = async (link: NewLink) => {
    const delivered = await links.deliver(link);
    return { email: link.email ?? '', expires_at: new Date(link.expiresAt).toISOString(), ...delivered };
  };

  app.post(
    '/v1/users/invitations',
    {
      config: { secretFields: ['url'] },
      schema: {
        tags,
        security,
        summary: 'Invite a console user',
        description:
          'A one-time link (7 days) with which the person sets their password and becomes a user with the role. ' +
          'Only an owner invites an owner.',
        body: Type.Object(
          {
            email: Type.String({ minLength: 3, maxLength: 320 }),
            role: RoleSchema,
            name: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: LinkMade, ...problemResponses },
      },
    },
    async (request, reply) => {
      const link = await users.makeLink({
        kind: 'invitation',
        email: request.body.email,
        role: request.body.role,
        name: request.body.name,
        actor: auditActorOf(request),
        actorRole: roleOf(request),
      });
      return reply.status(201).send(await answerLink(link));
    },
  );

  app.post(
    '/v1/users/:id/password-reset',
    {
      config: { secretFields: ['url'] },
      schema: {
        tags,
        security,
        summary: 'Make a password-reset link for a user',
        description: 'A one-time link (1 hour) with which the user sets a new password; their sessions then end.',
        params: UserParams,
        response: { 201: LinkMade, ...problemResponses },
      },
    },
    async (request, reply) => {
      const link = await users.makeLink({
        kind: 'password_reset',
        userId: request.params.id,
        actor: auditActorOf(request),
        actorRole: roleOf(request),
      });
      return reply.status(201).send(await answerLink(link));
    },
  );

  app.patch(
    '/v1/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Change a user’s role or name',
        description: 'Only an owner makes or unmakes an owner; the last owner stays an owner.',
        params: UserParams,
        body: Type.Object(
          {
            role: Type.Optional(RoleSchema),
            name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
          },
          { additionalProperties: false },
        ),
        response: { 200: User, ...problemResponses },
      },
    },
    async (request) =>
      toApiUser(
        await users.update({
          id: request.params.id,
          role: request.body.role,
          name: request.body.name,
          actor: auditActorOf(request),
          actorRole: roleOf(request),
        }),
      ),
  );

  app.delete(
    '/v1/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Remove a console user',
        description: 'Their sessions end at once. Only an owner removes an owner; the last owner stays.',
        params: UserParams,
        response: { 200: User, ...problemResponses },
      },
    },
    async (request) =>
      toApiUser(
        await users.remove({ id: request.params.id, actor: auditActorOf(request), actorRole: roleOf(request) }),
      ),
  );

  app.post(
    '/v1/invitations/accept',
    {
      config: { anonymous: true },
      schema: {
        tags,
        security: [],
        summary: 'Accept an invitation',
        description:
          'With the token of an invitation link: sets the password and creates the user. The link works once.',
        body: Type.Object(
          {
            token: Type.String({ minLength: 1, maxLength: 200 }),
            password: Password,
            name: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: User, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(toApiUser(await users.useLink({ kind: 'invitation', ...request.body }))),
  );

  app.post(
    '/v1/password-resets/accept',
    {
      config: { anonymous: true },
      schema: {
        tags,
        security: [],
        summary: 'Set a new password with a reset link',
        description: 'With the token of a password-reset link: sets the password and ends the user’s sessions.',
        body: Type.Object(
          { token: Type.String({ minLength: 1, maxLength: 200 }), password: Password },
          { additionalProperties: false },
        ),
        response: { 200: User, ...problemResponses },
      },
    },
    async (request) => toApiUser(await users.useLink({ kind: 'password_reset', ...request.body })),
  );

  app.post(
    '/v1/setup',
    {
      config: { anonymous: true },
      schema: {
        tags,
        security: [],
        summary: 'Create the first owner with the setup link',
        description:
          'With the token of the setup link a first start prints when no user exists and KEYMASTER_ADMIN_EMAIL is not set.',
        body: Type.Object(
          {
            token: Type.String({ minLength: 1, maxLength: 200 }),
            email: Type.String({ minLength: 3, maxLength: 320 }),
            password: Password,
            name: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: User, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(toApiUser(await users.useLink({ kind: 'setup', ...request.body }))),
  );

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
      return reply
        .status(201)
        .send(sessionAnswer(toApiUser(outcome.user), { csrfToken: outcome.csrfToken, expiresAt: outcome.expiresAt }));
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
      return sessionAnswer(toApiUser(await users.get(session.userId)), session);
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
