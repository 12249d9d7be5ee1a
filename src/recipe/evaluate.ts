/**
 * The recipe's `evaluate` stage over embeddings (Lin & Lu 2022's numbers and ours), computed
 * with the evaluation library:
 * - `knn`: kNN treatment accuracy with neighbours restricted to OTHER plates (and, separately, other
 *   experiments), treatment wells only: a batch effect that clusters a plate cannot help;
 * - `linear-probe`: logistic regression for the treatment fitted on the probe-training splits'
 *   embeddings (unseen sites of the training experiments) and tested on the evaluation splits;
 * - `plate-predictability`: WITHIN each experiment, a linear probe for the plate (half of every
 *   plate's images to fit, half to test), averaged over experiments; lower is better, chance is
 *   1 / plates per experiment. Within an experiment the plates share their biology, so what the
 *   probe finds is the technical plate effect. Also reported: the same probe over all plates at
 *   once (`acrossExperiments`), which also finds the experiment's biology (e.g. its cell type);
 * - `map`: copairs mAP of treatment replicates on different plates against other treatments;
 * - `percent-replicating`: median replicate correlation above a non-replicate null.
 */
import { evaluateProfiles } from '../evaluation/evaluate.ts';
import '../evaluation/metrics.ts';
import { distributeOptions } from '../evaluation/metric.ts';
import { parseRowFilter } from '../evaluation/map-presets.ts';
import { metaColumn, type ProfileTable } from '../tables/profile-table.ts';
import { UserError } from '../util/errors.ts';
import { aggregateProfiles, WELL_COLUMNS } from '../profiles/aggregate.ts';
import type { Recipe } from './schema.ts';

/** What {@link evaluateEmbeddings} returns (written as `<variant>/eval.json`). */
export interface EmbeddingEvaluation {
  images: number;
  plates: number;
  knn?: {
    crossPlate: number;
    crossExperiment: number;
    k: number;
    queries: number;
    /**
     * How far the embedding clusters by experiment: the fraction of cross-plate queries whose nearest
     * other-plate neighbour is in the query's own experiment, and that fraction if neighbours were
     * drawn at random from the admissible references (an experiment-free embedding sits near it).
     */
    nearestSameExperiment?: { observed: number; random: number };
  };
  linearProbe?: {
    accuracy: number;
    chance: number;
    /** `well`: rows are wells (L2-normalised image embeddings, mean-pooled); `image`: rows are images. */
    level: 'well' | 'image';
    trainRows: number;
    testRows: number;
    /** The fit: L-BFGS iterations, whether the gradient reached the tolerance, its max-norm, and the L2 penalty used. */
    iterations: number;
    converged: boolean;
    gradMax: number;
    l2: number;
  };
  platePredictability?: {
    /** Mean over experiments of the within-experiment probe accuracy. */
    accuracy: number;
    chance: number;
    experiments: number;
    /** One probe over every plate of the evaluation splits (chance 1 / plates). */
    acrossExperiments: { accuracy: number; chance: number };
  };
  /** mAP and its definition in copairs' vocabulary (preset, the four lists, filters). */
  map?: { map: number; fractionRetrieved: number; preset: string; posSameby: string; posDiffby: string; negSameby: string; negDiffby: string; filters: string };
  percentReplicating?: { percent: number };
  /** Any other registered metric the recipe names: its summary, under its name. */
  other?: Record<string, Record<string, number | string>>;
}

/** Options of {@link evaluateEmbeddings}. */
export interface EvaluateEmbeddingsOptions {
  evaluation: Recipe['evaluation'];
  /** Embeddings of the probe-training splits (the linear probe is skipped without them). */
  probeTrain?: ProfileTable;
  seed?: number;
}

const PLATE_KEY = 'Metadata_PlateKey';

/** The table with a `Metadata_PlateKey` column (batch/experiment + plate: plate numbers repeat across experiments). */
function withPlateKey(t: ProfileTable, e: Recipe['evaluation']): ProfileTable {
  const batch = t.meta[e.batchColumn];
  const plate = metaColumn(t, e.plateColumn);
  return { ...t, meta: { ...t.meta, [PLATE_KEY]: plate.map((p, i) => (batch ? `${batch[i]}/${p}` : p)) } };
}

