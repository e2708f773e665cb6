import type { Db } from '../../db/database.js';
import { sealAudit } from './trail.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/**
 * Seals committed audit rows into the chain in the background (see `sealAudit`): every
 * `everyMs` on every node, each leaving the work to a node already at it, so a change's row is
 * in the hash chain a moment after its commit even when nobody reads the trail. Stopping seals
 * what is left, so a node that shuts down cleanly leaves nothing waiting.
 */
export function createAuditSealer(deps: { db: Db; logger: Logger; everyMs: number }) {
  let timer: NodeJS.Timeout | undefined;
  let sealing: Promise<unknown> | undefined;

  function tick(): void {
    if (sealing) return;
    sealing = sealAudit(deps.db, { wait: false })
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'sealing the audit trail failed'))
      .finally(() => {
        sealing = undefined;
      });
  }

  return {
    start(): void {
      timer = setInterval(tick, deps.everyMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await sealing;
      await sealAudit(deps.db).catch((error: unknown) =>
        deps.logger.warn({ err: error }, 'sealing the audit trail failed'),
      );
    },
  };
}
