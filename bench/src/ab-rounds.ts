import type { LoadResult, LoadSettings } from './http-load.js';
import { mean, round } from './stats.js';

/**
 * A/B benchmarks (alerts, audit, decisions): two servers built alike but for the one thing
 * measured, both running throughout, loaded in turn. The machine's speed drifts within a
 * benchmark, so every variant round runs between two baseline rounds and is compared with them.
 */
export type Side = 'baseline' | 'variant';

/** The order of the rounds: baseline, variant, baseline, …, baseline. */
export function roundOrder(variantRounds: number): Side[] {
  return Array.from({ length: 2 * variantRounds + 1 }, (_, i) => (i % 2 === 0 ? 'baseline' : 'variant'));
}

/**
 * The unmeasured run each server gets before the rounds (half a measured run, no warm-up): a
 * server's first load runs slower (compiling, filling caches, the database settling after the
 * seeding), and a cold first baseline round would flatter the variant.
 */
export function settlingSettings(settings: LoadSettings): LoadSettings {
  return { ...settings, warmupSeconds: 0, durationSeconds: Math.max(1, settings.durationSeconds / 2) };
}

/** What the rounds say: the variant against the baseline rounds on either side of it. */
export interface RoundsComparison {
  /** Each variant round's req/s ÷ the mean of the baseline rounds on either side of it. */
  ratios: number[];
  /** The mean of `ratios`. */
  ratio: number;
  /** Server CPU per request, variant ÷ baseline, likewise (above 1 is a cost). */
  cpuRatio: number;
}

/** Compares rounds run in `roundOrder`. */
export function compareRounds(rounds: readonly { server: Side; load: LoadResult }[]): RoundsComparison {
  const cpuPerRequest = (r: LoadResult) => r.serverCpuPercent / r.requestsPerSecond;
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let i = 1; i < rounds.length; i += 2) {
    const [left, variant, right] = [rounds[i - 1]!, rounds[i]!, rounds[i + 1]!];
    if (left.server !== 'baseline' || variant.server !== 'variant' || right?.server !== 'baseline') {
      throw new Error('rounds must run baseline, variant, baseline, …, baseline');
    }
    const sides = [left.load, right.load];
    ratios.push(variant.load.requestsPerSecond / mean(sides.map((r) => r.requestsPerSecond)));
    cpuRatios.push(cpuPerRequest(variant.load) / mean(sides.map(cpuPerRequest)));
  }
  return { ratios: ratios.map(round), ratio: round(mean(ratios)), cpuRatio: round(mean(cpuRatios)) };
}
