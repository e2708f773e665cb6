import type { Db } from '../../db/database.js';
import { eraseCustomersFromBody } from './report-body.js';
import { findReadyReportBody, listReadyReportIds, replaceReportBody } from './stored-reports.js';

/**
 * GDPR erasure in stored reports: each stored report with a row for the customer has the row made
 * anonymous (`withoutCustomer`: the figures stay, so totals still add up; nothing names the
 * customer). Bodies are read and rewritten one at a time, a line at a time. Answers how many
 * reports were rewritten.
 *
 * Run in the erasure's transaction, after the customer's row is deleted: a report being stored
 * meanwhile checks its customers in its own transaction (`missingCustomers`), so it either sees
 * the customer gone or commits before this reads the reports.
 */
export async function eraseFromStoredReports(tx: Db, customerId: string): Promise<number> {
  const customers = new Set([customerId]);
  let rewritten = 0;
  for (const id of await listReadyReportIds(tx)) {
    const report = await findReadyReportBody(tx, id);
    if (!report) continue;
    const erased = await eraseCustomersFromBody(report.body, customers);
    if (!erased) continue;
    await replaceReportBody(tx, { id, compressed: erased });
    rewritten++;
  }
  return rewritten;
}
