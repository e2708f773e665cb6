import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  expectStatus,
  grantBody,
  monthly,
  publishCatalog,
  seedCustomer,
  uniqueKey,
} from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

/**
 * Grants and usage against a reference model small enough to be obviously right: a metered
 * feature with a plan allowance, `add` grants on top, consumption that is refused (and counts
 * nothing) past the sum, checks that change nothing, revocations that take a grant's units away
 * again. fast-check runs sequences of these through the API and compares every answer with the
 * model. KEYMASTER_MODEL_RUNS sets the sequences a dialect (default 100).
 */
const runs = Number(process.env.KEYMASTER_MODEL_RUNS ?? 100);
const allowance = 10;

interface Model {
  used: number;
  /** The active `add` grants, by id, with their units. */
  grants: { id: string; units: number }[];
}

interface Real {
  server: TestServer;
  customer: string;
  feature: string;
}

const limitOf = (model: Model) => allowance + model.grants.reduce((sum, grant) => sum + grant.units, 0);

interface Decision {
  allowed: boolean;
  limit: number | null;
  usage: number | null;
}

class Consume implements fc.AsyncCommand<Model, Real> {
  constructor(readonly quantity: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const decision = expectStatus<Decision>(
      await real.server.request({
        method: 'POST',
        url: '/v1/consume',
        body: { customer: real.customer, feature: real.feature, quantity: this.quantity },
      }),
      200,
    );
    const allowed = model.used + this.quantity <= limitOf(model);
    expect(decision.allowed, JSON.stringify(decision)).toBe(allowed);
    expect(decision.limit).toBe(limitOf(model));
    if (allowed) model.used += this.quantity;
  }
  toString = () => `consume(${this.quantity})`;
}

class Check implements fc.AsyncCommand<Model, Real> {
  constructor(readonly quantity: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const decision = expectStatus<Decision>(
      await real.server.request({
        method: 'POST',
        url: '/v1/check',
        body: { customer: real.customer, feature: real.feature, quantity: this.quantity },
      }),
      200,
    );
    expect(decision, JSON.stringify(decision)).toMatchObject({
      allowed: model.used + this.quantity <= limitOf(model),
      limit: limitOf(model),
      usage: model.used,
    });
  }
  toString = () => `check(${this.quantity})`;
}

class AddGrant implements fc.AsyncCommand<Model, Real> {
  constructor(readonly units: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const grant = expectStatus<{ id: string }>(
      await real.server.request({
        method: 'POST',
        url: `/v1/customers/${real.customer}/grants`,
        body: grantBody({ feature: real.feature, mode: 'add', limit: this.units }),
      }),
      201,
    );
    model.grants.push({ id: grant.id, units: this.units });
  }
  toString = () => `grant(+${this.units})`;
}

class Revoke implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (model: Readonly<Model>) => model.grants.length > 0;
  async run(model: Model, real: Real) {
    const [grant] = model.grants.splice(this.pick % model.grants.length, 1);
    const response = await real.server.request({ method: 'DELETE', url: `/v1/grants/${grant!.id}` });
    expect(response.statusCode, response.body).toBeLessThan(300);
  }
  toString = () => `revoke(#${this.pick})`;
}

/** Reads the entitlement: what it says of the limit and usage is the model's. */
class Read implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real) {
    const page = expectStatus<{ entitlements: { feature: string; limit: number | null; usage: number | null }[] }>(
      await real.server.request({ method: 'GET', url: `/v1/customers/${real.customer}/entitlements` }),
      200,
    );
    expect(page.entitlements.find((e) => e.feature === real.feature)).toMatchObject({
      limit: limitOf(model),
      usage: model.used,
    });
  }
  toString = () => 'read';
}

const commands = [
  fc.integer({ min: 1, max: 6 }).map((q) => new Consume(q)),
  fc.integer({ min: 0, max: 8 }).map((q) => new Check(q)),
  fc.integer({ min: 1, max: 5 }).map((units) => new AddGrant(units)),
  fc.nat().map((pick) => new Revoke(pick)),
  fc.constant(new Read()),
];

describeEachDialect('grants and usage, against a reference model', (dialect) => {
  let server: TestServer;
  const feature = 'model_calls';
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await publishCatalog(server, {
      features: [{ key: feature, name: 'Calls', type: 'metered', unit: 'calls' }],
      plans: [
        {
          key: 'model_plan',
          name: 'Model plan',
          price: monthly(1000),
          entitlements: [{ feature, limit: allowance, reset: 'month' }],
        },
      ],
    });
  });
  afterAll(() => server.close());

  it('answers every check, consumption, grant and revocation as the model does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 30 }), async (sequence) => {
        // A fresh customer a sequence: the model starts empty.
        const { id } = await seedCustomer(server, { id: uniqueKey('cus_model'), plan: 'model_plan' });
        await fc.asyncModelRun(
          () => ({ model: { used: 0, grants: [] }, real: { server, customer: id, feature } }),
          sequence,
        );
      }),
      { numRuns: runs },
    );
  }, 120_000);
});
