import type { Feature } from '../catalog/feature.js';
import { type Grant, isGrantActive } from '../customers/grant.js';

/**
 * One-off credits and credit pools, as pure arithmetic. The store keeps the numbers (a period
 * counter of everything used, and each credit grant's `remaining`); these functions say what a
 * use costs, which source pays for it and what is given back. See this folder's README.
 */

/** A credit grant's balance as drawing sees it. */
export interface CreditBalance {
  grantId: string;
  remaining: number;
  /** The units it was granted with: a refund never takes it above this. */
  amount: number;
  expiresAt: number | null;
  createdAt: number;
}

/** What one source pays (positive) or gets back (negative). */
export interface CreditDraw {
  grantId: string;
  units: number;
}

/** The units of its pool that `quantity` units of a feature cost: `quantity × perUnit`. */
export function poolCost(input: { perUnit: number; quantity: number }): number {
  return input.quantity * input.perUnit;
}

/** The pool a feature draws from, or null when it has a limit of its own. */
export function creditPoolOf(feature: Feature): { pool: string; perUnit: number } | null {
  return feature.type === 'metered' && feature.creditCost ? feature.creditCost : null;
}

/**
 * The credit grants of one feature active at `now` (emptied ones too: a refund may refill them),
 * in the order they are drawn: soonest expiry first, never-expiring last; equal expiries oldest grant first.
 * Using the credits that would be lost first is what the customer would choose.
 */
export function creditBalances(input: { grants: readonly Grant[]; feature: string; now: number }): CreditBalance[] {
  const balances: CreditBalance[] = [];
  for (const grant of input.grants) {
    if (grant.mode !== 'credit' || grant.feature !== input.feature || !isGrantActive(grant, input.now)) continue;
    const remaining = grant.remaining ?? grant.limit ?? 0;
    balances.push({
      grantId: grant.id,
      remaining,
      amount: grant.limit ?? 0,
      expiresAt: grant.expiresAt,
      createdAt: grant.createdAt,
    });
  }
  return balances.sort(drawOrder);
}

/** Soonest expiry first, never last; then oldest first; then by id, so every node agrees. */
export function drawOrder(a: CreditBalance, b: CreditBalance): number {
  const ea = a.expiresAt ?? Number.POSITIVE_INFINITY;
  const eb = b.expiresAt ?? Number.POSITIVE_INFINITY;
  if (ea !== eb) return ea < eb ? -1 : 1;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.grantId < b.grantId ? -1 : a.grantId > b.grantId ? 1 : 0;
}

/** The units left across balances. */
export function creditsLeft(balances: readonly CreditBalance[]): number {
  let sum = 0;
  for (const balance of balances) sum += Math.max(0, balance.remaining);
  return sum;
}

/**
 * How much of a change to a period's usage falls beyond the period's allowance, and so is paid
 * by credit grants (positive) or given back to them (negative, when usage falls — a hold
 * released). The plan's allowance is always used first: it resets, credits do not. Unlimited
 * (null) allowances never touch credits.
 */
export function overflowChange(input: { allowance: number | null; before: number; after: number }): number {
  const { allowance, before, after } = input;
  if (allowance === null) return 0;
  return Math.max(0, after - allowance) - Math.max(0, before - allowance);
}

/**
 * Splits `units` over the balances in draw order (they must be sorted by `drawOrder`), each
 * paying what it has left. `uncovered` is what they could not pay.
 */
export function planDraw(input: { balances: readonly CreditBalance[]; units: number }): {
  draws: CreditDraw[];
  uncovered: number;
} {
  let left = input.units;
  const draws: CreditDraw[] = [];
  for (const balance of input.balances) {
    if (left <= 0) break;
    const units = Math.min(left, Math.max(0, balance.remaining));
    if (units <= 0) continue;
    draws.push({ grantId: balance.grantId, units });
    left -= units;
  }
  return { draws, uncovered: Math.max(0, left) };
}

/**
 * Gives `units` back to the balances in the reverse of the draw order (the last drawn is the
 * first refilled), none above what it was granted. Answers negative draws; what no active grant
 * can take back (it expired meanwhile) is lost.
 */
export function planRefund(input: { balances: readonly CreditBalance[]; units: number }): CreditDraw[] {
  let left = input.units;
  const draws: CreditDraw[] = [];
  for (let i = input.balances.length - 1; i >= 0 && left > 0; i--) {
    const balance = input.balances[i]!;
    const room = balance.amount - balance.remaining;
    const units = Math.min(left, room);
    if (units <= 0) continue;
    draws.push({ grantId: balance.grantId, units: -units });
    left -= units;
  }
  return draws;
}

/**
 * What a change of usage from `before` to `after` does to the credit grants: the part beyond the
 * allowance is drawn from them in order (as far as they reach), a fall below it refills them.
 */
export function settleCredits(input: {
  allowance: number | null;
  before: number;
  after: number;
  balances: readonly CreditBalance[];
}): { draws: CreditDraw[]; uncovered: number } {
  const change = overflowChange(input);
  if (change > 0) return planDraw({ balances: input.balances, units: change });
  if (change < 0) return { draws: planRefund({ balances: input.balances, units: -change }), uncovered: 0 };
  return { draws: [], uncovered: 0 };
}
