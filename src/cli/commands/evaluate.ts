import type { CommandModule } from 'yargs';
import { evaluateProfiles, type Normalization } from '../../evaluation/evaluate.ts';
import { loadProfiles } from '../../tables/load.ts';
import { CORRECTION_METHODS, describeCorrections } from '../../profiles/correct.ts';
import { parseCorrectionOptions } from '../../profiles/correction.ts';
import { formatMarkdown, summarizeEvaluation, writeEvaluation } from '../../evaluation/report.ts';
import { metrics, parseMetricOptions, type EvalColumns } from '../../evaluation/metric.ts';
import { flagOf, metricFlags, metricOptionsOf } from '../metric-flags.ts';
import '../../evaluation/metrics.ts';
import { DataError, UserError } from '../../util/errors.ts';
import { checkReplaceable, markerFile } from '../../util/atomic.ts';
import { TEXT_ENCODINGS } from '../../util/text.ts';
import { parseRowFilter } from '../../evaluation/map-presets.ts';
import { parseColumnList } from '../../tables/profile-table.ts';
import { parsePlateList } from '../../embedding/shard.ts';
import { createProgress, type Progress } from '../../util/progress.ts';

interface EvaluateArgs {
  table: string;
  plates?: string[];
  label?: string;
  plate?: string;
  batch?: string;
  'batch-from-plate'?: string;
  well?: string;
  compound?: string;
  'replicate-by'?: string;
  control?: string;
  'positive-control'?: string;
  dose?: string;
  split?: string;
  metrics?: string;
  normalize: string;
  'normalize-on'?: string;
  'correction-option'?: string[];
  seed: number;
  'drop-constant': boolean;
  'drop-nan': boolean;
  out?: string;
  json?: boolean;
  encoding: string;
}

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

function choice<T extends string>(v: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new UserError(`--${flag} "${v}": choose one of ${allowed.join(', ')}.`);
  return v as T;
}

