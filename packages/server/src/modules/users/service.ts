import { randomBytes } from 'node:crypto';
import { conflict, ErrorCodes, invalid, notFound } from '@keymaster/core';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../clock.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import type { Database, UserTable } from '../../db/schema.js';
import { withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { hashSecret } from '../api-keys/secrets.js';
import { type AuditActor, appendAudit, systemActor } from '../audit/trail.js';
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

/** The answer to a sign-in. */
export type SignIn =
  | { ok: true; user: UserRow; token: string; csrfToken: string; expiresAt: number }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterMs: number };

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
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
      const email = normalizeEmail(input.email);
      if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) {
        throw invalid([{ path: '/email', message: 'must be an email address' }]);
      }
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
        await withTransaction(db, async (tx) => {
          await tx.insertInto('users').values(row).execute();
          await appendAudit(tx, [
            {
              at: now,
              actor: input.actor ?? systemActor,
              action: 'user.created',
              target: { type: 'user', id: row.id },
              data: { after: { email, name: row.name, role: row.role } },
            },
          ]);
        });
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
      return { ok: true, user, token, csrfToken, expiresAt };
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
