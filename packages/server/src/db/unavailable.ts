import { DomainError, ErrorCodes } from '@keymaster/core';

/**
 * SQLSTATEs after which the same request may well succeed in a moment: the connection was lost
 * (class 08), the server is shutting down or starting (57P01–57P03), the server ran short of
 * connections or memory (class 53), a statement or lock wait ran past its timeout (57014,
 * 55P03), or the transaction lost a serialization race or a deadlock (40001, 40P01).
 */
const retryableStates = new Set(['57P01', '57P02', '57P03', '57014', '55P03', '40001', '40P01']);
const retryableClasses = new Set(['08', '53']);

/** Node's errors for a database that cannot be reached, or a connection cut. */
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * What pg and Kysely say, without a code, of a connection that died under a query, of one that
 * died earlier, of a pool with no connection free in time, and of a pool that was shut down.
 */
const connectionMessages =
  /^Connection terminated|timeout exceeded when trying to connect|is not queryable|connection has been discarded|Cannot use a pool after calling end|driver has already been destroyed/;

function isRetryable(error: unknown, depth: number): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (retryableStates.has(code) || retryableClasses.has(code.slice(0, 2)) || networkCodes.has(code)) return true;
    // SQLite: another connection held the write lock for all of busy_timeout.
    if (code.startsWith('SQLITE_BUSY')) return true;
  }
  if (connectionMessages.test(error.message)) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => isRetryable(inner, depth + 1))) return true;
  return isRetryable(error.cause, depth + 1);
}

/**
 * The domain error a storage failure stands for when the database could not answer now — it is
 * unreachable, the connection was cut, or a wait ran past its timeout — so that the caller is
 * told to retry (503) rather than that something broke (500). Undefined for anything else.
 */
export function databaseUnavailable(error: unknown): DomainError | undefined {
  if (!isRetryable(error, 0)) return undefined;
  return new DomainError({
    kind: 'unavailable',
    code: ErrorCodes.unavailable,
    message: 'The database is unavailable or did not answer in time; retry in a moment.',
  });
}
