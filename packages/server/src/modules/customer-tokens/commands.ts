import type { Command } from 'commander';
import { systemClock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { DatabaseHandle } from '../../db/database.js';
import { secretsAtRest } from '../../secrets-at-rest.js';
import { rotateStoredTokenSecret } from './secret.js';

/** `keymaster token-secret …`: the secret customer and portal tokens are signed with (docs/security.md). */
export function registerTokenSecretCommands(input: {
  program: Command;
  config: () => Config;
  withDatabase: <T>(work: (database: DatabaseHandle) => Promise<T>) => Promise<T>;
}): void {
  const { program, config, withDatabase } = input;
  const tokenSecret = program
    .command('token-secret')
    .description('The secret customer tokens and portal links are signed with (docs/security.md).');

  tokenSecret
    .command('rotate')
    .description(
      'Replace the token secret kept in the database. Restart every server afterwards: they sign with the new ' +
        'one, and tokens signed before keep working until they expire.',
    )
    .action(async () => {
      const settings = config();
      if (settings.tokenSecret !== undefined) {
        throw new Error(
          'KEYMASTER_TOKEN_SECRET is set, so no token secret is kept in the database: rotate it by moving it to ' +
            'KEYMASTER_TOKEN_SECRET_PREVIOUS, setting a new KEYMASTER_TOKEN_SECRET, and restarting every server.',
        );
      }
      const rotated = await withDatabase(({ db }) =>
        rotateStoredTokenSecret({ db, clock: systemClock, secrets: secretsAtRest(settings.encryption) }),
      );
      console.log(
        `New token secret ${rotated.current}${rotated.previous ? ` (replaces ${rotated.previous}, which still verifies the tokens it signed)` : ''}.\n` +
          'Restart every server: each signs with the new secret from its next start.',
      );
    });
}
