import { randomBytes } from 'node:crypto';
import { conflict, DomainError, ErrorCodes, invalid, notFound } from '@keymaster/core';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../clock.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import type { Database, UserTable } from '../../db/schema.js';
import { withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { hashSecret } from '../api-keys/secrets.js';
import { type AuditActor, appendAudit, changedFields, systemActor } from '../audit/trail.js';
import { decoyHash, hashPassword, maximumPasswordLength, minimumPasswordLength, verifyPassword } from './passwords.js';
import { type Role, Roles } from './permissions.js';

export type UserRow = Selectable<UserTable>;

/** A console user as the API shows them (never the password hash). */
export function toApiUser(row: UserRow) {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role as Role,
    created_at: toIso(row.created_at)!,
  };
}

/** The signed-in user a session cookie stands for. */
export interface SessionUser {
  /** The session's token, as presented (held for the request only: signing out deletes by it). */
  token: string;
  userId: string;
  role: Role;
  csrfToken: string;
  expiresAt: number;
}

/** How long a sign-in lasts. */
export const sessionTtlMs = 12 * 3_600_000;
/** Failed sign-ins an address may make within `throttleWindowMs`. */
export const failuresAllowed = 5;
/** And one client address (an office behind one address signs in for many people). */
export const failuresAllowedPerClient = 20;
export const throttleWindowMs = 15 * 60_000;

/** How long one-time links last. */
export const linkTtlMs = {
  invitation: 7 * 86_400_000,
  password_reset: 3_600_000,
  setup: 86_400_000,
} as const;
export type LinkKind = keyof typeof linkTtlMs;

/** A one-time link just made: the token is in this answer only. */
export interface NewLink {
  kind: LinkKind;
  token: string;
  expiresAt: number;
  email: string | null;
}

const linkGone = (kind: LinkKind) =>
  notFound(ErrorCodes.linkInvalid, `This ${kind.replace('_', ' ')} link is unknown, used or expired.`, [
    { path: '/token', message: 'is unknown, used or expired' },
  ]);

/** Refuses to leave no owner: another owner must remain besides `userId`. */
async function keepAnOwner(tx: Kysely<Database>, userId: string): Promise<void> {
  const other = await tx
    .selectFrom('users')
    .select('id')
    .where('role', '=', 'owner')
    .where('id', '!=', userId)
    .limit(1)
    .executeTakeFirst();
  if (!other) {
    throw conflict(ErrorCodes.lastOwner, 'This is the last owner: make another user owner first.', [
      { path: '/role', message: 'the last owner stays an owner' },
    ]);
  }
}

/** Only an owner makes, changes or removes an owner. */
function checkOwnerChange(actorRole: Role | undefined, touchesOwner: boolean): void {
  if (touchesOwner && actorRole !== undefined && actorRole !== 'owner') {
    throw forbidden('Only an owner may make, change or remove an owner.');
  }
}

/** The answer to a sign-in. */
export type SignIn =
  | { ok: true; user: UserRow; token: string; csrfToken: string; expiresAt: number }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterMs: number };

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function forbidden(message: string): DomainError {
  return new DomainError({ kind: 'forbidden', code: ErrorCodes.forbidden, message });
}

/** The address, lower-cased, or a 400 naming `/email`. */
function checkedEmail(email: string): string {
  const normalized = normalizeEmail(email);
  if (!/^[^\s@]+@[^\s@]+$/.test(normalized) || normalized.length > 320) {
    throw invalid([{ path: '/email', message: 'must be an email address' }]);
  }
  return normalized;
}

/** A new user row and its `user.created` audit row, in the caller's transaction. */
async function insertUser(tx: Kysely<Database>, row: UserRow, actor: AuditActor, by?: LinkKind): Promise<void> {
  await tx.insertInto('users').values(row).execute();
  await appendAudit(tx, [
    {
      at: row.created_at,
      actor,
      action: 'user.created',
      target: { type: 'user', id: row.id },
      data: { after: { email: row.email, name: row.name, role: row.role, ...(by ? { by } : {}) } },
    },
  ]);
}

function checkPassword(password: string, path: string): void {
  if (password.length < minimumPasswordLength || password.length > maximumPasswordLength) {
    throw invalid([
      {
        path,
        message: `must be ${minimumPasswordLength} to ${maximumPasswordLength} characters`,
      },
    ]);
  }
}

/**
 * Console users, their passwords and their sessions. A session is a random token in an HttpOnly
 * cookie, kept in the database only as its SHA-256, with a CSRF token the browser must echo on
 * every state-changing request. Sign-ins are throttled per address and per client address on
 * this node: after `failuresAllowed` failures for an address (`failuresAllowedPerClient` from
 * one client) within `throttleWindowMs`, further attempts are refused until enough of them have
 * left the window, whether the password would have been right or not.
 */
