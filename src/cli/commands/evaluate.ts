import type { CommandModule } from 'yargs';
import { evaluateProfiles, type Normalization } from '../../evaluation/evaluate.ts';
import { loadProfiles } from '../../tables/load.ts';
import { CORRECTION_METHODS, describeCorrections } from '../../profiles/correct.ts';
import { parseCorrectionOptions } from '../../profiles/correction.ts';
import { formatMarkdown, summarizeEvaluation, writeEvaluation } from '../../evaluation/report.ts';
import { metrics, type EvalColumns } from '../../evaluation/metric.ts';
import '../../evaluation/metrics.ts';
import { DataError, UserError } from '../../util/errors.ts';
import { checkReplaceable, markerFile } from '../../util/atomic.ts';
import { TEXT_ENCODINGS } from '../../util/text.ts';
import { similarities } from '../../evaluation/similarity.ts';
import { mapPresets, parseRowFilter } from '../../evaluation/map-presets.ts';
import type { PairLists } from '../../evaluation/metric.ts';
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
  'map-preset': string;
  'pos-sameby'?: string;
  'pos-diffby'?: string;
  'neg-sameby'?: string;
  'neg-diffby'?: string;
  include?: string[];
  exclude?: string[];
  'reference-index'?: string;
  similarity: string;
  correlation: string;
  'null-size': number;
  seed: number;
  threshold: number;
  quantile: number;
  'precision-k': string;
  k: number;
  'knn-similarity': string;
  vote: string;
  'knn-exclude': string;
  'knn-profiles': string;
  l2?: number;
  'probe-c': number;
  'probe-max-iter': number;
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
      .option('map-preset', { type: 'string', default: 'replicate', describe: `Pair lists of the map metric: ${mapPresets.names().join(' | ')}` })
      .option('pos-sameby', { type: 'string', describe: 'copairs pos_sameby for map (comma-separated; "" for none)' })
      .option('pos-diffby', { type: 'string', describe: 'copairs pos_diffby for map' })
      .option('neg-sameby', { type: 'string', describe: 'copairs neg_sameby for map' })
      .option('neg-diffby', { type: 'string', describe: 'copairs neg_diffby for map' })
      .option('include', { type: 'string', array: true, nargs: 1, describe: 'Keep only rows with COL=VALUE before pairing (repeatable; values of one column are alternatives)' })
      .option('exclude', { type: 'string', array: true, nargs: 1, describe: 'Drop rows with COL=VALUE before pairing (repeatable)' })
      .option('reference-index', { type: 'string', describe: 'copairs assign_reference_index: add Metadata_reference_index (row number where COL=VALUE, else -1)' })
      .option('similarity', { type: 'string', default: 'cosine', describe: 'Similarity for mAP (cosine | pearson | spearman | kendall)' })
      .option('correlation', { type: 'string', default: 'pearson', describe: 'Similarity for percent replicating / cytominer-eval metrics' })
      .option('null-size', { type: 'number', default: 10000, describe: 'mAP null distribution size' })
      .option('seed', { type: 'number', default: 0 })
      .option('threshold', { type: 'number', default: 0.05, describe: 'p-value threshold for the fraction retrieved' })
      .option('quantile', { type: 'number', default: 0.95, describe: 'replicate_reproducibility null quantile' })
      .option('precision-k', { type: 'string', default: '1,5,10', describe: 'k values for precision/recall@k' })
      .option('k', { type: 'number', default: 1, describe: 'kNN neighbours' })
      .option('knn-similarity', { type: 'string', default: 'cosine', describe: 'cosine | pearson' })
      .option('vote', { type: 'string', default: 'majority', describe: 'majority | weighted' })
      .option('knn-exclude', { type: 'string', default: 'nsc,nscb', describe: 'kNN exclusions to report: none, well, plate, nsc, nscb' })
      .option('knn-profiles', { type: 'string', default: 'treatment', describe: 'kNN on profiles averaged per treatment (treatment) or single profiles (single)' })
      .option('probe-c', { type: 'number', default: 1, describe: "Linear probe inverse regularisation, scikit-learn's C (penalty 1 / (C n) on the mean cross-entropy)" })
      .option('probe-max-iter', { type: 'number', default: 1000, describe: 'Linear probe L-BFGS iteration cap (the result says whether it converged)' })
      .option('l2', { type: 'number', describe: 'Linear probe L2 penalty in mean form (overrides --probe-c)' })
      .option('drop-constant', { type: 'boolean', default: true, describe: 'Drop constant feature columns' })
      .option('drop-nan', { type: 'boolean', default: true, describe: 'Drop feature columns with missing values' })
      .option('encoding', { type: 'string', default: 'utf8', describe: `Text encoding of a CSV table (${TEXT_ENCODINGS.join(' | ')}); UTF-8 is checked strictly` })
      .option('out', { type: 'string', describe: 'Folder for summary.json, summary.md and per-profile / per-group CSV tables (written atomically)' })
      .option('json', { type: 'boolean', describe: 'Print the JSON summary instead of the Markdown table' }) as never,
  handler: async (argv) => {
    // Names and paths first: a typo fails before the table is read or anything is computed.
    for (const m of list(argv.metrics) ?? []) metrics.get(m);
    similarities.get(argv.similarity);
    similarities.get(argv.correlation);
    mapPresets.get(argv['map-preset']);
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
    const pairs: Partial<PairLists> = {};
    for (const [flag, key] of [['pos-sameby', 'posSameby'], ['pos-diffby', 'posDiffby'], ['neg-sameby', 'negSameby'], ['neg-diffby', 'negDiffby']] as const) {
      const v = argv[flag];
      if (v !== undefined) pairs[key] = parseColumnList(v) ?? [];
    }
    const plates = argv.plates ? parsePlateList(argv.plates) : undefined;
    const { table, report, source } = await loadProfiles(argv.table, { dropConstant: argv['drop-constant'], dropNaN: argv['drop-nan'], encoding, plates });
    for (const line of report.notices ?? []) console.error(line);
    const names = (cols: string[]) => (cols.length <= 20 ? cols.join(', ') : `${cols.slice(0, 20).join(', ')} and ${cols.length - 20} more`);
    if (report.droppedConstant.length) console.error(`dropped ${report.droppedConstant.length} constant feature column(s): ${names(report.droppedConstant)} (keep them with --no-drop-constant)`);
    if (report.droppedNaN.length) console.error(`dropped ${report.droppedNaN.length} feature column(s) with missing values: ${names(report.droppedNaN)} (--no-drop-nan makes a missing value an error instead)`);
    const needsReplicates = ['map', 'percent-replicating', 'replicate-reproducibility', 'precision-recall', 'map-activity'];
    const named = (m: string) =>
      !metrics.get(m).onRequest &&
      ((m === 'map' && Object.keys(pairs).length === 4) ||
        (metrics.get(m).requires.every((r) => columns[r] !== undefined || (r === 'batch' && argv['batch-from-plate'])) &&
          (m !== 'map-activity' || !!control) &&
          (!needsReplicates.includes(m) || !!(columns.replicate || columns.compound))));
    const chosen = list(argv.metrics) ?? metrics.inOrder().filter(named);
    if (!chosen.length) throw new UserError('No metric can run: name the columns (--replicate-by, --label, --plate...) or pick --metrics.');
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
        params: {
          similarity: argv.similarity,
          correlation: argv.correlation,
          nullSize: argv['null-size'],
          seed: argv.seed,
          threshold: argv.threshold,
          quantile: argv.quantile,
          precisionK: list(argv['precision-k'])!.map(Number),
          k: argv.k,
          knnSimilarity: choice(argv['knn-similarity'], ['cosine', 'pearson'] as const, 'knn-similarity'),
          vote: choice(argv.vote, ['majority', 'weighted'] as const, 'vote'),
          knnExclusions: list(argv['knn-exclude']) ?? ['none'],
          knnPerTreatment: choice(argv['knn-profiles'], ['treatment', 'single'] as const, 'knn-profiles') === 'treatment',
          l2: argv.l2,
          probeC: argv['probe-c'],
          probeMaxIter: argv['probe-max-iter'],
          mapPreset: argv['map-preset'],
          pairs: Object.keys(pairs).length ? pairs : undefined,
          include: argv.include?.map((f) => parseRowFilter(f, 'include')),
          exclude: argv.exclude?.map((f) => parseRowFilter(f, 'exclude')),
          referenceIndex: argv['reference-index'] ? parseRowFilter(argv['reference-index'], 'reference-index') : undefined,
        },
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
    if (skipped.length === chosen.length) {
      throw new DataError(`No metric could be computed on ${argv.table}:\n${skipped.map(([n, m]) => `  ${n}: ${m.notComputed}`).join('\n')}`);
    }
    if (argv.out) {
      const files = await writeEvaluation(argv.out, result, { inputs: [argv.table] });
      console.error(`wrote ${files.length} files to ${argv.out}`);
    }
    console.log(argv.json ? JSON.stringify(summarizeEvaluation(result), (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) : formatMarkdown(result));
  },
};
