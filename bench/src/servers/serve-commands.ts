import type { ChildMessage, Command, CpuUsage } from './protocol.js';

type Handler = (args: never) => unknown;

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('not started with an IPC channel (use child_process.fork)'));
    process.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Child side of the protocol: announces the port, then runs commands from the parent one at a
 * time. `stop` runs `close` and exits; a parent that goes away (crash, Ctrl-C) stops us as well,
 * so no server outlives its benchmark.
 */
export async function serveCommands(input: {
  port: number;
  close: () => Promise<void>;
  handlers?: Record<string, Handler>;
}): Promise<void> {
  const handlers: Record<string, Handler> = {
    ...input.handlers,
    cpu: (): CpuUsage => {
      const usage = process.cpuUsage();
      return { cpuMicros: usage.user + usage.system };
    },
  };
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await input.close().catch((error: unknown) => console.error('closing the server failed:', error));
    process.exit(code);
  };
  process.on('disconnect', () => void stop(0));
  process.on('message', (raw) => {
    const command = raw as Command;
    if (command.name === 'stop') {
      void send({ type: 'reply', id: command.id, result: null }).finally(() => stop(0));
      return;
    }
    void (async () => {
      try {
        const handler = handlers[command.name];
        if (!handler) throw new Error(`unknown command "${command.name}"`);
        const result = await handler(command.args as never);
        await send({ type: 'reply', id: command.id, result: result ?? null });
      } catch (error) {
        await send({
          type: 'failed',
          id: command.id,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
    })();
  });
  await send({ type: 'ready', port: input.port });
}
