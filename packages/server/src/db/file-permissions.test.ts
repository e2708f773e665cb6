import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../clock.js';
import { loadConfig } from '../config.js';
import { createKeymaster } from '../runtime.js';
import { dispatch, testAdminKey } from '../test-support/server.js';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('the SQLite data directory and files', () => {
  const made: string[] = [];

  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a server on KEYMASTER_DATA_DIR=`dataDir`, writes once (so the WAL exists) and stops it. */
  async function startAndWrite(dataDir: string): Promise<void> {
    const config = loadConfig({ KEYMASTER_ADMIN_KEY: testAdminKey, KEYMASTER_DATA_DIR: dataDir });
    const keymaster = await createKeymaster({ config, clock: manualClock(0), logger: false });
    try {
      const answer = await dispatch(keymaster.app, {
        method: 'PUT',
        url: '/v1/customers/acme',
        headers: { authorization: `Bearer ${testAdminKey}` },
        payload: { name: 'Acme' },
      });
      expect(answer.statusCode, answer.body).toBe(201);
      for (const suffix of ['', '-wal', '-shm']) expect(existsSync(join(dataDir, `keymaster.db${suffix}`))).toBe(true);
      for (const suffix of ['', '-wal', '-shm']) expect(mode(join(dataDir, `keymaster.db${suffix}`))).toBe(0o600);
    } finally {
      await keymaster.close();
    }
  }

  it('creates the directory 0700 and the database, WAL and shared-memory files 0600', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keymaster-modes-'));
    made.push(root);
    const dataDir = join(root, 'var', 'data');
    await startAndWrite(dataDir);
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(root, 'var'))).toBe(0o700);
  });

  it('leaves the mode of a directory that exists already to its owner', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keymaster-modes-'));
    made.push(root);
    const dataDir = join(root, 'data');
    mkdirSync(dataDir, { mode: 0o750 });
    const before = mode(dataDir);
    await startAndWrite(dataDir);
    expect(mode(dataDir)).toBe(before);
  });
});