/** `ben evaluate <table>`: replicate consistency, kNN / linear-probe accuracy and batch diagnostics of a profile table. */
export const evaluateCommand: CommandModule<{ backend?: string }, EvaluateArgs> = {
  command: 'evaluate <table>',
  describe: 'Evaluate a profile table (Parquet, CSV, CSV.gz; or the BBBC021 cytominergallery folder): mAP, percent replicating, kNN (NSC/NSCB), linear probe, batch diagnostics',
  builder: (y) =>
    metricFlags(
      y
      .positional('table', { type: 'string', demandOption: true, describe: 'Profile table: Metadata_* columns + features; or a partitioned dataset (a folder or a glob of Parquet files, read with DuckDB)' })
      .option('plates', { type: 'string', array: true, describe: 'Of a partitioned dataset, read only these plates (plate keys, comma-separated, or a file with one per line)' })
      .option('label', { type: 'string', describe: 'Label column for kNN / linear probe (e.g. moa)' })
      .option('plate', { type: 'string', describe: 'Plate column, or several whose tuple is the plate (e.g. Plate, or Experiment,Plate)' })
      .option('batch', { type: 'string', describe: 'Batch column(s) (e.g. Batch)' })
      .option('batch-from-plate', { type: 'string', describe: 'Regex whose first group turns the plate name into the batch, e.g. "^(Week\\d+)_"' })
      .option('well', { type: 'string', describe: 'Well column(s)' })
      .option('compound', { type: 'string', describe: 'Compound column(s) (NSC / NSCB exclusions)' })
      .option('replicate-by', { type: 'string', describe: 'Comma-separated columns defining replicates / a treatment (e.g. Compound,Concentration)' })
      .option('control', { type: 'string', describe: 'Negative controls as Column=Value (e.g. Compound=DMSO)' })
      .option('positive-control', { type: 'string', describe: "Positive controls as Column=Value (z-prime; dose-response scores them apart)" })
      .option('dose', { type: 'string', describe: 'Numeric dose column (dose-response)' })
      .option('split', { type: 'string', describe: 'Train/test split column for the linear probe (values train/test)' })
      .option('metrics', { type: 'string', describe: `Comma-separated metrics (default: all whose columns are named). Known: ${metrics.names().join(', ')}` })
      .option('normalize', { type: 'string', default: 'none', describe: `Post-hoc correction first (the one of ben profiles): none | ${describeCorrections()}. Per-plate ones per --plate (TVN aligns per --batch); combat and harmony between --batch (default --plate)` })
      .option('normalize-on', { type: 'string', describe: 'Rows the correction is fitted on: controls | all (default: controls for the per-plate corrections, all for combat and harmony)' })
      .option('correction-option', { type: 'string', array: true, nargs: 1, describe: "The correction's own option NAME=VALUE (repeatable; e.g. theta=2, nPcs=30, covariates=moa; docs/corrections.md)" })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of every random choice (mAP nulls, probe splits, permutations)' })
      .option('drop-constant', { type: 'boolean', default: true, describe: 'Drop constant feature columns' })
      .option('drop-nan', { type: 'boolean', default: true, describe: 'Drop feature columns with missing values' })
      .option('encoding', { type: 'string', default: 'utf8', describe: `Text encoding of a CSV table (${TEXT_ENCODINGS.join(' | ')}); UTF-8 is checked strictly` })
      .option('out', { type: 'string', describe: 'Folder for summary.json, summary.md and per-profile / per-group CSV tables (written atomically)' })
      .option('json', { type: 'boolean', describe: 'Print the JSON summary instead of the Markdown table' }),
    ) as never,
  handler: async (argv) => {
    // Names and paths first: a typo fails before the table is read or anything is computed.
    const chosen = list(argv.metrics);
    for (const m of chosen ?? []) metrics.get(m);
    const options = metricOptionsOf(argv as unknown as Record<string, unknown>);
    for (const [m, o] of Object.entries(options)) parseMetricOptions(metrics.get(m), o, flagOf);
    const normalize = choice(argv.normalize, ['none', ...CORRECTION_METHODS] as const, 'normalize') as Normalization;
    const encoding = choice(argv.encoding, TEXT_ENCODINGS, 'encoding');
    if (argv.out) checkReplaceable(argv.out, { marker: markerFile('summary.json'), markerName: 'summary.json', inputs: [argv.table], flag: '--out' });
    const control: EvalColumns['control'] = argv.control ? parseRowFilter(argv.control, 'control') : undefined;
    const group = (v: string | undefined) => parseColumnList(v);
    const columns = {
      label: group(argv.label),
      plate: group(argv.plate),
      batch: group(argv.batch),
      well: group(argv.well),
      compound: group(argv.compound),
      replicate: list(argv['replicate-by']),
      control,
      positiveControl: argv['positive-control'] ? parseRowFilter(argv['positive-control'], 'positive-control') : undefined,
      dose: argv.dose,
      split: argv.split,
    };
    const plates = argv.plates ? parsePlateList(argv.plates) : undefined;
    const { table, report, source } = await loadProfiles(argv.table, { dropConstant: argv['drop-constant'], dropNaN: argv['drop-nan'], encoding, plates });
    for (const line of report.notices ?? []) console.error(line);
    const names = (cols: string[]) => (cols.length <= 20 ? cols.join(', ') : `${cols.slice(0, 20).join(', ')} and ${cols.length - 20} more`);
    if (report.droppedConstant.length) console.error(`dropped ${report.droppedConstant.length} constant feature column(s): ${names(report.droppedConstant)} (keep them with --no-drop-constant)`);
    if (report.droppedNaN.length) console.error(`dropped ${report.droppedNaN.length} feature column(s) with missing values: ${names(report.droppedNaN)} (--no-drop-nan makes a missing value an error instead)`);
    let bar: Progress | undefined;
    let barFor = '';
    let barDone = 0;
    const result = await evaluateProfiles(
      table,
      {
        columns,
        metrics: chosen,
        normalize,
        normalizeOn: argv['normalize-on'] === undefined ? undefined : choice(argv['normalize-on'], ['controls', 'all'] as const, 'normalize-on'),
        correctionOptions: parseCorrectionOptions(argv['correction-option']),
        onWarning: (line) => console.error(`warning: ${line}`),
        batchFromPlate: argv['batch-from-plate'],
        options,
        optionSource: flagOf,
        seed: argv.seed,
        onProgress: (name, done, total) => {
          if (!bar || barFor !== name) {
            bar?.stop();
            barFor = name;
            bar = createProgress({ label: `${name} (queries)`, total, unit: 'query' });
            bar.tick(done);
            barDone = done;
          } else {
            bar.tick(done - barDone);
            barDone = done;
          }
          if (done === total) bar.stop();
        },
        onMetric: (name, s) => console.error(`${name}: ${s.toFixed(1)} s`),
        onNotComputed: (name, why) => console.error(`${name}: not computed: ${why}`),
      },
      { source, report },
    );
    const skipped = Object.entries(result.metrics).filter(([, m]) => m.notComputed);
    if (skipped.length === Object.keys(result.metrics).length) {
      throw new DataError(`No metric could be computed on ${argv.table}:\n${skipped.map(([n, m]) => `  ${n}: ${m.notComputed}`).join('\n')}`);
    }
    if (argv.out) {
      const files = await writeEvaluation(argv.out, result, { inputs: [argv.table] });
      console.error(`wrote ${files.length} files to ${argv.out}`);
    }
    console.log(argv.json ? JSON.stringify(summarizeEvaluation(result), (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) : formatMarkdown(result));
  },
};