/** Runs the recipe's `evaluation.metrics` (names from the metric registry) on `table` (the evaluation splits' embeddings). */
export async function evaluateEmbeddings(table: ProfileTable, o: EvaluateEmbeddingsOptions): Promise<EmbeddingEvaluation> {
  const e = o.evaluation;
  const t = withPlateKey(table, e);
  const plates = metaColumn(t, PLATE_KEY);
  const out: EmbeddingEvaluation = { images: t.n, plates: new Set(plates).size };
  const hasBatch = t.meta[e.batchColumn] !== undefined;
  const columns = {
    label: e.labelColumn,
    plate: PLATE_KEY,
    ...(hasBatch ? { batch: e.batchColumn } : {}),
    replicate: [e.labelColumn],
    control: { column: e.controlColumn, value: e.controlValue },
    skipValues: e.skipValues,
  };
  // The protocol's settings, handed to each metric that has the option; `evaluation.options` over them.
  const k = Math.min(e.k, Math.max(1, t.n - 1));
  const protocol = distributeOptions({
    nullSize: e.mapNullSize,
    // Single images, neighbours from other plates (and, separately, other batches).
    k,
    knnProfiles: 'single',
    knnExclude: hasBatch ? ['plate', 'batch'] : ['plate'],
    probeC: e.probe.C,
    probeMaxIter: e.probe.maxIter,
    mapPreset: e.map.preset,
    ...(e.map.posSameby || e.map.posDiffby || e.map.negSameby || e.map.negDiffby ? { posSameby: e.map.posSameby, posDiffby: e.map.posDiffby, negSameby: e.map.negSameby, negDiffby: e.map.negDiffby } : {}),
    include: e.map.include,
    exclude: e.map.exclude,
  }, ['map', 'map-activity', 'map-moa', 'dose-response', 'knn', 'linear-probe']);
  const options = Object.fromEntries([...new Set([...Object.keys(protocol), ...Object.keys(e.options)])].map((m) => [m, { ...protocol[m], ...e.options[m] }]));
  const evalOpts = { options, seed: o.seed ?? 0, optionSource: (f: string) => `evaluation.options.<metric>.${f}` };
  const onTable = e.metrics.filter((m) => m !== 'linear-probe');
  const r = onTable.length ? (await evaluateProfiles(t, { columns, metrics: onTable, ...evalOpts })).metrics : {};

  const knn = r.knn?.summary;
  if (knn) {
    out.knn = { crossPlate: Number(knn.plate_accuracy), crossExperiment: hasBatch ? Number(knn.batch_accuracy) : NaN, k: Number(options.knn?.k ?? k), queries: Number(knn.plate_queries) };
    if (knn.plate_nearest_same_batch !== undefined) out.knn.nearestSameExperiment = { observed: Number(knn.plate_nearest_same_batch), random: Number(knn.plate_nearest_same_batch_random) };
  }
  const pp = r['plate-predictability']?.summary;
  if (pp && Number(pp.batches) > 0) {
    out.platePredictability = {
      accuracy: Number(pp.accuracy),
      chance: Number(pp.chance),
      experiments: Number(pp.batches),
      acrossExperiments: { accuracy: Number(pp.across_batches_accuracy), chance: Number(pp.across_batches_chance) },
    };
  }
  const m = r.map?.summary;
  if (m) {
    out.map = {
      map: Number(m.map),
      fractionRetrieved: Number(m.fraction_retrieved),
      preset: String(m.preset),
      posSameby: String(m.pos_sameby),
      posDiffby: String(m.pos_diffby),
      negSameby: String(m.neg_sameby),
      negDiffby: String(m.neg_diffby),
      filters: String(m.filters),
    };
  }
  if (r['percent-replicating']) out.percentReplicating = { percent: Number(r['percent-replicating'].summary.percent_replicating) };
  for (const [name, res] of Object.entries(r)) if (!SHAPED.has(name)) (out.other ??= {})[name] = res.summary;

  if (e.metrics.includes('linear-probe') && o.probeTrain) {
    // The probe fits on the probe-training splits and is tested on the evaluation splits: one table, a split column.
    const p = withPlateKey(o.probeTrain, e);
    if (p.d !== t.d) throw new Error(`probe-training embeddings have ${p.d} features, evaluation embeddings ${t.d}`);
    const level = e.probe.level;
    const both = level === 'well' ? concatWithSplit(wells(p), wells(t)) : concatWithSplit(p, t);
    const probe = (await evaluateProfiles(both, { columns: { ...columns, split: SPLIT }, metrics: ['linear-probe'], ...evalOpts })).metrics['linear-probe'];
    if (probe.notComputed) throw new UserError(`linear probe: ${probe.notComputed}; check evaluation.probeTrainSplits and data.evalSplits.`);
    const s = probe.summary;
    out.linearProbe = {
      accuracy: Number(s.test_accuracy),
      chance: Number(s.chance),
      level,
      trainRows: Number(s.train_rows),
      testRows: Number(s.test_rows),
      iterations: Number(s.iterations),
      converged: Number(s.converged) === 1,
      gradMax: Number(s.grad_max),
      l2: Number(s.l2),
    };
    // The paper's metric first (eval.json, the report's table).
    const { images, plates: nPlates, linearProbe, ...rest } = out;
    return { images, plates: nPlates, linearProbe, ...rest };
  }
  return out;
}

const SPLIT = 'Metadata_ProbeSplit';

/** Well profiles as Lin & Lu 2022 pool them: each image embedding L2-normalised, then the mean per well. */
function wells(t: ProfileTable): ProfileTable {
  const missing = WELL_COLUMNS.filter((c) => !(c in t.meta));
  if (missing.length) throw new UserError(`A well-level linear probe needs the columns ${missing.join(', ')}; set evaluation.probe.level: image for tables without wells.`);
  return aggregateProfiles(t, { by: WELL_COLUMNS, method: 'l2-mean' });
}

/** The metrics with a field of their own in {@link EmbeddingEvaluation}. */
const SHAPED = new Set(['knn', 'plate-predictability', 'map', 'percent-replicating', 'linear-probe']);

/** `train` rows then `test` rows, with a {@link SPLIT} column; metadata columns both tables share. */
function concatWithSplit(train: ProfileTable, test: ProfileTable): ProfileTable {
  const cols = Object.keys(test.meta).filter((c) => c in train.meta);
  const meta: Record<string, string[]> = Object.fromEntries(cols.map((c) => [c, [...train.meta[c], ...test.meta[c]]]));
  meta[SPLIT] = [...new Array<string>(train.n).fill('train'), ...new Array<string>(test.n).fill('test')];
  const features = new Float32Array((train.n + test.n) * test.d);
  features.set(train.features, 0);
  features.set(test.features, train.n * test.d);
  return { n: train.n + test.n, d: test.d, meta, featureNames: test.featureNames, features };
}
