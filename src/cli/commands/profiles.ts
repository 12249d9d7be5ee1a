import type { CommandModule } from 'yargs';
import { parseRowFilter } from '../../evaluation/map-presets.ts';
import { parseColumnList } from '../../tables/profile-table.ts';
import { AGGREGATE_METHODS, WELL_COLUMNS, type AggregateMethod } from '../../profiles/aggregate.ts';
import { CORRECTION_METHODS, describeCorrections, groupingOf } from '../../profiles/correct.ts';
import { parseCorrectionOptions } from '../../profiles/correction.ts';
import { parsePlateList } from '../../embedding/shard.ts';
import { profilesToParquet } from '../../profiles/run.ts';
import type { ProfileStep } from '../../profiles/profiles.ts';
import { UserError } from '../../util/errors.ts';

interface ProfilesArgs {
  table: string;
  plates?: string[];
  out: string;
  aggregate: string;
  'aggregate-by'?: string;
  normalize: string;
  plate?: string;
  batch?: string;
  control?: string;
  'normalize-on'?: string;
  'correction-option'?: string[];
  epsilon: number;
  consensus?: string;
  'consensus-method': string;
  'drop-constant': boolean;
  'drop-nan': boolean;
  json?: boolean;
}

function choice<T extends string>(v: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new UserError(`--${flag} "${v}": choose one of ${allowed.join(', ')}.`);
  return v as T;
}

/** One line per recorded step. */
export function describeStep(s: ProfileStep): string {
  if (s.step === 'correct') {
    const on = s.fitOn === 'controls' ? `controls ${s.controls?.column}=${s.controls?.value}` : 'all wells';
    // Steps recorded before corrections described themselves.
    const extra = s.summary ?? (s.method === 'tvn' ? `${s.components} components, aligned per ${s.batch?.join('+')} (${s.batches} batches)` : `${s.zeroScale} zero-scale (group, feature) pairs`);
    const where = groupingOf(s.method) === 'between-batches' ? '' : s.groupBy.length ? `per ${s.groupBy.join('+')} (${s.groups} groups) ` : 'pooled over all rows, ';
    return `correct: ${s.method} ${where}fitted on ${on} (${s.fitRows} rows), ${extra}`;
  }
  return `${s.step}: ${s.method} by ${s.by.join('+')}, ${s.rowsIn} -> ${s.rowsOut} rows`;
}

