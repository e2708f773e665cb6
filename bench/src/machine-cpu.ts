import { readFileSync } from 'node:fs';

/** Jiffies per second as Linux reports them in /proc/stat (USER_HZ, 100 on every common build). */
const userHz = 100;

/**
 * CPU time every process on the machine has used so far, in microseconds, from /proc/stat; null
 * where that file does not exist. Compared with what the benchmark's own processes used over the
 * same interval, it shows whether something else was competing for the cores.
 */
export function machineBusyMicros(): number | null {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const fields = stat.slice(0, stat.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1_000_000) / userHz;
}
