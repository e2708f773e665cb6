/**
 * A child process that keeps a set share of the CPU busy with work unrelated to Keymaster:
 * `BURN_PERCENT` of one core, over as many threads as that takes (a share above 100 % runs two
 * loops). The work is a fixed number of loop iterations each 10 ms, calibrated on start, so it
 * asks for CPU the way a fixed load of requests does: under contention it gets less done, not
 * more time. Asked `usage` over IPC, it answers the CPU it has used, in microseconds.
 */
import { isMainThread, Worker, workerData } from 'node:worker_threads';

const periodMs = 10;

/** Busy work the optimiser cannot drop: a linear congruential generator, `n` steps. */
function spin(n: number, seed: number): number {
  let x = seed;
  for (let i = 0; i < n; i++) x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
  return x;
}

/** Iterations one thread does per millisecond of CPU, measured over about 200 ms. */
function calibrate(): number {
  let n = 1_000;
  for (;;) {
    const started = performance.now();
    spin(n, 1);
    const ms = performance.now() - started;
    if (ms > 200) return n / ms;
    n *= 2;
  }
}

function burn(share: number, perMs: number): void {
  const perPeriod = Math.round(share * periodMs * perMs);
  let next = performance.now();
  let sink = 1;
  const tick = () => {
    sink = spin(perPeriod, sink);
    next += periodMs;
    // Behind schedule (squeezed by other work): carry on at once, as a queue of requests would.
    setTimeout(tick, Math.max(0, next - performance.now()));
  };
  tick();
}

if (isMainThread) {
  const percent = Number(process.env.BURN_PERCENT);
  if (!(percent > 0)) throw new Error('cpu-burner: set BURN_PERCENT to a share of one core, e.g. 35');
  const perMs = calibrate();
  const threads = Math.ceil(percent / 100);
  const share = percent / threads / 100;
  for (let i = 1; i < threads; i++) new Worker(new URL(import.meta.url), { workerData: { share, perMs } });
  burn(share, perMs);
  process.on('message', (message) => {
    if (message !== 'usage') return;
    const usage = process.cpuUsage();
    process.send?.({ micros: usage.user + usage.system });
  });
  process.send?.('ready');
} else {
  const { share, perMs } = workerData as { share: number; perMs: number };
  burn(share, perMs);
}
