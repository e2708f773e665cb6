import { createServer, type Server, type Socket } from 'node:net';
import type { Keymaster } from '@keymaster/sdk';
import {
  type Client,
  type EvaluationDetails,
  type FlagValue,
  type Hook,
  type HookContext,
  type JsonValue,
  OpenFeature,
} from '@openfeature/server-sdk';
import { expect } from 'vitest';
import { startFaultProxy } from '../../../sdk/src/test-support/live-server.js';
import { KeymasterProvider } from '../keymaster-provider.js';
import type { Step } from './gherkin.js';

/** What the steps of every scenario share: the real server the suite's flags were imported into. */
export interface Harness {
  url: string;
  apiKey: string;
  /** One SDK client for the stable providers, so the definitions are fetched once per scenario, not per client. */
  km: Keymaster;
}

type FlagType = 'Boolean' | 'String' | 'Integer' | 'Float' | 'Object';

/** One scenario's state, built by its Given steps and read by its Then steps. */
interface World {
  harness: Harness;
  client: Client | null;
  flag: { type: FlagType; key: string; fallback: FlagValue } | null;
  context: Record<string, JsonValue>;
  /** A deep copy of the context as the scenario built it, for the immutability check. */
  contextCopy: string | null;
  details: EvaluationDetails<FlagValue> | null;
  hookCalls: { stage: 'before' | 'after' | 'error' | 'finally'; details?: EvaluationDetails<FlagValue> }[];
  optionHooks: { order: string[]; hooks: Hook[] } | null;
  pending: { promise: Promise<EvaluationDetails<FlagValue>>; settledSynchronously: boolean } | null;
  cleanup: (() => Promise<void>)[];
}

let domains = 0;

/** Registers `provider` under a fresh domain and makes it the scenario's client. */
async function useProvider(world: World, provider: KeymasterProvider, wait: boolean): Promise<void> {
  const domain = `conformance-${++domains}`;
  world.cleanup.push(() => provider.onClose());
  if (wait) await OpenFeature.setProviderAndWait(domain, provider).catch(() => undefined);
  else OpenFeature.setProvider(domain, provider);
  world.client = OpenFeature.getClient(domain);
}

