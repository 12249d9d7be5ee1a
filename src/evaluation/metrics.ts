/**
 * The built-in metrics, registered in {@link metrics}: copairs mAP (replicate retrieval across plates
 * and phenotypic activity against controls), percent replicating, cytominer-eval
 * replicate_reproducibility and precision/recall@k, kNN accuracy (NSC / NSCB...), linear probe and
 * plate / batch predictability.
 */
import type { ProfileTable } from './profile-table.ts';
import { filterRows, metaColumn, metaName, selectRows } from './profile-table.ts';
import { metrics, type Metric, type MetricContext, type MetricResult } from './metric.ts';
import { computeAveragePrecisionTable, computeMeanAveragePrecision } from './map.ts';
import { similarities } from './similarity.ts';
import { computePercentReplicating, computePrecisionRecall, computeReplicateReproducibility } from './replicate.ts';
import { computeKnnAccuracy } from './knn.ts';
import { aggregateProfiles } from './aggregate.ts';
import { computeLinearProbe, splitRows } from './linear-probe.ts';
import { UserError } from '../util/errors.ts';

/** Largest table the all-pairs metrics accept (they hold an [n, n] similarity matrix). */
export const MAX_PAIRWISE_ROWS = 20000;

function isControl(ctx: MetricContext, t: ProfileTable = ctx.table): (i: number) => boolean {
  const c = ctx.columns.control;
  if (!c) return () => false;
  const col = metaColumn(t, c.column);
  return (i) => col[i] === c.value;
}

/** The table without control rows (replicate metrics score treatments only). */
function treatments(ctx: MetricContext): ProfileTable {
  const ctl = isControl(ctx);
  const t = ctx.columns.control ? selectRows(ctx.table, filterRows(ctx.table, (i) => !ctl(i))) : ctx.table;
  if (t.n > MAX_PAIRWISE_ROWS) {
    throw new UserError(`${t.n} profiles: all-pairs metrics take at most ${MAX_PAIRWISE_ROWS}; aggregate to wells first (e.g. the well-level embedding file).`);
  }
  return t;
}

function replicateColumns(ctx: MetricContext): string[] {
  const r = ctx.columns.replicate ?? (ctx.columns.compound ? [ctx.columns.compound] : undefined);
  if (!r?.length) throw new UserError('Name the replicate columns (--replicate-by, e.g. Compound,Concentration) or the compound column.');
  return r.map((c) => metaName(ctx.table, c));
}

const keyString = (key: string[]) => key.join('|');

const mapMetric: Metric = {
  name: 'map',
  description: 'Replicate retrieval mAP (copairs): replicates on different plates vs other treatments, cosine, p-values, BH',
  requires: [],
  async compute(ctx) {
    const t = treatments(ctx);
    const rep = replicateColumns(ctx);
    const plate = ctx.columns.plate ? [metaName(t, ctx.columns.plate)] : [];
    const apr = computeAveragePrecisionTable(t, {
      pos: { sameby: rep, diffby: plate },
      neg: { sameby: [], diffby: rep },
      similarity: ctx.params.similarity,
      nullSize: ctx.params.nullSize,
      seed: ctx.params.seed,
    });
    const m = computeMeanAveragePrecision(t, apr, rep, ctx.params.threshold);
    const scored = apr.rows.filter((r) => r.nPos > 0);
    return {
      summary: {
        map: m.meanMap,
        mean_ap: scored.reduce((s, r) => s + r.ap, 0) / scored.length,
        fraction_retrieved: m.fractionRetrieved,
        groups: m.rows.length,
        profiles: scored.length,
      },
      tables: {
        per_profile: apr.rows.map((r) => ({
          ...Object.fromEntries(Object.entries(t.meta).map(([k, v]) => [k, v[r.index]])),
          average_precision: r.ap,
          n_pos_pairs: r.nPos,
          n_total_pairs: r.nTotal,
          p_value: r.pValue,
        })),
        per_group: m.rows.map((r) => ({
          ...Object.fromEntries(rep.map((c, j) => [c, r.key[j]])),
          mean_average_precision: r.map,
          n_profiles: r.nProfiles,
          p_value: r.pValue,
          corrected_p_value: r.correctedPValue,
          below_p: r.belowP,
          below_corrected_p: r.belowCorrectedP,
        })),
      },
    };
  },
};

