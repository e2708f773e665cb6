import nodemailer from 'nodemailer';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { lockedForClaim, nextAttemptAt, worthClaiming } from '../outbox/retry.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/**
 * The waits after a failed attempt, in order: 1 min, 5 min, 30 min, 2 h, 6 h; after the sixth
 * failed attempt (about 8.6 hours on) the email has failed.
 */
export const emailRetrySchedule = [60_000, 300_000, 1_800_000, 7_200_000, 21_600_000] as const;

/** Longer than any attempt can take (see the transport's timeouts below), so a live node's email is never sent twice. */
const leaseMs = 120_000;

/** Emails sent at once by one node: a mail server is slower than a webhook receiver and likes few connections. */
const concurrency = 4;

/** The part of a nodemailer transport the sender uses. */
export interface MailTransport {
  sendMail(message: {
    from: string;
    to: string;
    subject: string;
    text: string;
    html: string;
    headers: Record<string, string>;
  }): Promise<unknown>;
  close(): void;
}

/** The SMTP transport `KEYMASTER_SMTP_URL` names; its timeouts keep every attempt well inside the lease. */
export function smtpTransport(url: string): MailTransport {
  return nodemailer.createTransport({
    url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
}

interface Claimed {
  id: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  attempts: number;
}

interface Outcome {
  claimed: Claimed;
  /** Null when the server accepted the message. */
  error: string | null;
  /** A 5xx answer: the server will never take it, and trying again would only repeat that. */
  permanent: boolean;
}

/**
 * Sends queued notification emails, on every node: claims due ones (PostgreSQL: `for update
 * skip locked`, then a lease, so two nodes never send the same one; SQLite has one process),
 * sends each with nodemailer and records the outcome: sent, retried after the next wait of
 * `emailRetrySchedule`, or failed (schedule spent, or a permanent 5xx rejection). Runs beside
 * the API on timers: a slow or absent mail server delays emails, never a request.
 */
export function createEmailSender(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  logger: Logger;
  transport: MailTransport;
  from: string;
  pollMs: number;
}) {
  const { db, dialect, clock } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let onStop: () => void = () => undefined;
  // Settles when the sender stops: attempts still waiting on a mail server are not waited for.
  const stopping = new Promise<null>((resolve) => {
    onStop = () => resolve(null);
  });

  /** The emails due now. */
  const dueEmails = (on: Db, now: number) =>
    on
      .selectFrom('notification_emails')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at');

  async function claim(): Promise<Claimed[]> {
    if (!(await worthClaiming(dueEmails(db, clock.now()), dialect))) return [];
    return withTransaction(db, async (tx) => {
      const now = clock.now();
      const due = dueEmails(tx, now).limit(concurrency);
      const ids = (await lockedForClaim(due, dialect).execute()).map((row) => row.id);
      if (ids.length === 0) return [];
      return tx
        .updateTable('notification_emails')
        .set({ next_attempt_at: now + leaseMs })
        .where('id', 'in', ids)
        .returning(['id', 'recipient', 'subject', 'text_body', 'html_body', 'attempts'])
        .execute();
    });
  }

  async function attempt(claimed: Claimed): Promise<Outcome> {
    try {
      await deps.transport.sendMail({
        from: deps.from,
        to: claimed.recipient,
        subject: claimed.subject,
        text: claimed.text_body,
        html: claimed.html_body,
        // Mail servers and clients leave automated mail out of auto-replies.
        headers: { 'auto-submitted': 'auto-generated' },
      });
      return { claimed, error: null, permanent: false };
    } catch (error) {
      const code = (error as { responseCode?: unknown }).responseCode;
      const permanent = typeof code === 'number' && code >= 500 && code < 600;
      return { claimed, error: describe(error), permanent };
    }
  }

  async function record(outcome: Outcome): Promise<void> {
    const { claimed, error } = outcome;
    const attempts = claimed.attempts + 1;
    const now = clock.now();
    if (error === null) {
      await db
        .updateTable('notification_emails')
        .set({ status: 'sent', attempts, next_attempt_at: null, last_error: null, sent_at: now, updated_at: now })
        .where('id', '=', claimed.id)
        .execute();
      return;
    }
    // The wait runs from the attempt's end: a mail server that took long to fail gets its full wait.
    const next = outcome.permanent ? null : nextAttemptAt({ schedule: emailRetrySchedule, attempts, at: now });
    await db
      .updateTable('notification_emails')
      .set({
        status: next === null ? 'failed' : 'pending',
        attempts,
        next_attempt_at: next,
        last_error: error,
        updated_at: now,
      })
      .where('id', '=', claimed.id)
      .execute();
    if (next === null) deps.logger.warn({ email: claimed.id, error }, 'a notification email failed for good');
  }

  /** Sends until nothing is due; answers how many it sent (or tried to). */
  async function drain(): Promise<number> {
    let total = 0;
    while (!stopped) {
      const claimed = await claim();
      if (claimed.length === 0) break;
      const outcomes = await Promise.race([Promise.all(claimed.map(attempt)), stopping]);
      // A stopped sender records nothing: the lease runs out and another run sends it again.
      if (outcomes === null || stopped) break;
      for (const outcome of outcomes) await record(outcome);
      total += claimed.length;
    }
    return total;
  }

  function run(): Promise<void> {
    running ??= drain()
      .then(() => undefined)
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'sending notification emails failed'))
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    /**
     * Sends every email due at the clock's now and records the outcomes: for tests and the test
     * clock, which move time and then want what fell due to have happened.
     */
    async runDue(): Promise<void> {
      // A run already in flight may have claimed before the caller's emails were queued.
      await running;
      await run();
    },

    start(): void {
      timer = setInterval(() => void run(), deps.pollMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      stopped = true;
      onStop();
      await running;
      deps.transport.close();
    },
  };
}

export type EmailSender = ReturnType<typeof createEmailSender>;

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, 500);
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' ? `${code}: ${error.message}` : error.message).slice(0, 500);
}