/** A TCP server that accepts connections and never answers: the provider's initialize stays in flight. */
async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on: bound, then closed again. */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function eventually(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Provider states built from real conditions, never a fake provider: `stable` is a provider over
 * the suite's server; `not ready` one whose server accepts the connection and never answers;
 * `error` one whose server cannot be reached; `fatal` one whose API key the real server refuses;
 * `stale` one whose stream was cut after it came up.
 */
async function providerIn(world: World, status: string): Promise<void> {
  const { harness } = world;
  switch (status) {
    case 'stable':
      return useProvider(world, new KeymasterProvider({ client: harness.km }), true);
    case 'not ready': {
      const silent = await startSilentServer();
      world.cleanup.push(() => silent.close());
      const provider = new KeymasterProvider({
        baseUrl: silent.url,
        apiKey: harness.apiKey,
        stream: false,
        timeoutMs: 60_000,
      });
      return useProvider(world, provider, false);
    }
    case 'error': {
      const baseUrl = `http://127.0.0.1:${await unusedPort()}`;
      return useProvider(world, new KeymasterProvider({ baseUrl, apiKey: harness.apiKey, stream: false }), true);
    }
    case 'fatal':
      return useProvider(
        world,
        new KeymasterProvider({ baseUrl: harness.url, apiKey: 'km_sk_refused', stream: false }),
        true,
      );
    case 'stale': {
      const proxy = await startFaultProxy(harness.url);
      world.cleanup.push(() => proxy.close());
      const provider = new KeymasterProvider({ baseUrl: proxy.url, apiKey: harness.apiKey, pollIntervalMs: 60_000 });
      await useProvider(world, provider, true);
      const client = world.client;
      await eventually(() => proxy.log.some((r) => r.path.startsWith('/v1/stream')));
      // Let the stream come up (READY stays), then cut the server off: the stream goes down.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await proxy.close();
      await eventually(() => client?.providerStatus === 'STALE');
      return;
    }
    default:
      throw new Error(`unknown provider status "${status}"`);
  }
}

function parseTyped(type: string, raw: string): JsonValue {
  switch (type.toLowerCase()) {
    case 'boolean':
      return raw === 'true';
    case 'integer':
      return Number.parseInt(raw, 10);
    case 'float':
    case 'double':
      return Number.parseFloat(raw);
    case 'object':
      return JSON.parse(raw.replaceAll('\\"', '"')) as JsonValue;
    default:
      return raw;
  }
}

function flagType(raw: string): FlagType {
  const type = (raw[0]?.toUpperCase() ?? '') + raw.slice(1);
  if (!['Boolean', 'String', 'Integer', 'Float', 'Object'].includes(type)) throw new Error(`unknown flag type ${raw}`);
  return type as FlagType;
}

function evaluate(world: World, options?: { hooks: Hook[] }): Promise<EvaluationDetails<FlagValue>> {
  const { client, flag } = world;
  if (!client || !flag) throw new Error('no client or flag: a Given step is missing');
  const context = world.context;
  switch (flag.type) {
    case 'Boolean':
      return client.getBooleanDetails(flag.key, flag.fallback as boolean, context, options);
    case 'String':
      return client.getStringDetails(flag.key, flag.fallback as string, context, options);
    case 'Integer':
    case 'Float':
      return client.getNumberDetails(flag.key, flag.fallback as number, context, options);
    case 'Object':
      return client.getObjectDetails(flag.key, flag.fallback as JsonValue, context, options);
  }
}

function details(world: World): EvaluationDetails<FlagValue> {
  if (!world.details) throw new Error('the flag was not evaluated');
  return world.details;
}

/** The hook that records what the OpenFeature SDK hands every stage. */
function recordingHook(world: World): Hook {
  return {
    before: () => {
      world.hookCalls.push({ stage: 'before' });
    },
    after: (_context: HookContext, evaluation: EvaluationDetails<FlagValue>) => {
      world.hookCalls.push({ stage: 'after', details: evaluation });
    },
    error: () => {
      world.hookCalls.push({ stage: 'error' });
    },
    finally: (_context: HookContext, evaluation: EvaluationDetails<FlagValue>) => {
      world.hookCalls.push({ stage: 'finally', details: evaluation });
    },
  };
}

type StepFn = (world: World, args: string[], table: string[][] | null) => void | Promise<void>;

/** Every step of the suites, matched by regular expression (one file, as cucumber step definitions). */
const steps: [RegExp, StepFn][] = [
  [/^a stable provider$|^an evaluator$/, (world) => providerIn(world, 'stable')],
  [/^an? (stable|not ready|error|fatal|stale) provider$/, (world, [status]) => providerIn(world, status!)],
  [
    /^an? (\w+)-flag with key "([^"]*)" and a fallback value "(.*)"$/,
    (world, [type, key, fallback]) => {
      const t = flagType(type!);
      world.flag = { type: t, key: key!, fallback: parseTyped(t, fallback!) as FlagValue };
    },
  ],
  [
    /^a context containing a key "([^"]*)", with type "([^"]*)" and with value "(.*)"$/,
    (world, [key, type, value]) => {
      world.context[key!] = parseTyped(type!, value!);
    },
  ],
  [
    /^a context containing a key "([^"]*)" with null value$/,
    (world, [key]) => {
      world.context[key!] = null;
    },
  ],
  [
    /^a context containing a targeting key with value "(.*)"$/,
    (world, [value]) => {
      world.context.targetingKey = value!;
    },
  ],
  [
    /^a context containing a nested property with outer key "([^"]*)" and inner key "([^"]*)", with value "(.*)"$/,
    (world, [outer, inner, value]) => {
      const current = world.context[outer!];
      const object = typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {};
      world.context[outer!] = { ...object, [inner!]: value! };
    },
  ],
  [
    /^an evaluation context with modifiable data$/,
    (world) => {
      world.context = { email: 'someone@example.com', tags: ['a', 'b'], nested: { level: 1 } };
      world.contextCopy = JSON.stringify(world.context);
    },
  ],
  [
    /^a client with added hook$/,
    (world) => {
      world.client?.addHooks(recordingHook(world));
    },
  ],
  [
    /^evaluation options containing specific hooks$/,
    (world) => {
      const order: string[] = [];
      const named = (name: string): Hook => ({
        before: () => {
          order.push(`${name}.before`);
        },
        after: () => {
          order.push(`${name}.after`);
        },
        finally: () => {
          order.push(`${name}.finally`);
        },
      });
      world.optionHooks = { order, hooks: [named('first'), named('second')] };
    },
  ],
  [
    /^the flag was evaluated with details$/,
    async (world) => {
      world.details = await evaluate(world);
    },
  ],
  [
    /^the flag was evaluated with details using the evaluation options$/,
    async (world) => {
      world.details = await evaluate(world, { hooks: world.optionHooks?.hooks ?? [] });
    },
  ],
  [
    /^the flag was evaluated with details asynchronously$/,
    async (world) => {
      let settled = false;
      const promise = evaluate(world).finally(() => {
        settled = true;
      });
      world.pending = { promise, settledSynchronously: settled };
      world.details = await promise;
    },
  ],
  [
    /^the evaluation should complete without blocking$/,
    (world) => {
      expect(world.pending?.promise).toBeInstanceOf(Promise);
      expect(world.pending?.settledSynchronously).toBe(false);
    },
  ],
  [
    /^the resolved details value should be "(.*)"$/,
    (world, [value]) => {
      const type = world.flag?.type ?? 'String';
      expect(details(world).value).toEqual(parseTyped(type, value!));
    },
  ],
  [
    /^the reason should be "([^"]*)"$/,
    (world, [reason]) => {
      expect(details(world).reason).toBe(reason);
    },
  ],
  [
    /^the error-code should be "([^"]*)"$/,
    (world, [code]) => {
      expect(details(world).errorCode).toBe(code);
    },
  ],
  [
    /^the variant should be "([^"]*)"$/,
    (world, [variant]) => {
      expect(details(world).variant).toBe(variant);
    },
  ],
  [
    /^the flag key should be "([^"]*)"$/,
    (world, [key]) => {
      expect(details(world).flagKey).toBe(key);
    },
  ],
  [
    /^the resolved metadata should contain$/,
    (world, _args, table) => {
      const expected = Object.fromEntries(
        (table ?? []).slice(1).map(([key, type, value]) => [key, parseTyped(type!, value!)]),
      );
      expect(details(world).flagMetadata).toMatchObject(expected);
    },
  ],
  [
    /^the resolved metadata is empty$/,
    (world) => {
      expect(details(world).flagMetadata).toEqual({});
    },
  ],
  [
    /^the provider status should be "([^"]*)"$/,
    (world, [status]) => {
      expect(world.client?.providerStatus).toBe(status);
    },
  ],
  [
    /^the "([^"]*)" hook should have been executed$/,
    (world, [stage]) => {
      expect(world.hookCalls.map((call) => call.stage)).toContain(stage);
    },
  ],
  [
    /^the "([^"]*)" hooks should be called with evaluation details$/,
    (world, [stages], table) => {
      for (const stage of stages!.split(',').map((s) => s.trim())) {
        const call = world.hookCalls.find((c) => c.stage === stage);
        expect(call?.details, stage).toBeDefined();
        const got = call?.details as EvaluationDetails<FlagValue>;
        const fields: Record<string, unknown> = {
          flag_key: got.flagKey,
          value: got.value,
          variant: got.variant,
          reason: got.reason,
          error_code: got.errorCode,
        };
        for (const [type, key, raw] of (table ?? []).slice(1)) {
          const expected = raw === 'null' ? undefined : parseTyped(type!, raw!);
          expect(fields[key!] ?? undefined, `${stage} ${key}`).toEqual(expected);
        }
      }
    },
  ],
  [
    /^the specified hooks should execute during evaluation$/,
    (world) => {
      const order = world.optionHooks?.order ?? [];
      for (const stage of ['first.before', 'second.before', 'first.after', 'second.after'])
        expect(order).toContain(stage);
    },
  ],
  [
    /^the hook order should be maintained$/,
    (world) => {
      // Spec 4.4.2: before hooks run in the order given, after and finally hooks in reverse.
      expect(world.optionHooks?.order).toEqual([
        'first.before',
        'second.before',
        'second.after',
        'first.after',
        'second.finally',
        'first.finally',
      ]);
    },
  ],
  [
    /^the original evaluation context should remain unmodified$/,
    (world) => {
      expect(JSON.stringify(world.context)).toBe(world.contextCopy);
    },
  ],
  [
    /^the evaluation details should be immutable$/,
    async (world) => {
      const first = details(world);
      expect(Object.isFrozen(first.flagMetadata)).toBe(true);
      // Whatever a caller does with what it got back, the next evaluation is unaffected.
      (first as { value: FlagValue }).value = 'tampered';
      const again = await evaluate(world);
      expect(again.value).not.toBe('tampered');
    },
  ],
];

/** Runs one scenario's steps in order against a fresh world; cleans up whatever its Givens started. */
export async function runScenario(input: { harness: Harness; steps: Step[] }): Promise<void> {
  const world: World = {
    harness: input.harness,
    client: null,
    flag: null,
    context: {},
    contextCopy: null,
    details: null,
    hookCalls: [],
    optionHooks: null,
    pending: null,
    cleanup: [],
  };
  try {
    for (const step of input.steps) {
      const match = steps.map(([pattern, fn]) => [pattern.exec(step.text), fn] as const).find(([m]) => m !== null);
      if (!match) throw new Error(`no step definition for "${step.text}"`);
      const [m, fn] = match;
      await fn(world, (m ?? []).slice(1), step.table);
    }
  } finally {
    for (const clean of world.cleanup.reverse()) await clean().catch(() => undefined);
  }
}