const mapActivityMetric: Metric = {
  name: 'map-activity',
  description: 'Phenotypic activity mAP (copairs): replicates of a treatment vs negative controls',
  requires: ['control'],
  async compute(ctx) {
    const t = ctx.table;
    const rep = replicateColumns(ctx);
    const ctl = isControl(ctx);
    // Each control is its own reference group, so controls are only ever negatives (copairs' reference_index trick).
    const ref = Array.from({ length: t.n }, (_, i) => (ctl(i) ? String(i) : '-1'));
    const tt: ProfileTable = { ...t, meta: { ...t.meta, Metadata_reference_index: ref } };
    const keys = [...rep, 'Metadata_reference_index'];
    const apr = computeAveragePrecisionTable(tt, {
      pos: { sameby: keys, diffby: [] },
      neg: { sameby: [], diffby: keys },
      similarity: ctx.params.similarity,
      nullSize: ctx.params.nullSize,
      seed: ctx.params.seed,
    });
    const m = computeMeanAveragePrecision(tt, apr, keys, ctx.params.threshold);
    return {
      summary: { map: m.meanMap, fraction_active: m.fractionRetrieved, groups: m.rows.length },
      tables: {
        per_group: m.rows.map((r) => ({
          ...Object.fromEntries(rep.map((c, j) => [c, r.key[j]])),
          mean_average_precision: r.map,
          p_value: r.pValue,
          corrected_p_value: r.correctedPValue,
          below_corrected_p: r.belowCorrectedP,
        })),
      },
    };
  },
};

const percentReplicatingMetric: Metric = {
  name: 'percent-replicating',
  description: 'Percent replicating: median replicate correlation above the 95th percentile of a non-replicate null',
  requires: [],
  async compute(ctx) {
    const t = treatments(ctx);
    const rep = replicateColumns(ctx);
    const sim = similarities.get(ctx.params.correlation)(t.features, t.n, t.d);
    const pr = computePercentReplicating(t, sim, rep, { seed: ctx.params.seed });
    return {
      summary: { percent_replicating: 100 * pr.score, threshold: pr.threshold, groups: pr.groups.length },
      tables: {
        per_group: pr.groups.map((g) => ({ ...Object.fromEntries(rep.map((c, j) => [c, g.key[j]])), median_correlation: g.median, size: g.size, replicating: g.aboveThreshold })),
      },
    };
  },
};

const replicateReproducibilityMetric: Metric = {
  name: 'replicate-reproducibility',
  description: 'cytominer-eval replicate_reproducibility (percent replicating, cytominer-eval variant)',
  requires: [],
  async compute(ctx) {
    const t = treatments(ctx);
    const rep = replicateColumns(ctx);
    const sim = similarities.get(ctx.params.correlation)(t.features, t.n, t.d);
    const r = computeReplicateReproducibility(t, sim, rep, ctx.params.quantile);
    return {
      summary: { replicate_reproducibility: r.score, threshold: r.threshold, replicate_pairs: r.nReplicatePairs },
      tables: { per_group: r.groupMedians.map((g) => ({ group: keyString(g.key), median_similarity: g.median, pairs: g.nPairs })) },
    };
  },
};

const precisionRecallMetric: Metric = {
  name: 'precision-recall',
  description: 'cytominer-eval precision@k / recall@k per replicate group',
  requires: [],
  async compute(ctx) {
    const t = treatments(ctx);
    const rep = replicateColumns(ctx);
    const sim = similarities.get(ctx.params.correlation)(t.features, t.n, t.d);
    const rows = computePrecisionRecall(t, sim, rep, ctx.params.precisionK);
    const summary: Record<string, number> = {};
    for (const k of ctx.params.precisionK) {
      const at = rows.filter((r) => r.k === k);
      summary[`precision_at_${k}`] = at.reduce((s, r) => s + r.precision, 0) / at.length;
      summary[`recall_at_${k}`] = at.reduce((s, r) => s + (Number.isNaN(r.recall) ? 0 : r.recall), 0) / at.length;
    }
    return { summary, tables: { per_group: rows.map((r) => ({ group: keyString(r.key), k: r.k, precision: r.precision, recall: r.recall })) } };
  },
};

/** Exclusion rules of a kNN mode. */
function exclusionsOf(ctx: MetricContext, mode: string): string[][] {
  const need = (c: keyof typeof ctx.columns, what: string) => {
    const v = ctx.columns[c];
    if (typeof v !== 'string') throw new UserError(`kNN exclusion "${mode}" needs the ${what} column (--${c}).`);
    return v;
  };
  switch (mode) {
    case 'none':
      return [];
    case 'well':
      return [[need('plate', 'plate'), need('well', 'well')]];
    case 'plate':
      return [[need('plate', 'plate')]];
    case 'nsc':
      return [[need('compound', 'compound')]];
    case 'nscb':
      return [[need('compound', 'compound')], [need('batch', 'batch')]];
    default:
      throw new UserError(`Unknown kNN exclusion "${mode}". Use none, well, plate, nsc or nscb.`);
  }
}

