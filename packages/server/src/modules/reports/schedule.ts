import { lastFullQuarter } from '@keymaster/core';
import { Cron } from 'croner';
import type { Clock } from '../../clock.js';
import { claimLeaseMs, type ReportClaim, type ReportService } from './service.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/**
 * The quarterly report (`KEYMASTER_REVENUE_REPORT_CRON`): when the cron expression fires (UTC),
 * the usage-revenue report of the last full calendar quarter before the fire time is made and
 * stored, and `report.ready` tells the webhooks.
 *
 * Nothing lives in a timer: every tick (the scheduler's poll, and the test clock's moves) looks
 * at the clock, and the fire times come from the last one the database holds a report for. So a
 * fire time passes the same way on every node, and a node that was down when one fired catches up
 * at its next tick — once, with the latest fire time missed (the reports of earlier ones would
 * be superseded). Before any report, the schedule starts from when this node started.
 *
 * Every node ticks; the first to claim a fire time (`claimScheduled`, one row per fire time)
 * makes its report, the others see the claim. A claim left by a node that died is taken over once
 * its lease ends.
 */
export function createReportSchedule(deps: {
  /** The cron expression; undefined: no schedule (every tick does nothing). */
  cron: string | undefined;
  reports: ReportService;
  clock: Clock;
  logger: Logger;
}) {
  const { reports, clock, logger } = deps;
  const cron = deps.cron === undefined ? undefined : new Cron(deps.cron, { timezone: 'UTC' });
  const startedAt = clock.now();
  /** The latest fire time known to be claimed (by any node), or the start; undefined until the database is read. */
  let known: number | undefined;
  /** When a claim seen pending runs out of lease, to look at it again; undefined: none seen. */
  let lookAgainAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  /** The latest fire time at or before `now`, or null for none. */
  function latestFire(schedule: Cron, now: number): number | null {
    // Croner answers runs strictly before the reference: one millisecond on includes `now` itself.
    return schedule.previousRuns(1, new Date(now + 1))[0]?.getTime() ?? null;
  }

  /** Makes a claimed report; answers whether this node stored it. Failures leave the claim to its lease. */
  async function make(claim: ReportClaim): Promise<boolean> {
    try {
      return await reports.makeScheduled(claim);
    } catch (error) {
      logger.warn(
        { err: error, report: claim.id },
        'making the scheduled report failed; retried when its claim runs out',
      );
      lookAgainAt = Math.min(lookAgainAt ?? Number.POSITIVE_INFINITY, claim.claimedUntil);
      return false;
    }
  }

  async function runOnce(schedule: Cron, now: number): Promise<number> {
    const fired = latestFire(schedule, now);
    const due = known === undefined || (fired !== null && fired > known);
    if (!due && (lookAgainAt === undefined || now < lookAgainAt)) return 0;
    const state = await reports.scheduleState();
    known = state.last ?? startedAt;
    lookAgainAt = undefined;
    let made = 0;
    for (const pending of state.pending) {
      const until = Number(pending.claimed_until);
      if (until > now) {
        lookAgainAt = Math.min(lookAgainAt ?? Number.POSITIVE_INFINITY, until);
        continue;
      }
      const claim = await reports.takeOver({ pending, now });
      if (claim && (await make(claim))) made++;
    }
    if (fired !== null && fired > known) {
      const claim = await reports.claimScheduled({ firedAt: fired, range: lastFullQuarter(fired), now });
      known = fired;
      // Another node claimed it first: look again once its lease could have run out.
      if (!claim) lookAgainAt = Math.min(lookAgainAt ?? Number.POSITIVE_INFINITY, now + claimLeaseMs);
      else if (await make(claim)) made++;
    }
    return made;
  }

  return {
    /**
     * Makes the report of a fire time that has passed (default: at the clock's now), and any claim
     * left behind; answers how many reports this node stored. Calls while a run is in flight wait
     * for it and then run again, so a caller that has just moved the clock gets a run that saw it.
     */
    async runDue(now?: number): Promise<number> {
      if (!cron) return 0;
      while (running) await running.catch(() => undefined);
      running = runOnce(cron, now ?? clock.now());
      try {
        return await running;
      } finally {
        running = undefined;
      }
    },

    start(pollMs: number): void {
      if (!cron) return;
      timer = setInterval(() => {
        if (running) return;
        this.runDue().catch((error: unknown) => logger.warn({ err: error }, 'running the report schedule failed'));
      }, pollMs);
      timer.unref();
    },

    /** Stops ticking and waits for a report being made (its claim would otherwise wait out its lease). */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}

export type ReportSchedule = ReturnType<typeof createReportSchedule>;
