import { DomainError } from '@keymaster/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { formatCatalogFile, parseCatalogFile } from './catalog-file.js';
import { createCatalogService } from './service.js';

describeEachDialect('catalog file: default variant and flag metadata', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  it('apply stores them, export gives them back, a file without them clears them', async () => {
    const catalog = createCatalogService({ db: server.keymaster.database.db, clock: server.clock });
    const feature = {
      key: 'darkMode',
      name: 'Dark mode',
      type: 'boolean' as const,
      default_variant: 'off',
      metadata: { owner: 'design', rollout: 0.5, internal: false },
    };
    const applied = await catalog.apply({ features: [feature], plans: [] });
    expect(applied.changes).toEqual([{ kind: 'feature', key: 'darkMode', action: 'create', fields: [] }]);
    const exported = await catalog.export();
    expect(exported.features?.find((f) => f.key === 'darkMode')).toMatchObject(feature);
    // Through the YAML file as `catalog export` / `catalog apply` write and read it.
    const text = formatCatalogFile({ catalog: exported, format: 'yaml' });
    expect((await catalog.plan(parseCatalogFile({ text, name: 'catalog.yaml' }))).changes).toEqual([]);
    const { default_variant: _d, metadata: _m, ...bare } = feature;
    const cleared = await catalog.apply({ features: [bare], plans: [] });
    expect(cleared.changes).toEqual([
      { kind: 'feature', key: 'darkMode', action: 'update', fields: ['default_variant', 'metadata'] },
    ]);
    expect((await catalog.export()).features?.find((f) => f.key === 'darkMode')).toEqual({ ...bare, status: 'active' });
  });
});

describeEachDialect('catalog file: targeting rules', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  it('apply refuses a rule that would not evaluate, naming where, and stores nothing of the file', async () => {
    const catalog = createCatalogService({ db: server.keymaster.database.db, clock: server.clock });
    const good = {
      key: 'beta',
      name: 'Beta',
      type: 'boolean' as const,
      targeting: { if: [{ var: 'beta' }, 'on', null] },
    };
    for (const targeting of ['x', { if: [{ '==': [{ var: 'tier' }] }, 'on', null] }]) {
      const bad = { key: 'broken', name: 'Broken', type: 'boolean' as const, targeting };
      const error = await catalog.apply({ features: [good, bad], plans: [] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DomainError);
      expect((error as DomainError).errors?.[0]?.path).toMatch(/^\/targeting/);
      expect((await catalog.export()).features).toEqual([]);
    }
    expect((await catalog.apply({ features: [good], plans: [] })).changes).toHaveLength(1);
  });
});