const knnMetric: Metric = {
  name: 'knn',
  description: 'kNN label accuracy with exclusions (none | well | plate | nsc | nscb), controls left out',
  requires: ['label'],
  async compute(ctx) {
    let t = ctx.table;
    if (ctx.params.knnPerTreatment && (ctx.columns.replicate?.length || ctx.columns.compound)) t = aggregateProfiles(t, replicateColumns(ctx));
    const ctl = isControl(ctx, t);
    const summary: Record<string, number | string> = { profiles: ctx.params.knnPerTreatment ? 'per treatment' : 'single' };
    const tables: MetricResult['tables'] = {};
    for (const mode of ctx.params.knnExclusions) {
      const r = await computeKnnAccuracy(t, {
        label: ctx.columns.label!,
        k: ctx.params.k,
        similarity: ctx.params.knnSimilarity,
        vote: ctx.params.vote,
        excludeSame: exclusionsOf(ctx, mode),
        skipRows: ctl,
      });
      summary[`${mode}_accuracy`] = r.accuracy;
      summary[`${mode}_ci95`] = `${r.ci95[0].toFixed(3)}-${r.ci95[1].toFixed(3)}`;
      summary[`${mode}_queries`] = r.nQueries;
      tables[`${mode}_per_query`] = r.rows.map((q) => ({
        ...Object.fromEntries(Object.entries(t.meta).map(([k, v]) => [k, v[q.index]])),
        predicted: q.predicted,
        correct: q.correct,
        nearest_similarity: q.similarity,
      }));
      tables[`${mode}_per_label`] = r.perLabel.map((l) => ({ label: l.label, n: l.n, accuracy: l.accuracy }));
    }
    return { summary, tables };
  },
};

const linearProbeMetric: Metric = {
  name: 'linear-probe',
  description: 'Multinomial logistic regression on standardised features, train/test by the split column',
  requires: ['label', 'split'],
  async compute(ctx) {
    const t = ctx.table;
    const ctl = isControl(ctx);
    const rows = filterRows(t, (i) => !ctl(i));
    const labels = metaColumn(t, ctx.columns.label!);
    const split = metaColumn(t, ctx.columns.split!);
    const { train, test } = splitRows(rows.length, rows.map((i) => labels[i]), { split: rows.map((i) => split[i]) });
    const r = computeLinearProbe(t.features, t.d, labels, train.map((a) => rows[a]), test.map((a) => rows[a]), { l2: ctx.params.l2 });
    return { summary: { test_accuracy: r.testAccuracy, train_accuracy: r.trainAccuracy, chance: r.chanceAccuracy, classes: r.classes, test_rows: r.nTest }, tables: {} };
  },
};

const batchPredictabilityMetric: Metric = {
  name: 'batch-predictability',
  description: 'How well a linear probe predicts the plate (and batch) from features: lower means less batch effect',
  requires: ['plate'],
  async compute(ctx) {
    const t = ctx.table;
    const summary: Record<string, number> = {};
    for (const [name, col] of [['plate', ctx.columns.plate], ['batch', ctx.columns.batch]] as const) {
      if (!col) continue;
      const labels = metaColumn(t, col);
      const { train, test } = splitRows(t.n, labels, { testFraction: 0.25, seed: ctx.params.seed });
      // A diagnostic, not a benchmark: 100 L-BFGS steps are plenty to expose a batch signal.
      const r = computeLinearProbe(t.features, t.d, labels, train, test, { l2: ctx.params.l2, maxIter: 100 });
      summary[`${name}_accuracy`] = r.testAccuracy;
      summary[`${name}_chance`] = r.chanceAccuracy;
      summary[`${name}_classes`] = r.classes;
    }
    return { summary, tables: {} };
  },
};

/** Metric order in reports and the default selection. */
export const METRIC_ORDER = [
  'map',
  'map-activity',
  'percent-replicating',
  'replicate-reproducibility',
  'precision-recall',
  'knn',
  'linear-probe',
  'batch-predictability',
];

for (const m of [
  mapMetric,
  mapActivityMetric,
  percentReplicatingMetric,
  replicateReproducibilityMetric,
  precisionRecallMetric,
  knnMetric,
  linearProbeMetric,
  batchPredictabilityMetric,
]) {
  metrics.register(m.name, m);
}
