import { type ApiKeyScope, ApiKeyScopes } from '@keymaster/contract';
import { invalid } from '@keymaster/core';
import type { Command } from 'commander';
import { systemClock } from '../../clock.js';
import type { DatabaseHandle } from '../../db/database.js';
import { createApiKeyService, toApiKey } from './service.js';

/** `--scope a --scope b,c`: every scope named, each checked against the list. */
function scopesFrom(values: readonly string[]): ApiKeyScope[] {
  const scopes = [...new Set(values.flatMap((value) => value.split(',')).map((scope) => scope.trim()))];
  const unknown = scopes.filter((scope) => !(ApiKeyScopes as readonly string[]).includes(scope));
  if (unknown.length > 0 || scopes.length === 0) {
    throw invalid([
      {
        path: '--scope',
        message: `${unknown.length > 0 ? `unknown scope "${unknown[0]}"` : 'name at least one scope'}; the scopes are ${ApiKeyScopes.join(', ')}`,
      },
    ]);
  }
  return scopes as ApiKeyScope[];
}

/** A time given as ISO-8601 or as a duration from now (`30m`, `24h`, `7d`, `0` for now). */
function instantFrom(value: string, path: string): number {
  const duration = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  if (duration) {
    const unit = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      duration[2] as '' | 's' | 'm' | 'h' | 'd'
    ];
    return systemClock.now() + Number(duration[1]) * unit;
  }
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw invalid([{ path, message: 'must be an ISO-8601 time or a duration such as 24h' }]);
  return at;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `keymaster keys …`: secret API keys (docs/security.md). */
export function registerKeyCommands(input: {
  program: Command;
  withDatabase: <T>(work: (database: DatabaseHandle) => Promise<T>) => Promise<T>;
}): void {
  const { program, withDatabase } = input;
  const service = (database: DatabaseHandle) =>
    createApiKeyService({ db: database.db, clock: systemClock, adminKey: undefined });
  const keys = program.command('keys').description('Manage secret API keys (docs/security.md).');

  keys
    .command('create')
    .description('Create a secret key; the secret is printed once.')
    .option('--name <name>', 'what the key is for')
    .option('--scope <scope>', `what it may do, repeatable or comma-separated: ${ApiKeyScopes.join(', ')}`, collect, [])
    .option('--expires <when>', 'when it stops working: an ISO-8601 time or a duration such as 90d')
    .action(async (options: { name?: string; scope: string[]; expires?: string }) => {
      const scopes = scopesFrom(options.scope);
      const expiresAt = options.expires === undefined ? undefined : instantFrom(options.expires, '--expires');
      await withDatabase(async (database) => {
        const { key, secret } = await service(database).create({ name: options.name, scopes, expiresAt });
        console.log(
          `Created ${key.id} (${key.prefix}…) with ${scopes.join(', ')}. Store the secret now; it is not shown again:\n\n  ${secret}\n`,
        );
      });
    });

  keys
    .command('list')
    .description('List keys by prefix, with their scopes.')
    .action(async () => {
      await withDatabase(async (database) => {
        const rows = await service(database).list({ after: undefined, limit: 1000 });
        if (rows.length === 0) console.log('No keys.');
        for (const key of rows.map(toApiKey)) {
          const state = key.revoked_at
            ? `revoked ${key.revoked_at}`
            : `${key.expires_at ? `expires ${key.expires_at}, ` : ''}last used ${key.last_used_at ?? 'never'}`;
          console.log(
            `${key.id}  ${key.prefix}…  ${key.name ?? ''}  [${key.scopes.join(' ')}]  created ${key.created_at}  ${state}`,
          );
        }
      });
    });

  keys
    .command('roll')
    .description('Replace a key with a new secret; the old one keeps working until --previous-expires.')
    .argument('<id-or-prefix>')
    .option('--previous-expires <when>', 'when the old secret stops: an ISO-8601 time or a duration (default 1h)')
    .action(async (idOrPrefix: string, options: { previousExpires?: string }) => {
      const previousExpiresAt =
        options.previousExpires === undefined ? undefined : instantFrom(options.previousExpires, '--previous-expires');
      await withDatabase(async (database) => {
        const { key, secret, previous } = await service(database).roll({ idOrPrefix, previousExpiresAt });
        console.log(
          `Rolled ${previous.id}: it stops working at ${new Date(previous.expires_at!).toISOString()}.\n` +
            `New key ${key.id} (${key.prefix}…). Store the secret now; it is not shown again:\n\n  ${secret}\n`,
        );
      });
    });

  keys
    .command('revoke')
    .description('Revoke a key by id or prefix; every server refuses it within a second.')
    .argument('<id-or-prefix>')
    .action(async (idOrPrefix: string) => {
      await withDatabase(async (database) => {
        const key = await service(database).revoke(idOrPrefix);
        console.log(`Revoked ${key.id} (${key.prefix}…).`);
      });
    });
}
