import type { CustomerUpsert } from '@keymaster/contract';
import { ErrorCodes, type JsonObject, notFound } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { withTransaction } from '../../db/transaction.js';
import { type AuditActor, appendAudit, changedFields, forgetAuditData, systemActor } from '../audit/trail.js';
import { eraseFromStoredReports } from '../reports/erasure.js';
import type { CustomerRecord } from './convert.js';
import { customerExport } from './export.js';
import { eraseCustomer, findCustomer, insertCustomer, listCustomers, updateCustomer } from './store.js';

export type CustomerService = ReturnType<typeof createCustomerService>;

/** What the trail keeps of a customer: the fields a PUT sets. */
function auditFields(customer: CustomerRecord): Record<string, unknown> {
  return {
    name: customer.name,
    email: customer.email,
    traits: customer.traits,
    stripe_customer: customer.stripeCustomer,
  };
}

export function createCustomerService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  async function upsertOnce(input: { id: string; body: CustomerUpsert; actor: AuditActor }) {
    const now = clock.now();
    return withTransaction(db, async (tx) => {
      const current = await findCustomer(tx, input.id);
      const { body } = input;
      const customer: CustomerRecord = {
        id: input.id,
        name: body.name !== undefined ? body.name : (current?.name ?? null),
        email: body.email !== undefined ? body.email : (current?.email ?? null),
        traits: body.traits !== undefined ? (body.traits as JsonObject) : (current?.traits ?? {}),
        stripeCustomer: body.stripe_customer !== undefined ? body.stripe_customer : (current?.stripeCustomer ?? null),
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
      };
      if (current) await updateCustomer(tx, customer);
      else await insertCustomer(tx, customer);
      const change = changedFields(current ? auditFields(current) : null, auditFields(customer));
      // A PUT that sets what is already there (a sync job's) changed nothing, and says so nowhere.
      if (!current || Object.keys(change.after).length > 0) {
        await appendAudit(tx, [
          {
            at: now,
            actor: input.actor,
            action: current ? 'customer.updated' : 'customer.created',
            target: { type: 'customer', id: customer.id },
            customerId: customer.id,
            data: change,
          },
        ]);
      }
      return { customer, created: !current };
    });
  }

  return {
    /** Creates the customer, or updates the fields the body sets (traits are replaced whole). */
    async upsert(input: {
      id: string;
      body: CustomerUpsert;
      actor?: AuditActor | undefined;
    }): Promise<{ customer: CustomerRecord; created: boolean }> {
      const once = { id: input.id, body: input.body, actor: input.actor ?? systemActor };
      try {
        return await upsertOnce(once);
      } catch (error) {
        // Two first PUTs raced; the loser's write is now an update. Inside a caller's transaction
        // the caller retries (PostgreSQL's transaction is aborted by the violation).
        if (isUniqueViolation(error) && !db.isTransaction) return upsertOnce(once);
        throw error;
      }
    },

    async get(id: string): Promise<CustomerRecord> {
      const customer = await findCustomer(db, id);
      if (!customer) throw notFound(ErrorCodes.customerNotFound, `Customer "${id}" does not exist.`);
      return customer;
    },

    /**
     * GDPR export: everything held about the customer as one JSON document, in pieces to write as
     * they come (see `customerExport`). Answers once the customer is found; 404 if not.
     */
    async export(id: string): Promise<AsyncIterable<string>> {
      const customer = await findCustomer(db, id);
      if (!customer) throw notFound(ErrorCodes.customerNotFound, `Customer "${id}" does not exist.`);
      return customerExport({ db, customer, now: clock.now() });
    },

    async list(page: {
      after: string | undefined;
      limit: number;
      prefix?: string | undefined;
    }): Promise<CustomerRecord[]> {
      return listCustomers(db, page);
    },

    /**
     * Erases the customer (GDPR): everything stored about them goes, their rows in stored reports
     * are made anonymous, and the audit trail keeps its rows about them without their data (the
     * chain still verifies) and records the erasure.
     */
    async erase(id: string, actor: AuditActor = { type: 'system', id: 'erasure' }): Promise<void> {
      await withTransaction(db, async (tx) => {
        // Thrown inside the transaction: its deletes roll back, so erasing an unknown id changes
        // nothing (on PostgreSQL a delete of no rows still announces a catalog change otherwise).
        if (!(await eraseCustomer(tx, id))) {
          throw notFound(ErrorCodes.customerNotFound, `Customer "${id}" does not exist.`);
        }
        await eraseFromStoredReports(tx, id);
        await forgetAuditData(tx, id);
        await appendAudit(tx, [
          {
            at: clock.now(),
            actor,
            action: 'customer.erased',
            target: { type: 'customer', id },
            customerId: id,
            data: null,
          },
        ]);
      });
    },
  };
}
