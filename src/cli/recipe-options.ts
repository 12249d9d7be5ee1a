import type { Argv } from 'yargs';

/** Flags shared by the commands that execute a recipe (`ben run`, `ben pretrain`). */
export interface RecipeRunArgs {
  backend?: string;
  recipe: string;
  set: string[];
  'run-dir'?: string;
  resume?: boolean;
  overwrite?: boolean;
  quiet?: boolean;
  json?: boolean;
}

/** Adds `--set`, `--run-dir`, `--resume`, `--quiet`, `--json` to a recipe command. */
export function withRecipeRunOptions<T>(y: Argv<T>, resumeHelp: string): Argv<T> {
  return y
    .option('set', { type: 'string', array: true, default: [] as string[], describe: 'Override a recipe field: --set training.steps=50 (value parsed as YAML)' })
    .option('run-dir', { type: 'string', describe: 'Run directory (default output.dir, else runs/<recipe name>)' })
    .option('resume', { type: 'boolean', describe: resumeHelp })
    .option('overwrite', { type: 'boolean', describe: 'Replace an earlier run in the run directory (it is kept until this run ends)' })
    .conflicts('resume', 'overwrite')
    .option('quiet', { type: 'boolean', describe: 'No progress output' })
    .option('json', { type: 'boolean', describe: 'Print the result as JSON' }) as unknown as Argv<T>;
}
