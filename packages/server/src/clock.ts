/** Where time comes from. Tests and simulated time inject their own; nothing else reads Date.now(). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to: for tests. */
export function manualClock(start: number): Clock & { set(t: number): void; advance(ms: number): void } {
  let current = start;
  return {
    now: () => current,
    set: (t) => {
      current = t;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}