export function createUserService(deps: { db: Kysely<Database>; clock: Clock }) {
  const { db, clock } = deps;
  const failures = new Map<string, number[]>();

  function recentFailures(key: string, now: number): number[] {
    const kept = (failures.get(key) ?? []).filter((at) => at > now - throttleWindowMs);
    if (kept.length === 0) failures.delete(key);
    else failures.set(key, kept);
    return kept;
  }

  /** A new session for the user: its token (the cookie's value), CSRF token and expiry. */
  async function openSession(user: UserRow, now: number) {
    const token = `km_ses_${randomBytes(32).toString('base64url')}`;
    const csrfToken = randomBytes(24).toString('base64url');
    const expiresAt = now + sessionTtlMs;
    await db
      .insertInto('user_sessions')
      .values({
        token_hash: hashSecret(token),
        user_id: user.id,
        csrf_token: csrfToken,
        created_at: now,
        expires_at: expiresAt,
      })
      .execute();
    return { token, csrfToken, expiresAt };
  }

  async function findByEmail(email: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('email', '=', normalizeEmail(email)).executeTakeFirst();
  }

  return {
    /** Creates a user with a password (the first owner, `keymaster users create`). */
    async create(input: {
      email: string;
      name?: string | null | undefined;
      role: Role;
      password: string;
      actor?: AuditActor | undefined;
    }): Promise<UserRow> {
      if (!Roles.includes(input.role)) {
        throw invalid([{ path: '/role', message: `must be one of ${Roles.join(', ')}` }]);
      }
      const email = checkedEmail(input.email);
      checkPassword(input.password, '/password');
      const now = clock.now();
      const row: UserRow = {
        id: newId('usr'),
        email,
        name: input.name ?? null,
        role: input.role,
        password_hash: await hashPassword(input.password),
        created_at: now,
        updated_at: now,
      };
      try {
        await withTransaction(db, (tx) => insertUser(tx, row, input.actor ?? systemActor));
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw conflict(ErrorCodes.userExists, `A user with the email "${email}" exists already.`, [
            { path: '/email', message: 'is taken' },
          ]);
        }
        throw error;
      }
      return row;
    },

    /**
     * The first owner from `KEYMASTER_ADMIN_EMAIL` and `KEYMASTER_ADMIN_PASSWORD`: created when no
     * user has that address; an existing user is left as they are (their password may have been
     * changed since). Answers whether one was created.
     */
    async ensureOwner(input: { email: string; password: string }): Promise<boolean> {
      if (await findByEmail(input.email)) return false;
      try {
        await this.create({ email: input.email, password: input.password, role: 'owner', name: null });
        return true;
      } catch (error) {
        // Another node created them first.
        if ((error as { code?: string }).code === ErrorCodes.userExists) return false;
        throw error;
      }
    },

    /** Whether any console user exists. */
    async any(): Promise<boolean> {
      return (await db.selectFrom('users').select('id').limit(1).executeTakeFirst()) !== undefined;
    },

    async list(page: { after: string | undefined; limit: number }): Promise<UserRow[]> {
      let query = db.selectFrom('users').selectAll().orderBy('id').limit(page.limit);
      if (page.after !== undefined) query = query.where('id', '>', page.after);
      return query.execute();
    },

    async get(id: string): Promise<UserRow> {
      const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw notFound(ErrorCodes.userNotFound, `User "${id}" does not exist.`);
      return row;
    },

    /**
     * A one-time link: an invitation for an address and role (refused when a user has the
     * address), a password reset for a user, or the setup link (only while there is no user).
     */
    async makeLink(input: {
      kind: LinkKind;
      email?: string | undefined;
      role?: Role | undefined;
      name?: string | null | undefined;
      userId?: string | undefined;
      actor?: AuditActor | undefined;
      /** The role of the user asking, when a user asks (API keys may do everything). */
      actorRole?: Role | undefined;
    }): Promise<NewLink> {
      const now = clock.now();
      const token = `km_lnk_${randomBytes(32).toString('base64url')}`;
      let email: string | null = null;
      if (input.kind === 'invitation') {
        email = checkedEmail(input.email ?? '');
        if (!input.role || !Roles.includes(input.role)) {
          throw invalid([{ path: '/role', message: `must be one of ${Roles.join(', ')}` }]);
        }
        checkOwnerChange(input.actorRole, input.role === 'owner');
        if (await findByEmail(email)) {
          throw conflict(ErrorCodes.userExists, `A user with the email "${email}" exists already.`, [
            { path: '/email', message: 'is taken' },
          ]);
        }
      }
      if (input.kind === 'password_reset') {
        const user = await this.get(input.userId ?? '');
        checkOwnerChange(input.actorRole, user.role === 'owner');
        email = user.email;
      }
      const expiresAt = now + linkTtlMs[input.kind];
      await withTransaction(db, async (tx) => {
        if (input.kind === 'setup') {
          const anyone = await tx.selectFrom('users').select('id').limit(1).executeTakeFirst();
          if (anyone) throw conflict(ErrorCodes.userExists, 'The first owner exists already: sign in instead.');
        }
        await tx
          .insertInto('user_links')
          .values({
            token_hash: hashSecret(token),
            kind: input.kind,
            email,
            role: input.role ?? (input.kind === 'setup' ? 'owner' : null),
            name: input.name ?? null,
            user_id: input.userId ?? null,
            created_at: now,
            expires_at: expiresAt,
            used_at: null,
          })
          .execute();
        if (input.kind !== 'setup') {
          await appendAudit(tx, [
            {
              at: now,
              actor: input.actor ?? systemActor,
              action: input.kind === 'invitation' ? 'user.invited' : 'user.password_reset_requested',
              target: { type: 'user', id: input.userId ?? email ?? '' },
              data: input.kind === 'invitation' ? { after: { email, role: input.role } } : null,
            },
          ]);
        }
      });
      return { kind: input.kind, token, expiresAt, email };
    },

    /**
     * Uses a one-time link: an invitation or the setup link creates the user (with the password
     * given, as the link's role; setup also takes the address), a reset sets the user's password
     * and ends their sessions. A link works once, until it expires.
     */
    async useLink(input: {
      kind: LinkKind;
      token: string;
      password: string;
      email?: string | undefined;
      name?: string | null | undefined;
    }): Promise<UserRow> {
      checkPassword(input.password, '/password');
      const now = clock.now();
      const passwordHash = await hashPassword(input.password);
      try {
        return await withTransaction(db, async (tx) => {
          // Claimed by the update: of two uses at once, one finds it used.
          const link = await tx
            .updateTable('user_links')
            .set({ used_at: now })
            .where('token_hash', '=', hashSecret(input.token))
            .where('kind', '=', input.kind)
            .where('used_at', 'is', null)
            .where('expires_at', '>', now)
            .returningAll()
            .executeTakeFirst();
          if (!link) throw linkGone(input.kind);
          if (input.kind === 'password_reset') {
            const updated = await tx
              .updateTable('users')
              .set({ password_hash: passwordHash, updated_at: now })
              .where('id', '=', link.user_id!)
              .returningAll()
              .executeTakeFirst();
            if (!updated) throw linkGone(input.kind);
            await tx.deleteFrom('user_sessions').where('user_id', '=', updated.id).execute();
            await appendAudit(tx, [
              {
                at: now,
                actor: { type: 'user', id: updated.id },
                action: 'user.password_reset',
                target: { type: 'user', id: updated.id },
                data: null,
              },
            ]);
            return updated;
          }
          if (input.kind === 'setup' && (await tx.selectFrom('users').select('id').limit(1).executeTakeFirst())) {
            throw linkGone(input.kind);
          }
          const email = checkedEmail(input.kind === 'setup' ? (input.email ?? '') : link.email!);
          const row: UserRow = {
            id: newId('usr'),
            email,
            name: input.name ?? link.name,
            role: link.role ?? 'viewer',
            password_hash: passwordHash,
            created_at: now,
            updated_at: now,
          };
          await insertUser(tx, row, { type: 'user', id: row.id }, input.kind);
          return row;
        });
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw conflict(ErrorCodes.userExists, 'A user with this email exists already.', [
            { path: '/email', message: 'is taken' },
          ]);
        }
        throw error;
      }
    },

    /** Changes a user's role or name. The last owner stays an owner. */
    async update(input: {
      id: string;
      role?: Role | undefined;
      name?: string | null | undefined;
      actor?: AuditActor | undefined;
      actorRole?: Role | undefined;
    }): Promise<UserRow> {
      if (input.role !== undefined && !Roles.includes(input.role)) {
        throw invalid([{ path: '/role', message: `must be one of ${Roles.join(', ')}` }]);
      }
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const current = await tx.selectFrom('users').selectAll().where('id', '=', input.id).executeTakeFirst();
        if (!current) throw notFound(ErrorCodes.userNotFound, `User "${input.id}" does not exist.`);
        const role = input.role ?? (current.role as Role);
        checkOwnerChange(input.actorRole, role !== current.role && (role === 'owner' || current.role === 'owner'));
        if (current.role === 'owner' && role !== 'owner') await keepAnOwner(tx, current.id);
        const next = { ...current, role, name: input.name === undefined ? current.name : input.name, updated_at: now };
        await tx
          .updateTable('users')
          .set({ role: next.role, name: next.name, updated_at: now })
          .where('id', '=', current.id)
          .execute();
        await appendAudit(tx, [
          {
            at: now,
            actor: input.actor ?? systemActor,
            action: 'user.updated',
            target: { type: 'user', id: current.id },
            data: changedFields({ role: current.role, name: current.name }, { role: next.role, name: next.name }),
          },
        ]);
        return next;
      });
    },

    /** Removes a user and ends their sessions. The last owner stays. */
    async remove(input: {
      id: string;
      actor?: AuditActor | undefined;
      actorRole?: Role | undefined;
    }): Promise<UserRow> {
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const current = await tx.selectFrom('users').selectAll().where('id', '=', input.id).executeTakeFirst();
        if (!current) throw notFound(ErrorCodes.userNotFound, `User "${input.id}" does not exist.`);
        checkOwnerChange(input.actorRole, current.role === 'owner');
        if (current.role === 'owner') await keepAnOwner(tx, current.id);
        await tx.deleteFrom('user_sessions').where('user_id', '=', current.id).execute();
        await tx.deleteFrom('users').where('id', '=', current.id).execute();
        await appendAudit(tx, [
          {
            at: now,
            actor: input.actor ?? systemActor,
            action: 'user.deleted',
            target: { type: 'user', id: current.id },
            data: { before: { email: current.email, role: current.role } },
          },
        ]);
        return current;
      });
    },

    /** Checks an address and password and opens a session (see `SignIn`). */
    async signIn(input: { email: string; password: string; clientIp: string }): Promise<SignIn> {
      const now = clock.now();
      const limits = [
        { key: `email:${normalizeEmail(input.email)}`, allowed: failuresAllowed },
        { key: `ip:${input.clientIp}`, allowed: failuresAllowedPerClient },
      ];
      const keys = limits.map((limit) => limit.key);
      const throttled = limits
        .map((limit) => ({ list: recentFailures(limit.key, now), allowed: limit.allowed }))
        .filter(({ list, allowed }) => list.length >= allowed)
        .map(({ list, allowed }) => list[list.length - allowed]! + throttleWindowMs - now);
      if (throttled.length > 0) return { ok: false, reason: 'throttled', retryAfterMs: Math.max(...throttled) };
      const user = await findByEmail(input.email);
      // Without such a user the same hash work is done, so the timing does not tell.
      const matches = await verifyPassword(input.password, user?.password_hash ?? (await decoyHash()));
      if (!user?.password_hash || !matches) {
        for (const key of keys) failures.set(key, [...recentFailures(key, now), now]);
        return { ok: false, reason: 'invalid' };
      }
      for (const key of keys) failures.delete(key);
      return { ok: true, user, ...(await openSession(user, now)) };
    },

    /**
     * Signs in a person an identity provider vouches for (OpenID Connect, docs/console.md): the
     * user with that verified address, or with `createAs` a new user of that role (no password;
     * audited as made by the provider). Anyone else is refused.
     */
    async signInExternally(input: {
      email: string;
      name: string | null;
      provider: string;
      createAs: Role | undefined;
    }): Promise<{ user: UserRow; token: string; csrfToken: string; expiresAt: number } | undefined> {
      const now = clock.now();
      let user = await findByEmail(input.email);
      if (!user && input.createAs !== undefined) {
        const row: UserRow = {
          id: newId('usr'),
          email: checkedEmail(input.email),
          name: input.name,
          role: input.createAs,
          password_hash: null,
          created_at: now,
          updated_at: now,
        };
        try {
          await withTransaction(db, (tx) => insertUser(tx, row, { type: 'integration', id: input.provider }));
          user = row;
        } catch (error) {
          // Signed in twice at once: the other sign-in made them.
          if (!isUniqueViolation(error)) throw error;
          user = await findByEmail(input.email);
        }
      }
      if (!user) return undefined;
      return { user, ...(await openSession(user, now)) };
    },

    /** The user a session token stands for, while it lasts and the user exists. */
    async session(token: string): Promise<SessionUser | undefined> {
      const row = await db
        .selectFrom('user_sessions')
        .innerJoin('users', 'users.id', 'user_sessions.user_id')
        .select(['users.id as user_id', 'users.role', 'user_sessions.csrf_token', 'user_sessions.expires_at'])
        .where('user_sessions.token_hash', '=', hashSecret(token))
        .executeTakeFirst();
      if (!row || row.expires_at <= clock.now()) return undefined;
      return {
        token,
        userId: row.user_id,
        role: row.role as Role,
        csrfToken: row.csrf_token,
        expiresAt: row.expires_at,
      };
    },

    /** Signs a session out (its cookie stops working on every node at once). */
    async signOut(token: string): Promise<void> {
      await db.deleteFrom('user_sessions').where('token_hash', '=', hashSecret(token)).execute();
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
