import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.ts';
import '../datasets/index.ts';
import { describeSystemError, EXIT_CODES, isUserError } from '../util/errors.ts';

/** Entry point of the `ben` CLI: parses, validates and calls into the library. */
export async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('ben')
    .option('backend', {
      type: 'string',
      describe: 'Force a compute backend (tensorflow-gpu | tensorflow | wasm | cpu); also BEN_BACKEND',
      global: true,
    })
    .strict()
    .demandCommand(1, 'Name a command; `ben --help` lists them.')
    .help()
    .fail((msg, err, y) => {
      if (err) throw err;
      console.error(y.help() && msg);
      console.error('Run `ben --help` for usage.');
      process.exit(EXIT_CODES.user);
    });
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

/**
 * The one place a failure becomes an exit code (README, "Exit codes"): user, data and numerical
 * errors and the environment's file-system errors print one line; anything else is a bug and
 * keeps its stack trace (`BEN_DEBUG=1` shows the trace of every error).
 */
function exitOn(e: unknown): never {
  const debug = process.env.BEN_DEBUG === '1';
  if (isUserError(e)) {
    console.error(`error: ${e.message}`);
    if (debug) console.error(e.stack);
    process.exit(typeof e.exitCode === 'number' ? e.exitCode : EXIT_CODES.user);
  }
  const sys = describeSystemError(e);
  if (sys) {
    console.error(`error: ${sys.message}`);
    if (debug) console.error((e as Error).stack);
    process.exit(sys.exitCode);
  }
  console.error(e);
  process.exit(EXIT_CODES.internal);
}

// A closed pipe (`ben data info ... | head -1`) ends the command quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT_CODES.ok);
    exitOn(e);
  });
}

main(hideBin(process.argv)).catch(exitOn);
