import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import type { SecretsAtRest } from '../../secrets-at-rest.js';
import { lockedForClaim, worthClaiming } from '../outbox/retry.js';
import { checkUrl, type ResolvedAddress } from './address-policy.js';
import { type EndpointRow, signingSecrets } from './convert.js';
import { createFanOut } from './fan-out.js';
import { recordOutcomes } from './outcomes.js';
import { type SendResult, send } from './sender.js';
import { signedHeaders } from './signing.js';
import { findEndpoints } from './store.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

export interface WorkerSettings {
  /** Deliveries in flight on this node at once. */
  concurrency: number;
  /** How long a receiver has to answer. */
  timeoutMs: number;
  /** How often the node looks for new events and due retries. */
  pollMs: number;
  allowPrivate: boolean;
}

/** What the worker claimed: a delivery with its endpoint. */
export interface Claimed {
  id: string;
  endpoint: EndpointRow;
  eventId: string;
  eventType: string;
  customerId: string;
  payload: string;
  attempts: number;
}

export interface Outcome {
  claimed: Claimed;
  /** When the attempt started, and when it ended, by the clock (which retries are scheduled from). */
  at: number;
  endedAt: number;
  result: SendResult;
}

/**
 * How long a claimed delivery is kept from other workers: longer than any attempt takes, so it is
 * sent twice only when the node that claimed it died (and then it is sent again: at least once).
 */
const leaseMs = 60_000;

/**
 * The delivery worker, on every node: fans the outbox out into deliveries, claims due ones
 * (PostgreSQL: `for update skip locked`, so two nodes never claim the same; SQLite has one
 * process), sends each with its own timeout and records the outcomes in batches.
 *
 * A slow or hanging receiver holds at most half the node's slots (`perEndpoint`), each for at
 * most `timeoutMs`: other endpoints' deliveries keep going, and the API never waits on any.
 */
