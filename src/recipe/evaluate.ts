/**
 * The recipe's `evaluate` stage over embeddings (Lin & Lu 2022's and issue 6's numbers), computed
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
import { computeKnnAccuracy } from '../evaluation/knn.ts';
import { computeLinearProbe, splitRows } from '../evaluation/linear-probe.ts';
import { evaluateProfiles } from '../evaluation/evaluate.ts';
import { parseRowFilter } from '../evaluation/map-presets.ts';
import { filterRows, metaColumn, selectRows, type ProfileTable } from '../data/tables/profile-table.ts';
import { UserError } from '../util/errors.ts';
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
  linearProbe?: { accuracy: number; chance: number; trainImages: number; testImages: number };
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

/** See `EmbeddingEvaluation.knn.nearestSameExperiment`. */
function nearestSameBatch(rows: { index: number; nearest: number }[], batches: string[], plates: string[], isRef: (i: number) => boolean): { observed: number; random: number } {
  // References per plate and per batch, to get each query's share of same-batch admissible references.
  const perPlate = new Map<string, number>();
  const perBatch = new Map<string, number>();
  let total = 0;
  plates.forEach((p, i) => {
    if (!isRef(i)) return;
    perPlate.set(p, (perPlate.get(p) ?? 0) + 1);
    perBatch.set(batches[i], (perBatch.get(batches[i]) ?? 0) + 1);
    total++;
  });
  let observed = 0;
  let random = 0;
  let n = 0;
  for (const r of rows) {
    if (r.nearest < 0) continue;
    const ownPlate = perPlate.get(plates[r.index]) ?? 0;
    random += ((perBatch.get(batches[r.index]) ?? 0) - ownPlate) / (total - ownPlate);
    if (batches[r.nearest] === batches[r.index]) observed++;
    n++;
  }
  return { observed: n ? observed / n : NaN, random: n ? random / n : NaN };
}

/** Runs the recipe's `evaluation.metrics` on `table` (the evaluation splits' embeddings). */
export async function evaluateEmbeddings(table: ProfileTable, o: EvaluateEmbeddingsOptions): Promise<EmbeddingEvaluation> {
  const e = o.evaluation;
  const seed = o.seed ?? 0;
  const t = withPlateKey(table, e);
  const labels = metaColumn(t, e.labelColumn);
  const isTreatment = (tab: ProfileTable) => {
    const col = metaColumn(tab, e.controlColumn);
    // Controls are not treatments: the negative-control value, and RxRx1's `positive_control` wells.
    return (i: number) => col[i] !== e.controlValue && col[i] !== 'positive_control';
  };
  const plates = metaColumn(t, PLATE_KEY);
  const out: EmbeddingEvaluation = { images: t.n, plates: new Set(plates).size };
  const want = new Set(e.metrics);

  if (want.has('knn')) {
    const skip = (i: number) => !isTreatment(t)(i);
    const k = Math.min(e.k, Math.max(1, t.n - 1));
    const cross = await computeKnnAccuracy(t, { label: e.labelColumn, k, excludeSame: [[PLATE_KEY]], skipRows: skip });
    const crossExp = t.meta[e.batchColumn] ? await computeKnnAccuracy(t, { label: e.labelColumn, k, excludeSame: [[e.batchColumn]], skipRows: skip }) : undefined;
    out.knn = { crossPlate: cross.accuracy, crossExperiment: crossExp?.accuracy ?? NaN, k, queries: cross.nQueries };
    const batches = t.meta[e.batchColumn];
    if (batches) out.knn.nearestSameExperiment = nearestSameBatch(cross.rows, batches, plates, (i) => !skip(i));
  }

  if (want.has('linear-probe') && o.probeTrain) {
    const p = o.probeTrain;
    if (p.d !== t.d) throw new Error(`probe-training embeddings have ${p.d} features, evaluation embeddings ${t.d}`);
    const trainRows = filterRows(p, isTreatment(p));
    const testRows = filterRows(t, isTreatment(t));
    if (trainRows.length === 0 || testRows.length === 0) throw new UserError(`linear probe: no treatment images in the probe-training (${trainRows.length}) or evaluation (${testRows.length}) splits; check evaluation.probeTrainSplits and data.evalSplits.`);
    const d = t.d;
    const x = new Float32Array((trainRows.length + testRows.length) * d);
    const ys: string[] = [];
    const pl = metaColumn(p, e.labelColumn);
    trainRows.forEach((i, r) => {
      x.set(p.features.subarray(i * d, (i + 1) * d), r * d);
      ys.push(pl[i]);
    });
    testRows.forEach((i, r) => {
      x.set(t.features.subarray(i * d, (i + 1) * d), (trainRows.length + r) * d);
      ys.push(labels[i]);
    });
    const r = computeLinearProbe(x, d, ys, trainRows.map((_, a) => a), testRows.map((_, a) => trainRows.length + a));
    out.linearProbe = { accuracy: r.testAccuracy, chance: r.chanceAccuracy, trainImages: trainRows.length, testImages: testRows.length };
  }

  if (want.has('plate-predictability')) {
    const exps = t.meta[e.batchColumn] ?? new Array<string>(t.n).fill('');
    const byExp = new Map<string, number[]>();
    exps.forEach((x, i) => (byExp.get(x) ?? byExp.set(x, []).get(x)!).push(i));
    let acc = 0;
    let chance = 0;
    let used = 0;
    for (const rows of byExp.values()) {
      const sub = selectRows(t, rows);
      const pk = metaColumn(sub, PLATE_KEY);
      if (new Set(pk).size < 2) continue;
      const split = splitRows(sub.n, pk, { testFraction: 0.5, seed: seed + 7 });
      const r = computeLinearProbe(sub.features, sub.d, pk, split.train, split.test, { maxIter: 100 });
      acc += r.testAccuracy;
      chance += 1 / new Set(pk).size;
      used++;
    }
    if (used > 0) {
      const all = splitRows(t.n, plates, { testFraction: 0.5, seed: seed + 7 });
      const across = computeLinearProbe(t.features, t.d, plates, all.train, all.test, { maxIter: 100 });
      const acrossExperiments = { accuracy: across.testAccuracy, chance: 1 / new Set(plates).size };
      out.platePredictability = { accuracy: acc / used, chance: chance / used, experiments: used, acrossExperiments };
    }
  }

  if (want.has('map') || want.has('percent-replicating')) {
    const names = [...(want.has('map') ? ['map'] : []), ...(want.has('percent-replicating') ? ['percent-replicating'] : [])];
    const r = await evaluateProfiles(t, {
      columns: { label: e.labelColumn, plate: PLATE_KEY, replicate: [e.labelColumn], control: { column: e.controlColumn, value: e.controlValue } },
      metrics: names,
      params: {
        nullSize: e.mapNullSize,
        seed,
        mapPreset: e.map.preset,
        pairs: e.map.posSameby || e.map.posDiffby || e.map.negSameby || e.map.negDiffby ? { posSameby: e.map.posSameby, posDiffby: e.map.posDiffby, negSameby: e.map.negSameby, negDiffby: e.map.negDiffby } : undefined,
        include: e.map.include?.map((f) => parseRowFilter(f, 'evaluation.map.include')),
        exclude: e.map.exclude?.map((f) => parseRowFilter(f, 'evaluation.map.exclude')),
      },
    });
    if (r.metrics.map) {
      const m = r.metrics.map.summary;
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
    if (r.metrics['percent-replicating']) out.percentReplicating = { percent: Number(r.metrics['percent-replicating'].summary.percent_replicating) };
  }
  return out;
}
