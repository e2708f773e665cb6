import type { ReportOrigin, UsageRevenueReportCreate } from '@keymaster/contract';
import { ErrorCodes, notFound } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { type AuditActor, appendAudit } from '../audit/trail.js';
import { emitDomainEvents } from '../outbox/emit.js';
import { toApiStoredReport, toApiUsageRevenueRow } from './convert.js';
import { type CompressedReport, compressReport, eraseCustomersFromBody } from './report-body.js';
import {
  completeClaim,
  findReadyReport,
  findReadyReportBody,
  insertReport,
  lastScheduled,
  listPendingScheduled,
  listReadyReports,
  missingCustomers,
  type ReportRow,
  renewClaim,
} from './stored-reports.js';
import type { UsageRevenueRow, UsageRevenueService } from './usage-revenue.js';

export type ReportService = ReturnType<typeof createReportService>;

/** The one kind of stored report so far. */
export const usageRevenueKind = 'usage-revenue';

/** A report's range and filters, as instants. */
export interface ReportRange {
  from: number;
  to: number;
  plan?: string | undefined;
  flag?: UsageRevenueReportCreate['flag'] | undefined;
}

/** A scheduled report this node claimed: its row is `pending` with this lease. */
export interface ReportClaim {
  id: string;
  range: ReportRange;
  claimedUntil: number;
}

/**
 * How long a node that claimed a scheduled report has to make it before another may take the
 * work over: longer than a report over the whole customer base takes.
 */
export const claimLeaseMs = 15 * 60_000;

/** Who stores the reports the schedule makes, in the audit trail. */
const scheduleActor: AuditActor = { type: 'system', id: 'report-schedule' };

/**
 * Stored reports: a usage-revenue report computed (`createUsageRevenueReport`, as on demand),
 * stored with its document gzip-compressed, listed and served. Each is announced by a
 * `report.ready` event and an audit row in the transaction that stores it.
 *
 * The schedule's reports are claimed before they are computed (`claimScheduled`): one row per fire
 * time, so with several nodes one of them makes it; a claim whose node died is taken over once
 * its lease ends (`takeOver`), and only the node holding the lease when it is done stores it.
 */
