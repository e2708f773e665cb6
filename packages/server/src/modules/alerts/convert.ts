import type { AlertRule as ApiAlertRule } from '@keymaster/contract';
import type { AlertRule, AlertType } from '@keymaster/core';
import type { Selectable } from 'kysely';
import type { AlertRuleTable } from '../../db/schema.js';
import { toIso } from '../../json-column.js';

export function fromDbAlertRule(row: Selectable<AlertRuleTable>): AlertRule {
  return {
    id: row.id,
    feature: row.feature,
    type: row.type as AlertType,
    value: Number(row.value),
    plan: row.plan,
    customer: row.customer_id,
    createdAt: Number(row.created_at),
  };
}

export function toDbAlertRule(rule: AlertRule): AlertRuleTable {
  return {
    id: rule.id,
    feature: rule.feature,
    type: rule.type,
    value: rule.value,
    plan: rule.plan,
    customer_id: rule.customer,
    created_at: rule.createdAt,
  };
}

export function toApiAlertRule(rule: AlertRule): ApiAlertRule {
  return {
    id: rule.id,
    feature: rule.feature,
    type: rule.type,
    value: rule.value,
    plan: rule.plan,
    customer: rule.customer,
    created_at: toIso(rule.createdAt),
  };
}