/** `ben profiles <table> --out FILE.parquet`: aggregate to wells, correct per plate, optional consensus. */
export const profilesCommand: CommandModule<{ backend?: string }, ProfilesArgs> = {
  command: 'profiles <table>',
  describe: `Turn embeddings (or any profile table) into profiles: aggregate to wells, correct (${CORRECTION_METHODS.join(' | ')}), optional treatment consensus; write Parquet`,
  builder: (y) =>
    y
      .positional('table', { type: 'string', demandOption: true, describe: 'Input: Parquet, CSV, CSV.gz (Metadata_* columns + features), or a partitioned dataset (a folder or glob of Parquet files, read with DuckDB)' })
      .option('plates', { type: 'string', array: true, describe: 'Of a partitioned dataset, read only these plates (plate keys, comma-separated, or a file with one per line)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output Parquet file (written atomically; never the input)' })
      .option('aggregate', { type: 'string', default: 'mean', describe: `Sites/cells -> wells: ${AGGREGATE_METHODS.join(' | ')} | none` })
      .option('aggregate-by', { type: 'string', describe: `Columns of a well (default ${WELL_COLUMNS.join(',')})` })
      .option('normalize', { type: 'string', default: 'none', describe: `Correction: none | ${describeCorrections()}` })
      .option('plate', { type: 'string', describe: 'Column(s) of the group each per-plate correction is fitted on (e.g. Experiment,Plate; a batch column for per-batch); sphering pools all rows without it' })
      .option('batch', { type: 'string', describe: "Batch column(s): ComBat's batches (their tuple), Harmony's covariates (each its own), TVN's alignment (default --plate)" })
      .option('control', { type: 'string', describe: 'Negative controls as Column=Value (e.g. WellType=negative_control)' })
      .option('normalize-on', { type: 'string', describe: 'Fit the correction on controls | all (default: controls for the per-plate corrections, all for combat and harmony)' })
      .option('correction-option', { type: 'string', array: true, nargs: 1, describe: 'The correction\'s own option NAME=VALUE (repeatable; e.g. theta=2, nPcs=30, covariates=moa; docs/corrections.md)' })
      .option('epsilon', { type: 'number', default: 1e-18, describe: 'mad_robustize: added to 1.4826 * MAD (pycytominer default)' })
      .option('consensus', { type: 'string', describe: 'Columns of a treatment for a consensus profile after correction (e.g. Compound,Concentration)' })
      .option('consensus-method', { type: 'string', default: 'median', describe: `Consensus: ${AGGREGATE_METHODS.join(' | ')}` })
      .option('drop-constant', { type: 'boolean', default: true, describe: 'Drop constant feature columns on reading' })
      .option('drop-nan', { type: 'boolean', default: true, describe: 'Drop feature columns with missing values on reading' })
      .option('json', { type: 'boolean', describe: 'Print a JSON summary' }) as never,
  handler: async (argv) => {
    const aggregate = argv.aggregate === 'none' ? undefined : choice(argv.aggregate, AGGREGATE_METHODS, 'aggregate');
    const normalize = argv.normalize === 'none' ? undefined : choice(argv.normalize, CORRECTION_METHODS, 'normalize');
    const fitOn = argv['normalize-on'] === undefined ? undefined : choice(argv['normalize-on'], ['controls', 'all'] as const, 'normalize-on');
    const plate = parseColumnList(argv.plate);
    const batch = parseColumnList(argv.batch);
    const grouping = normalize ? groupingOf(normalize) : undefined;
    if (grouping === 'per-group' && !plate?.length) throw new UserError(`--normalize ${normalize} is fitted per plate: name the plate column(s), e.g. --plate Experiment,Plate.`);
    if (grouping === 'between-batches' && !plate?.length && !batch?.length) throw new UserError(`--normalize ${normalize} corrects between batches: name the batch column(s) with --batch (or --plate for one batch per plate).`);
    const summary = await profilesToParquet({
      input: argv.table,
      out: argv.out,
      plates: argv.plates ? parsePlateList(argv.plates) : undefined,
      aggregate: aggregate ? { by: parseColumnList(argv['aggregate-by']) ?? WELL_COLUMNS, method: aggregate as AggregateMethod } : undefined,
      correction: normalize
        ? {
            method: normalize,
            groupBy: plate ?? [],
            fitOn,
            controls: argv.control ? parseRowFilter(argv.control, 'control') : undefined,
            batch,
            epsilon: argv.epsilon,
            params: parseCorrectionOptions(argv['correction-option']),
          }
        : undefined,
      consensus: argv.consensus ? { by: parseColumnList(argv.consensus)!, method: choice(argv['consensus-method'], AGGREGATE_METHODS, 'consensus-method') } : undefined,
      dropConstant: argv['drop-constant'],
      dropNaN: argv['drop-nan'],
    });
    for (const s of summary.steps) if (s.step === 'correct') for (const w of s.warnings ?? []) console.error(`warning: ${w}`);
    if (argv.json) {
      console.log(JSON.stringify(summary, null, 2));
      return;
    }
    if (summary.droppedConstant || summary.droppedNaN) console.log(`dropped ${summary.droppedConstant} constant and ${summary.droppedNaN} NaN feature columns on reading`);
    for (const s of summary.steps) console.log(describeStep(s));
    console.log(`wrote ${summary.out}: ${summary.rowsOut} profiles x ${summary.features} features (from ${summary.rowsIn} rows)`);
  },
};