export function createReportService(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  usageRevenue: UsageRevenueService;
}) {
  const { db, dialect, clock } = deps;

  /**
   * Computes the report and compresses its document as its pages come (a page of customers in
   * memory at a time), outside any transaction.
   */
  async function make(input: { id: string; range: ReportRange }) {
    const { from, to, plan, flag } = input.range;
    const report = await deps.usageRevenue.open({ from, to, plan, flag });
    return compressReport({
      id: input.id,
      from: toIso(report.from),
      to: toIso(report.to),
      pages: apiPages(report.pages()),
      summary: () => report.summary(),
    });
  }

  /**
   * The body to store, in the storing transaction: a customer erased since the report read them
   * has their row made anonymous, as the erasure does to reports already stored. (Checked with
   * the existing customers locked on PostgreSQL, so an erasure either commits before this check
   * or finds this report once it is stored; see `missingCustomers`.)
   */
  async function bodyToStore(
    tx: Db,
    made: { compressed: CompressedReport; customerIds: string[] },
  ): Promise<CompressedReport> {
    const gone = await missingCustomers(tx, { dialect, ids: made.customerIds });
    if (gone.size === 0) return made.compressed;
    return (await eraseCustomersFromBody(made.compressed.body, gone)) ?? made.compressed;
  }

  /** The audit row and the `report.ready` event of a report just stored (the event last: see outbox/consumer.ts). */
  async function announce(tx: Db, input: { row: ReportRow; actor: AuditActor; now: number }): Promise<void> {
    const report = toApiStoredReport(input.row);
    await appendAudit(tx, [
      {
        at: input.now,
        actor: input.actor,
        action: 'report.created',
        target: { type: 'report', id: report.id },
        data: { kind: report.kind, from: report.from, to: report.to, filters: report.filters, made: report.made },
      },
    ]);
    await emitDomainEvents(
      tx,
      // Not about a customer: the outbox's customer column holds '' for it, which no erasure matches.
      [{ type: 'report.ready', customerId: '', occurredAt: input.now, data: report }],
      input.now,
    );
  }

  function filtersOf(range: ReportRange): string {
    return JSON.stringify({ plan: range.plan ?? null, flag: range.flag ?? null });
  }

  return {
    /** Computes a usage-revenue report over the range and stores it; answers the stored report. */
    async create(input: {
      range: ReportRange;
      made: Exclude<ReportOrigin, 'schedule'>;
      actor: AuditActor;
      /** A request's `Idempotency-Key` claim, committed with the report. */
      claim?: EffectClaim | undefined;
    }) {
      const id = newId('rpt');
      const made = await make({ id, range: input.range });
      return withTransaction({ db, claim: input.claim }, async (tx) => {
        const stored = await bodyToStore(tx, made);
        const now = clock.now();
        const row: ReportRow = {
          id,
          kind: usageRevenueKind,
          made: input.made,
          range_from: input.range.from,
          range_to: input.range.to,
          filters: filtersOf(input.range),
          scheduled_for: null,
          status: 'ready',
          claimed_until: null,
          created_at: now,
          customers: stored.customers,
          size: stored.size,
          compressed_size: stored.body.length,
        };
        await insertReport(tx, { ...row, body: stored.body });
        await announce(tx, { row, actor: input.actor, now });
        return row;
      });
    },

    /** A page of stored reports, newest first. */
    list(input: { made: ReportOrigin | undefined; before: string | undefined; limit: number }): Promise<ReportRow[]> {
      return listReadyReports(db, input);
    },

    /** A stored report and its compressed body; 404 for an unknown id (or one still being made). */
    async get(id: string): Promise<{ row: ReportRow; body: Buffer }> {
      const found = await findReadyReportBody(db, id);
      if (!found) throw notFound(ErrorCodes.notFound, `Report "${id}" does not exist.`);
      const { body, ...row } = found;
      return { row, body };
    },

    /** Where the schedule stands: the latest fire time claimed (null: none yet) and the claims not yet made. */
    async scheduleState(): Promise<{ last: number | null; pending: ReportRow[] }> {
      const [last, pending] = await Promise.all([
        lastScheduled(db, usageRevenueKind),
        listPendingScheduled(db, usageRevenueKind),
      ]);
      return { last, pending };
    },

    /** Claims the report of a fire time for this node; null when another node has claimed it. */
    async claimScheduled(input: { firedAt: number; range: ReportRange; now: number }): Promise<ReportClaim | null> {
      const claim = { id: newId('rpt'), range: input.range, claimedUntil: input.now + claimLeaseMs };
      try {
        await insertReport(db, {
          id: claim.id,
          kind: usageRevenueKind,
          made: 'schedule',
          range_from: input.range.from,
          range_to: input.range.to,
          filters: filtersOf(input.range),
          scheduled_for: input.firedAt,
          status: 'pending',
          claimed_until: claim.claimedUntil,
          created_at: input.now,
          customers: null,
          size: null,
          compressed_size: null,
          body: null,
        });
        return claim;
      } catch (error) {
        if (isUniqueViolation(error)) return null;
        throw error;
      }
    },

    /** Takes over a claim whose lease has ended; null when another node did first, or it is made. */
    async takeOver(input: { pending: ReportRow; now: number }): Promise<ReportClaim | null> {
      const { pending, now } = input;
      const claimedUntil = now + claimLeaseMs;
      const taken = await renewClaim(db, {
        id: pending.id,
        claimedUntil: Number(pending.claimed_until),
        until: claimedUntil,
      });
      if (!taken) return null;
      const filters = JSON.parse(pending.filters) as { plan: string | null; flag: ReportRange['flag'] | null };
      const range = {
        from: Number(pending.range_from),
        to: Number(pending.range_to),
        plan: filters.plan ?? undefined,
        flag: filters.flag ?? undefined,
      };
      return { id: pending.id, range, claimedUntil };
    },

    /** Makes and stores a claimed report; false when the claim was taken over meanwhile (that node stores it). */
    async makeScheduled(claim: ReportClaim): Promise<boolean> {
      const made = await make({ id: claim.id, range: claim.range });
      return withTransaction(db, async (tx) => {
        const stored = await bodyToStore(tx, made);
        const now = clock.now();
        if (!(await completeClaim(tx, { id: claim.id, claimedUntil: claim.claimedUntil, compressed: stored, now }))) {
          return false;
        }
        const row = await findReadyReport(tx, claim.id);
        await announce(tx, { row: row!, actor: scheduleActor, now });
        return true;
      });
    },
  };
}

/** The report's pages of rows in the API's form. */
async function* apiPages(pages: AsyncIterable<UsageRevenueRow[]>) {
  for await (const rows of pages) yield rows.map((row) => toApiUsageRevenueRow(row));
}
