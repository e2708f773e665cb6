import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { systemClock } from '../../clock.js';
import type { DatabaseHandle } from '../../db/database.js';
import { type Role, Roles } from './permissions.js';
import { createUserService, toApiUser } from './service.js';

/** The first line of standard input: a password piped in never shows in a process list or history. */
async function firstLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return '';
}

/** `keymaster users …`: console users (docs/console.md). */
export function registerUserCommands(input: {
  program: Command;
  withDatabase: <T>(work: (database: DatabaseHandle) => Promise<T>) => Promise<T>;
}): void {
  const { program, withDatabase } = input;
  const users = program.command('users').description('Console users and their roles (docs/console.md).');

  users
    .command('create')
    .description('Create a console user; the password is read from the first line of standard input.')
    .requiredOption('--email <email>', 'their sign-in address')
    .requiredOption('--role <role>', `one of ${Roles.join(', ')}`)
    .option('--name <name>', 'their name')
    .action(async (options: { email: string; role: string; name?: string }) => {
      const password = await firstLine();
      await withDatabase(async ({ db }) => {
        const user = await createUserService({ db, clock: systemClock }).create({
          email: options.email,
          name: options.name,
          role: options.role as Role,
          password,
        });
        console.log(`Created ${user.id} (${user.email}, ${user.role}).`);
      });
    });

  users
    .command('list')
    .description('List console users with their roles.')
    .action(async () => {
      await withDatabase(async ({ db }) => {
        const rows = await createUserService({ db, clock: systemClock }).list({ after: undefined, limit: 10_000 });
        if (rows.length === 0) console.log('No users.');
        for (const user of rows.map(toApiUser)) {
          console.log(`${user.id}  ${user.email}  ${user.role}  ${user.name ?? ''}  created ${user.created_at}`);
        }
      });
    });
}
