import { once } from 'node:events';
import { type MessagePort, Worker } from 'node:worker_threads';
import { DomainError } from '@keymaster/core';

/** A domain error as it crosses between threads (see `ThreadReply`). */
type SentDomainError = Pick<DomainError, 'kind' | 'code' | 'message' | 'errors'>;

/** A message to a held thread: a request with its id, or `close` (finish what was sent, then stop). */
export type ThreadRequest<Body> = ({ id: number } & Body) | 'close';
/**
 * A thread's answer to one request: its value, the domain error it refused it with, or the
 * error it failed with. A domain error goes field by field: structured cloning keeps only an
 * error's message, and the request would then answer a 500 instead of the refusal.
 */
export type ThreadReply<Value> =
  | { id: number; value: Value }
  | { id: number; refused: SentDomainError }
  | { id: number; error: { message: string; code?: unknown } };

/** The thread side: answers each request with `handle`'s value or error; `close` runs `finish` once all are answered. */
export function serveThreadRequests<Body, Value>(input: {
  port: MessagePort;
  handle: (request: Body) => Promise<Value>;
  finish: () => Promise<unknown>;
}): void {
  const { port } = input;
  const working = new Set<Promise<void>>();
  port.on('message', (request: ThreadRequest<Body>) => {
    if (request === 'close') {
      // The requests sent before finish first; then the thread lets go of what it holds and ends.
      void Promise.allSettled([...working])
        .then(() => input.finish())
        .finally(() => port.close());
      return;
    }
    const work = input.handle(request).then(
      (value) => port.postMessage({ id: request.id, value } satisfies ThreadReply<Value>),
      (error: unknown) => {
        if (error instanceof DomainError) {
          const { kind, code, message, errors } = error;
          port.postMessage({ id: request.id, refused: { kind, code, message, errors } } satisfies ThreadReply<Value>);
          return;
        }
        const { message, code } =
          error instanceof Error ? (error as Error & { code?: unknown }) : { message: String(error), code: undefined };
        port.postMessage({ id: request.id, error: { message, code } } satisfies ThreadReply<Value>);
      },
    );
    working.add(work);
    void work.finally(() => working.delete(work));
  });
}

/** A domain error sent by a thread, as the one it raised. */
function domainErrorOf(refused: SentDomainError): DomainError {
  const { errors, ...rest } = refused;
  return new DomainError({ ...rest, ...(errors ? { errors } : {}) });
}

/** Requests to a thread, answered in the order the thread finishes them. */
export interface HeldThread<Body, Value> {
  send(request: Body): Promise<Value>;
  /** Waits for every request taken, then stops the thread. */
  close(): Promise<void>;
}

/**
 * A worker thread that writes to the SQLite file on a connection of its own, started at the
 * first request, and its requests sent under a hold of the main connection.
 *
 * `hold` keeps the main connection while the thread works: the main thread's own queries queue
 * behind its writes as they would behind writes on the main connection, instead of waiting for
 * SQLite's write lock in a busy loop that would stop the event loop. (Reads that must not wait
 * use the read-only connection, see `DatabaseHandle.readNow`.) One hold covers up to
 * `requestsPerHold` requests, so that the thread has the next at hand when it finishes one
 * rather than idling while the main thread hands over; the main thread's queries wait for at
 * most that many.
 */
export function heldThread<Body extends object, Value>(input: {
  script: URL;
  workerData: unknown;
  hold: <T>(work: () => Promise<T>) => Promise<T>;
  requestsPerHold?: number;
  /** What the requests are, for errors: "the batch writer". */
  name: string;
}): HeldThread<Body, Value> {
  const requestsPerHold = input.requestsPerHold ?? 2;
  let thread: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (value: Value) => void; reject: (error: Error) => void }>();
  const settle = (worker: Worker, id: number) => {
    const waiting = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) worker.unref();
    return waiting;
  };
  const start = () => {
    const worker = new Worker(input.script, { workerData: input.workerData });
    worker.on('message', (reply: ThreadReply<Value>) => {
      const waiting = settle(worker, reply.id);
      if ('value' in reply) waiting?.resolve(reply.value);
      else if ('refused' in reply) waiting?.reject(domainErrorOf(reply.refused));
      else waiting?.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    worker.on('error', (error) => {
      for (const id of [...pending.keys()]) settle(worker, id)?.reject(error);
    });
    worker.on('exit', (code) => {
      if (thread === worker) thread = undefined;
      const error = new Error(`the thread of ${input.name} stopped (exit code ${code})`);
      for (const id of [...pending.keys()]) settle(worker, id)?.reject(error);
    });
    return worker;
  };
  /** Requests sent under one hold of the main connection. */
  interface Hold {
    sent: number;
    settled: number;
    acquired: Promise<void>;
    release: () => void;
  }
  let current: Hold | undefined;
  const takeHold = (): Hold => {
    let acquire!: () => void;
    let fail!: (error: unknown) => void;
    let release!: () => void;
    const acquired = new Promise<void>((resolve, reject) => {
      acquire = resolve;
      fail = reject;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    input
      .hold(() => {
        acquire();
        return released;
      })
      .catch(fail);
    return { sent: 0, settled: 0, acquired, release };
  };
  let closed = false;
  /** Every request taken and not yet answered, waiting for a hold or on the thread. */
  const working = new Set<Promise<Value>>();
  const post = (request: Body) =>
    new Promise<Value>((resolve, reject) => {
      thread ??= start();
      const id = nextId++;
      pending.set(id, { resolve, reject });
      thread.ref();
      thread.postMessage({ id, ...request } satisfies ThreadRequest<Body>);
    });
  return {
    send(request) {
      if (closed) return Promise.reject(new Error(`${input.name} is closed`));
      if (!current || current.sent >= requestsPerHold) current = takeHold();
      const hold = current;
      hold.sent++;
      const work = hold.acquired
        .then(() => post(request))
        .finally(() => {
          working.delete(work);
          hold.settled++;
          if (hold.settled < hold.sent) return;
          if (current === hold) current = undefined;
          hold.release();
        });
      working.add(work);
      return work;
    },
    async close() {
      closed = true;
      // Every request taken is answered before the thread stops (the HTTP server takes no new ones).
      await Promise.allSettled([...working]);
      const worker = thread;
      thread = undefined;
      if (!worker) return;
      const exited = once(worker, 'exit');
      worker.postMessage('close' satisfies ThreadRequest<Body>);
      await exited;
    },
  };
}
