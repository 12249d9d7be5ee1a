import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.ts';
import { isUserError } from '../util/errors.ts';

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
      process.exit(2);
    });
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch((e: unknown) => {
  if (isUserError(e)) {
    console.error(`error: ${e.message}`);
    process.exit(e.exitCode);
  }
  console.error(e);
  process.exit(1);
});