export function createWebhookWorker(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  logger: Logger;
  settings: WorkerSettings;
  /** How endpoints' secrets are kept (encrypted with KEYMASTER_ENCRYPTION_KEY when set). */
  secrets: SecretsAtRest;
  resolve?: ((host: string) => Promise<ResolvedAddress[]>) | undefined;
}) {
  const { db, dialect, clock, settings } = deps;
  const fanOut = createFanOut({ db, dialect, clock });
  const perEndpoint = Math.max(1, Math.floor(settings.concurrency / 2));
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: perEndpoint }),
    https: new https.Agent({ keepAlive: true, maxSockets: perEndpoint }),
  };
  const stopping = new AbortController();
  // Every attempt in flight listens for the stop.
  setMaxListeners(settings.concurrency + 10, stopping.signal);
  const inFlight = new Map<string, number>();
  let active = 0;
  let pending: Outcome[] = [];
  let flushing: Promise<void> | undefined;
  let pumping: Promise<void> | undefined;
  let pumpAgain = false;
  let timer: NodeJS.Timeout | undefined;
  let flushSoon: NodeJS.Timeout | undefined;
  const refillAt = Math.max(1, Math.floor(settings.concurrency / 4));
  const idleWaiters: (() => void)[] = [];

  /** The deliveries due now, of enabled endpoints not already at their limit here. */
  function dueDeliveries(on: Db, now: number, busy: string[]) {
    let due = on
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where('endpoint_id', 'in', on.selectFrom('webhook_endpoints').select('id').where('status', '=', 'enabled'))
      .orderBy('next_attempt_at');
    if (busy.length > 0) due = due.where('endpoint_id', 'not in', busy);
    return due;
  }

  async function claim(limit: number): Promise<Claimed[]> {
    const busy = [...inFlight].filter(([, n]) => n >= perEndpoint).map(([id]) => id);
    if (!(await worthClaiming(dueDeliveries(db, clock.now(), busy), dialect))) return [];
    return withTransaction(db, async (tx) => {
      const now = clock.now();
      const due = dueDeliveries(tx, now, busy).limit(limit);
      const ids = (await lockedForClaim(due, dialect).execute()).map((row) => row.id);
      if (ids.length === 0) return [];
      const rows = await tx
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: now + leaseMs })
        .where('id', 'in', ids)
        .returning(['id', 'endpoint_id', 'event_id', 'event_type', 'customer_id', 'payload', 'attempts'])
        .execute();
      const endpointIds = [...new Set(rows.map((row) => row.endpoint_id))];
      const endpoints = new Map(
        (await findEndpoints(tx, endpointIds, deps.secrets)).map((endpoint) => [endpoint.id, endpoint]),
      );
      return rows.map((row) => ({
        id: row.id,
        endpoint: endpoints.get(row.endpoint_id)!,
        eventId: row.event_id,
        eventType: row.event_type,
        customerId: row.customer_id,
        payload: row.payload,
        attempts: row.attempts,
      }));
    });
  }

  async function attempt(claimed: Claimed): Promise<Outcome> {
    const at = clock.now();
    const started = performance.now();
    // Checked again at every attempt: the name may resolve elsewhere since the endpoint was made.
    const verdict = await checkUrl({
      url: claimed.endpoint.url,
      allowPrivate: settings.allowPrivate,
      resolve: deps.resolve,
    });
    if (!verdict.ok) {
      const durationMs = Math.round(performance.now() - started);
      return {
        claimed,
        at,
        endedAt: clock.now(),
        result: { statusCode: null, responseBody: null, error: `the URL ${verdict.reason}`, durationMs },
      };
    }
    const result = await send({
      url: new URL(claimed.endpoint.url),
      address: verdict.address,
      headers: signedHeaders({
        eventId: claimed.eventId,
        body: claimed.payload,
        at,
        secrets: signingSecrets(claimed.endpoint, at),
      }),
      body: claimed.payload,
      timeoutMs: settings.timeoutMs,
      agents,
      signal: stopping.signal,
    });
    return { claimed, at, endedAt: clock.now(), result };
  }

  function start(claimed: Claimed): void {
    active++;
    const endpointId = claimed.endpoint.id;
    inFlight.set(endpointId, (inFlight.get(endpointId) ?? 0) + 1);
    attempt(claimed)
      .then((outcome) => {
        // A stopped worker records nothing: the lease runs out and another run sends it again.
        if (!stopping.signal.aborted) pending.push(outcome);
      })
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'a webhook attempt failed unexpectedly'))
      .finally(() => {
        active--;
        const left = (inFlight.get(endpointId) ?? 1) - 1;
        if (left === 0) inFlight.delete(endpointId);
        else inFlight.set(endpointId, left);
        // Outcomes are recorded, and slots refilled, in batches: a transaction per delivery
        // would cap throughput at the database's commit rate.
        if (active === 0 || pending.length >= refillAt) {
          void flush().then(() => {
            if (!stopping.signal.aborted && settings.concurrency - active >= refillAt) void pump(false);
          });
        } else if (!flushSoon) {
          flushSoon = setTimeout(() => {
            flushSoon = undefined;
            void flush().then(() => {
              if (!stopping.signal.aborted) void pump(false);
            });
          }, 5);
        }
      });
  }

  /** Records the outcomes gathered so far, many per transaction. */
  function flush(): Promise<void> {
    if (flushing) return flushing;
    flushing = (async () => {
      while (pending.length > 0) {
        const batch = pending;
        pending = [];
        try {
          await recordOutcomes({ db, dialect, clock, outcomes: batch, attemptId: () => newId('wha') });
        } catch (error) {
          deps.logger.warn({ err: error }, 'recording webhook attempts failed; the deliveries will be sent again');
        }
      }
    })().finally(() => {
      flushing = undefined;
      if (active === 0 && pending.length === 0) for (const wake of idleWaiters.splice(0)) wake();
    });
    return flushing;
  }

  /** Fans out, then fills the free slots with due deliveries. Answers how many it started. */
  async function fill(fanOutFirst: boolean): Promise<number> {
    if (fanOutFirst) await fanOut.run();
    let started = 0;
    for (;;) {
      const free = settings.concurrency - active;
      if (free <= 0 || stopping.signal.aborted) return started;
      const claimed = await claim(Math.min(free, 500));
      for (const c of claimed) start(c);
      started += claimed.length;
      if (claimed.length === 0) return started;
    }
  }

  function pump(fanOutFirst: boolean): Promise<void> {
    if (pumping) {
      pumpAgain = true;
      return pumping;
    }
    pumping = (async () => {
      do {
        pumpAgain = false;
        await fill(fanOutFirst);
      } while (pumpAgain && !stopping.signal.aborted);
    })()
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'delivering webhooks failed'))
      .finally(() => {
        pumping = undefined;
      });
    return pumping;
  }

  function idle(): Promise<void> {
    if (active === 0 && pending.length === 0 && !flushing) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  return {
    /**
     * Delivers everything due at the clock's now and waits for the outcomes to be recorded: for
     * tests and the test clock, which move time and then want what fell due to have happened.
     */
    async runDue(): Promise<void> {
      for (;;) {
        while (pumping) await pumping;
        const started = await fill(true);
        await idle();
        if (started === 0) return;
      }
    },

    start(): void {
      timer = setInterval(() => void pump(true), settings.pollMs);
      timer.unref();
    },

    /** Stops claiming, cuts the attempts in flight short (they are sent again later) and waits. */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      if (flushSoon) clearTimeout(flushSoon);
      stopping.abort();
      await pumping;
      await idle();
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>;
