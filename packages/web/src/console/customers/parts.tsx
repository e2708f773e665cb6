import type { Plan } from '@keymaster/contract';
import type { ReactElement } from 'react';
import { formatMoney } from '../../ui/format';

const statusTone: Record<string, string> = {
  active: 'ok',
  trialing: 'ok',
  past_due: 'warn',
  paused: 'warn',
  canceled: 'danger',
  expired: 'danger',
};

/** A subscription status as a badge: green while it grants access, amber when at risk, red once ended. */
export function StatusBadge(props: { status: string }): ReactElement {
  const tone = statusTone[props.status];
  return <span className={tone ? `badge ${tone}` : 'badge'}>{props.status.replace('_', ' ')}</span>;
}

/** `Pro — $49.00 / month`, or the key alone when the plan is not in the list read. */
export function planLabel(plan: Plan | undefined, key: string): string {
  if (!plan) return key;
  const price = plan.price ? ` — ${formatMoney(plan.price.amount, plan.price.currency)} / ${plan.price.interval}` : '';
  return `${plan.name}${price}`;
}

/** A JSON value as short text: strings as they are, the rest as JSON. */
export function jsonText(value: unknown): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
