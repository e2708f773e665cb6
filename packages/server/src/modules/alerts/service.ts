import type { AlertRuleCreate } from '@keymaster/contract';
import { type AlertRule, ErrorCodes, type FieldError, invalid, notFound, validateAlertRule } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { type AuditActor, appendAudit, changedFields, systemActor } from '../audit/trail.js';
import { findCustomer } from '../customers/store.js';
import { findFeature } from '../features/store.js';
import { findPlanVersions } from '../plans/store.js';
import { deleteAlertRule, findAlertRule, insertAlertRule, listAlertRules } from './store.js';

export type AlertRuleService = ReturnType<typeof createAlertRuleService>;

/**
 * Alert rules: created, listed, deleted. A rule watches a feature whose use is counted — metered
 * or a gauge — and names a plan or a customer that exists; every problem is a 400 naming its
 * field. Firing is not here: usage writes decide it (see fire.ts).
 */
export function createAlertRuleService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  return {
    async create(input: {
      body: AlertRuleCreate;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<AlertRule> {
      const { body } = input;
      const rule: AlertRule = {
        id: newId('alr'),
        feature: body.feature,
        type: body.type,
        value: body.value,
        plan: body.plan ?? null,
        customer: body.customer ?? null,
        createdAt: clock.now(),
      };
      return withTransaction({ db, claim: input.claim }, async (tx) => {
        const errors: FieldError[] = [];
        const feature = await findFeature(tx, body.feature);
        if (!feature) errors.push({ path: '/feature', message: `unknown feature "${body.feature}"` });
        else if (feature.type !== 'metered' && feature.type !== 'gauge') {
          errors.push({
            path: '/feature',
            message: `"${body.feature}" is ${feature.type}: only metered features and gauges have usage`,
          });
        }
        errors.push(...validateAlertRule(rule));
        if (rule.plan !== null && (await findPlanVersions(tx, rule.plan)).length === 0) {
          errors.push({ path: '/plan', message: `unknown plan "${rule.plan}"` });
        }
        if (rule.customer !== null && !(await findCustomer(tx, rule.customer))) {
          errors.push({ path: '/customer', message: `unknown customer "${rule.customer}"` });
        }
        if (errors.length > 0) throw invalid(errors);
        await insertAlertRule(tx, rule);
        await appendAudit(tx, [
          {
            at: rule.createdAt,
            actor: input.actor ?? systemActor,
            action: 'alert_rule.created',
            target: { type: 'alert_rule', id: rule.id },
            customerId: rule.customer,
            data: changedFields(null, auditFields(rule)),
          },
        ]);
        return rule;
      });
    },

    list(page: { feature: string | undefined; after: string | undefined; limit: number }): Promise<AlertRule[]> {
      return listAlertRules(db, page);
    },

    /** Deletes a rule; its past firings stay (they are what was announced). */
    async delete(id: string, actor: AuditActor = systemActor): Promise<AlertRule> {
      return withTransaction(db, async (tx) => {
        const rule = await findAlertRule(tx, id);
        if (!rule) throw notFound(ErrorCodes.alertRuleNotFound, `Alert rule "${id}" does not exist.`);
        await deleteAlertRule(tx, id);
        await appendAudit(tx, [
          {
            at: clock.now(),
            actor,
            action: 'alert_rule.deleted',
            target: { type: 'alert_rule', id: rule.id },
            customerId: rule.customer,
            data: { before: auditFields(rule), after: null },
          },
        ]);
        return rule;
      });
    },
  };
}

/** A rule as the trail shows it: its API fields, without the id the row's target already names. */
function auditFields(rule: AlertRule): Record<string, unknown> {
  return { feature: rule.feature, type: rule.type, value: rule.value, plan: rule.plan, customer: rule.customer };
}
