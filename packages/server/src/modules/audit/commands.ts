import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { AuditCheckpoint } from '@keymaster/contract';
import { type Command, Option } from 'commander';
import { systemClock } from '../../clock.js';
import type { Config } from '../../config.js';
import { csvLine } from '../../csv.js';
import type { openDatabase } from '../../db/database.js';
import { bodyValidator } from '../../http/validation.js';
import { checkCheckpoint, makeCheckpoint, toApiCheckpoint } from './checkpoints.js';
import { auditExportColumns, exportAudit } from './export.js';
import { parsePublicKey } from './keys.js';
import { verifyAudit } from './trail.js';

type Database = ReturnType<typeof openDatabase>;

/** A value given on the command line, or the file it names. */
function inlineOrFile(value: string): string {
  return existsSync(value) ? readFileSync(value, 'utf8') : value;
}

function fail(message: string): never {
  throw new Error(message);
}

/** `keymaster audit …`: verify, checkpoint, export. */
export function registerAuditCommands(input: {
  program: Command;
  config: () => Config;
  withDatabase: <T>(work: (database: Database) => Promise<T>) => Promise<T>;
}): void {
  const { program, config, withDatabase } = input;
  const audit = program.command('audit').description('The tamper-evident audit trail (docs/audit.md).');

  audit
    .command('verify')
    .description(
      'Recomputes every link of the audit chain, from the latest retention checkpoint once rows were pruned (its ' +
        'signature checked); exits 0 when all hold, 1 naming the first row (or the checkpoint) edited, deleted or ' +
        'moved. With --checkpoint, also that the chain still holds the checkpoint’s row with its hash, and that its ' +
        'signature holds.',
    )
    .option('--checkpoint <file or json>', 'a checkpoint kept from `keymaster audit checkpoint` (a file, or its JSON)')
    .option(
      '--public-key <file or key>',
      'the key to check signatures with (the --checkpoint’s, and the retention checkpoint’s the chain starts from): ' +
        'PEM, or SPKI DER in base64 (default: from KEYMASTER_AUDIT_SIGNING_KEY)',
    )
    .action(async (options: { checkpoint?: string; publicKey?: string }) => {
      if (options.checkpoint !== undefined) {
        await verifyCheckpoint({ checkpoint: options.checkpoint, publicKey: options.publicKey });
        return;
      }
      const publicKey = publicKeyOption(options.publicKey);
      const verdict = await withDatabase((database) => verifyAudit(database.db, { publicKey }));
      if (verdict.ok) {
        const signature =
          verdict.fromSignature === 'valid'
            ? 'signature valid'
            : verdict.fromSignature === 'own_key'
              ? 'signature holds under the key it names; give --public-key or set KEYMASTER_AUDIT_SIGNING_KEY to check it is yours'
              : 'unsigned';
        const from = verdict.from > 0 ? ` from the retention checkpoint at seq ${verdict.from} (${signature})` : '';
        console.log(`audit trail verified: ${verdict.count} rows${from}, head ${verdict.head}`);
        return;
      }
      console.error(
        `audit trail broken at seq ${verdict.seq}: ${verdict.reason} (${verdict.checked} rows verified before it)`,
      );
      process.exitCode = 1;
    });

  /** The key signatures are checked with: --public-key, else the public half of KEYMASTER_AUDIT_SIGNING_KEY. */
  function publicKeyOption(option: string | undefined): KeyObject | undefined {
    if (option === undefined) {
      const signingKey = config().audit.signingKey;
      return signingKey ? createPublicKey(signingKey) : undefined;
    }
    try {
      return parsePublicKey(inlineOrFile(option));
    } catch (error) {
      fail(`--public-key must be an Ed25519 public key (PEM, or SPKI DER in base64): ${(error as Error).message}`);
    }
  }

  async function verifyCheckpoint(options: { checkpoint: string; publicKey: string | undefined }): Promise<void> {
    let document: unknown;
    try {
      document = JSON.parse(inlineOrFile(options.checkpoint));
    } catch {
      fail('--checkpoint must be a checkpoint file, or its JSON');
    }
    const validated = bodyValidator(AuditCheckpoint)(document);
    if (validated.error) fail('--checkpoint is not a checkpoint `keymaster audit checkpoint` printed');
    const checkpoint = document as AuditCheckpoint;
    const publicKey = publicKeyOption(options.publicKey);
    const verdict = await withDatabase((database) => checkCheckpoint({ db: database.db, checkpoint, publicKey }));
    if (verdict.ok) {
      const signature = verdict.signature === 'valid' ? 'signature valid' : 'unsigned';
      console.log(`checkpoint at seq ${checkpoint.seq} holds (${signature}); the audit trail verifies`);
      return;
    }
    console.error(`checkpoint at seq ${checkpoint.seq} does not hold:`);
    for (const problem of verdict.problems) console.error(`  - ${problem}`);
    process.exitCode = 1;
  }

  audit
    .command('checkpoint')
    .description(
      'Verifies the chain and prints its head as a checkpoint (JSON: seq, hash, count, time), signed with ' +
        'KEYMASTER_AUDIT_SIGNING_KEY when set; also stored. Keep the output outside the database.',
    )
    .action(async () => {
      const settings = config();
      const row = await withDatabase((database) =>
        makeCheckpoint({ db: database.db, now: systemClock.now(), signingKey: settings.audit.signingKey }),
      );
      console.log(JSON.stringify(toApiCheckpoint(row), null, 2));
      if (row.signature === null) console.error('unsigned: set KEYMASTER_AUDIT_SIGNING_KEY to sign checkpoints');
    });

  audit
    .command('export')
    .description(
      'Prints the audit rows in seq order, every column, as NDJSON (one row per line) or CSV with a header; ' +
        'without --from and --to, the whole trail.',
    )
    .option('--from <time>', 'ISO-8601 start')
    .option('--to <time>', 'ISO-8601 end, exclusive')
    .addOption(new Option('--format <format>', 'output').choices(['ndjson', 'csv']).default('ndjson'))
    .action(async (options: { from?: string; to?: string; format: 'ndjson' | 'csv' }) => {
      const time = (name: string, value: string | undefined) => {
        if (value === undefined) return undefined;
        const parsed = Date.parse(value);
        if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(parsed)) fail(`--${name} must be an ISO-8601 time`);
        return parsed;
      };
      const range = { from: time('from', options.from), to: time('to', options.to) };
      await withDatabase(async (database) => {
        if (options.format === 'csv') console.log(csvLine(auditExportColumns));
        for await (const row of exportAudit(database.db, range)) {
          if (options.format === 'csv') {
            console.log(csvLine(auditExportColumns.map((column) => (row[column] === null ? '' : String(row[column])))));
          } else {
            const data = row.data === null ? null : JSON.parse(String(row.data));
            console.log(JSON.stringify({ ...row, data }));
          }
        }
      });
    });
}
