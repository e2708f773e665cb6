import { machineBusyMicros } from './machine-cpu.js';
import { round } from './stats.js';

/** CPU used over an interval, as % of one core. */
export interface CpuShares {
  serverCpuPercent: number;
  /** This process: the load generator. */
  loaderCpuPercent: number;
  /** Every other process on the machine (null off Linux): should be near 0. */
  otherCpuPercent: number | null;
}

/**
 * Starts measuring how busy the server, this process and the rest of the machine are; `stop`
 * answers the shares over the interval. A server below ~95% while the loader is near 100% means
 * the load generator set the pace.
 */
export async function startCpuMeter(serverCpuMicros: () => Promise<number>) {
  const serverBefore = await serverCpuMicros();
  const machineBefore = machineBusyMicros();
  const loaderBefore = process.cpuUsage();
  const started = performance.now();
  return {
    async stop(): Promise<CpuShares> {
      const wallMicros = (performance.now() - started) * 1000;
      const loader = process.cpuUsage(loaderBefore);
      const machineAfter = machineBusyMicros();
      const serverMicros = (await serverCpuMicros()) - serverBefore;
      const loaderMicros = loader.user + loader.system;
      const otherMicros =
        machineBefore === null || machineAfter === null
          ? null
          : Math.max(0, machineAfter - machineBefore - serverMicros - loaderMicros);
      return {
        serverCpuPercent: round((serverMicros / wallMicros) * 100),
        loaderCpuPercent: round((loaderMicros / wallMicros) * 100),
        otherCpuPercent: otherMicros === null ? null : round((otherMicros / wallMicros) * 100),
      };
    },
  };
}
