/**
 * The built-in metrics, registered in {@link metrics}: copairs mAP (replicate retrieval across plates
 * and phenotypic activity against controls), percent replicating, cytominer-eval
 * replicate_reproducibility and precision/recall@k, kNN accuracy (NSC / NSCB...), linear probe and
 * plate / batch predictability.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { filterRows, metaColumn, metaName, selectRows } from '../tables/profile-table.ts';
import { z } from 'zod';
import { defineMetric, metrics, type MetricContext, type MetricResult } from './metric.ts';
import { correlationOptions, mapScoreOptions, pairListOptions, probeFitOptions, rowFilter, rowFilterOptions } from './metric-options.ts';
import { computeAveragePrecisionTable, computeMeanAveragePrecision } from './map.ts';
import { computeAveragePrecisionGrouped, GROUPED_SIMILARITIES } from './map-grouped.ts';
import { similarities } from './similarity.ts';
import { computePercentReplicating, computePrecisionRecall, computeReplicateReproducibility } from './replicate.ts';
import { computeKnnAccuracy, nearestSameBatch } from './knn.ts';
import { aggregateProfiles } from '../profiles/aggregate.ts';
import { applyRowFilters, formatFilters, formatList, mapPresets, REFERENCE_INDEX, resolveMapConfig, withReferenceIndex, type MapOverrides } from './map-presets.ts';
import { computeLinearProbe, splitRows } from './linear-probe.ts';
import { UserError } from '../util/errors.ts';
import { doseResponseMetric } from './dose-response.ts';
import { zPrimeMetric } from './z-prime.ts';
import { silhouetteMetric } from './silhouette.ts';
import { lisiMetric } from './lisi.ts';
import { graphConnectivityMetric } from './graph-connectivity.ts';

/** Largest table the all-pairs metrics accept (they hold an [n, n] similarity matrix). */
export const MAX_PAIRWISE_ROWS = 20000;

function isControl(ctx: MetricContext, t: ProfileTable = ctx.table): (i: number) => boolean {
  const c = ctx.columns.control;
  if (!c) return () => false;
  const col = metaColumn(t, c.column);
  return (i) => col[i] === c.value;
}

/** Rows that are not treatments: negative controls and rows whose control value is in `columns.skipValues`. */
function isNonTreatment(ctx: MetricContext, t: ProfileTable = ctx.table): (i: number) => boolean {
  const ctl = isControl(ctx, t);
  const skip = ctx.columns.skipValues ?? [];
  if (!skip.length || !ctx.columns.control) return ctl;
  const col = metaColumn(t, ctx.columns.control.column);
  return (i) => ctl(i) || skip.includes(col[i]);
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

/** Replicate columns when named (presets that need them say so). */
function replicateColumnsIfAny(ctx: MetricContext): string[] {
  const r = ctx.columns.replicate ?? (ctx.columns.compound ? [ctx.columns.compound] : []);
  return r.map((c) => metaName(ctx.table, c));
}

/** The options of every mAP metric. */
type MapScore = { similarity: string; nullSize: number; threshold: number };

/**
 * One mAP run of a preset (with the user's lists and filters in `overrides`): filters, then the
 * reference index, then copairs' average_precision and mean_average_precision over `pos_sameby`.
 */
function computeMap(ctx: MetricContext<MapScore>, presetName: string, overrides?: MapOverrides): MetricResult {
  const rep = replicateColumnsIfAny(ctx);
  const listsGiven = !!overrides && PAIR_LISTS.some((k) => overrides[k] !== undefined);
  if ((presetName === 'replicate' || presetName === 'activity') && !rep.length && !listsGiven) replicateColumns(ctx);
  const cfg = resolveMapConfig(ctx.columns, presetName, rep, overrides);
  let t = applyRowFilters(ctx.table, cfg.include, cfg.exclude);
  if (cfg.referenceIndex) t = withReferenceIndex(t, cfg.referenceIndex);
  // Group by group (the same numbers, no [n, n] matrix) where the similarity allows: for large
  // tables, and when both pair lists stay within groups (e.g. negatives from the query's plate),
  // where it computes only the similarities the lists name.
  const names0 = (xs: string[]) => xs.length > 0;
  const withinGroups = names0(cfg.lists.posSameby) && names0(cfg.lists.negSameby);
  const grouped = (t.n > MAX_PAIRWISE_ROWS || withinGroups) && GROUPED_SIMILARITIES.has(ctx.options.similarity);
  if (t.n > MAX_PAIRWISE_ROWS && !grouped) {
    throw new UserError(`${t.n} profiles: mAP with --similarity ${ctx.options.similarity} takes at most ${MAX_PAIRWISE_ROWS} (cosine and pearson have no limit); aggregate to wells first (ben profiles).`);
  }
  const names = (xs: string[]) => xs.map((c) => metaName(t, c));
  const l = { posSameby: names(cfg.lists.posSameby), posDiffby: names(cfg.lists.posDiffby), negSameby: names(cfg.lists.negSameby), negDiffby: names(cfg.lists.negDiffby) };
  const apOpts = {
    pos: { sameby: l.posSameby, diffby: l.posDiffby },
    neg: { sameby: l.negSameby, diffby: l.negDiffby },
    similarity: ctx.options.similarity,
    nullSize: ctx.options.nullSize,
    seed: ctx.seed,
  };
  const apr = grouped ? computeAveragePrecisionGrouped(t, { ...apOpts, onProgress: ctx.onProgress }) : computeAveragePrecisionTable(t, apOpts);
  const m = computeMeanAveragePrecision(t, apr, l.posSameby, ctx.options.threshold);
  const scored = apr.rows.filter((r) => r.nPos > 0);
  const keyCols = l.posSameby.filter((c) => c !== REFERENCE_INDEX);
  return {
    summary: {
      preset: cfg.preset,
      pos_sameby: formatList(l.posSameby),
      pos_diffby: formatList(l.posDiffby),
      neg_sameby: formatList(l.negSameby),
      neg_diffby: formatList(l.negDiffby),
      filters: formatFilters(cfg.include, cfg.exclude),
      ...(cfg.referenceIndex ? { reference_index: `${cfg.referenceIndex.column}=${cfg.referenceIndex.value}` } : {}),
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
        ...Object.fromEntries(l.posSameby.map((c, j) => [c, r.key[j]]).filter(([c]) => keyCols.includes(c))),
        mean_average_precision: r.map,
        n_profiles: r.nProfiles,
        p_value: r.pValue,
        corrected_p_value: r.correctedPValue,
        below_p: r.belowP,
        below_corrected_p: r.belowCorrectedP,
      })),
    },
  };
}

const PAIR_LISTS = ['posSameby', 'posDiffby', 'negSameby', 'negDiffby'] as const;

const mapMetric = defineMetric({
  name: 'map',
  description: 'mAP (copairs) of the preset --map-preset (default replicate: replicates on different plates vs other treatments), or of the pair lists --pos-sameby/--pos-diffby/--neg-sameby/--neg-diffby',
  options: z.object({
    mapPreset: z.string().default('replicate').refine((p) => mapPresets.has(p), { error: (i) => `unknown mAP preset "${String(i.input)}"; choose one of: ${mapPresets.names().join(', ')}` }).describe(`Pair lists of the map metric: ${mapPresets.names().join(' | ')}`),
    ...mapScoreOptions,
    ...pairListOptions,
    ...rowFilterOptions,
    referenceIndex: rowFilter.optional().describe('copairs assign_reference_index: add Metadata_reference_index (row number where COL=VALUE, else -1)'),
  }),
  needs: {
    // Explicit lists need no replicate columns; the replicate preset compares plates.
    replicates: (o) => !PAIR_LISTS.every((k) => o[k] !== undefined),
    plates: (o) => (PAIR_LISTS.every((k) => o[k] === undefined) && o.mapPreset === 'replicate' ? 2 : 1),
  },
  async compute(ctx) {
    return computeMap(ctx, ctx.options.mapPreset, ctx.options);
  },
});

const mapActivityMetric = defineMetric({
  name: 'map-activity',
  description: 'Phenotypic activity mAP (copairs preset activity): replicates of a treatment vs negative controls',
  options: z.object(mapScoreOptions),
  needs: { columns: ['control'], replicates: true },
  async compute(ctx) {
    return computeMap(ctx, 'activity');
  },
});

const mapMoaMetric = defineMetric({
  name: 'map-moa',
  // MoA retrieval is meant for consensus profiles.
  onRequest: true,
  description: 'MoA retrieval mAP (copairs preset moa): same label from other compounds vs other labels',
  options: z.object(mapScoreOptions),
  needs: { columns: ['label'] },
  async compute(ctx) {
    return computeMap(ctx, 'moa');
  },
});

const percentReplicatingMetric = defineMetric({
  name: 'percent-replicating',
  description: 'Percent replicating (copairs correlation_test): median replicate correlation above the 95th percentile of a non-replicate null',
  options: z.object({ ...correlationOptions, posSameby: pairListOptions.posSameby, posDiffby: pairListOptions.posDiffby, ...rowFilterOptions }),
  needs: { replicates: (o) => o.posSameby === undefined },
  async compute(ctx) {
    const o = ctx.options;
    const userFilters = o.include !== undefined || o.exclude !== undefined;
    const t = userFilters ? applyRowFilters(ctx.table, o.include ?? [], o.exclude ?? []) : treatments(ctx);
    if (t.n > MAX_PAIRWISE_ROWS) throw new UserError(`${t.n} profiles: all-pairs metrics take at most ${MAX_PAIRWISE_ROWS}; aggregate to wells first (ben profiles).`);
    const sameby = o.posSameby?.map((c) => metaName(t, c)) ?? replicateColumns(ctx);
    const diffby = (o.posDiffby ?? []).map((c) => metaName(t, c));
    const sim = similarities.get(o.correlation)(t.features, t.n, t.d);
    const pr = computePercentReplicating(t, sim, sameby, { diffby, seed: ctx.seed });
    return {
      summary: {
        sameby: formatList(sameby),
        diffby: formatList(diffby),
        filters: userFilters ? formatFilters(o.include ?? [], o.exclude ?? []) : formatFilters([], ctx.columns.control ? [ctx.columns.control] : []),
        percent_replicating: 100 * pr.score,
        threshold: pr.threshold,
        n_rep: pr.nRep,
        groups: pr.groups.length,
      },
      tables: {
        per_group: pr.groups.map((g) => ({ ...Object.fromEntries(sameby.map((c, j) => [c, g.key[j]])), median_correlation: g.median, size: g.size, pairs: g.pairs, replicating: g.aboveThreshold })),
      },
    };
  },
});

const replicateReproducibilityMetric = defineMetric({
  name: 'replicate-reproducibility',
  description: 'cytominer-eval replicate_reproducibility (percent replicating, cytominer-eval variant)',
  options: z.object({ ...correlationOptions, quantile: z.number().gt(0).lt(1).default(0.95).describe('replicate_reproducibility null quantile') }),
  needs: { replicates: true },
  async compute(ctx) {
    const t = treatments(ctx);
    const rep = replicateColumns(ctx);
    const sim = similarities.get(ctx.options.correlation)(t.features, t.n, t.d);
    const r = computeReplicateReproducibility(t, sim, rep, ctx.options.quantile);
    return {
      summary: { replicate_reproducibility: r.score, threshold: r.threshold, replicate_pairs: r.nReplicatePairs },
      tables: { per_group: r.groupMedians.map((g) => ({ group: keyString(g.key), median_similarity: g.median, pairs: g.nPairs })) },
    };
  },
});

const precisionRecallMetric = defineMetric({
  name: 'precision-recall',
  description: 'cytominer-eval precision@k / recall@k per replicate group',
  options: z.object({ ...correlationOptions, precisionK: z.array(z.int().positive()).min(1).default([1, 5, 10]).describe('k values for precision/recall@k') }),
  needs: { replicates: true },
  async compute(ctx) {
    const t = treatments(ctx);
    const rep = replicateColumns(ctx);
    const sim = similarities.get(ctx.options.correlation)(t.features, t.n, t.d);
    const ks = ctx.options.precisionK;
    const rows = computePrecisionRecall(t, sim, rep, ks);
    const summary: Record<string, number> = {};
    for (const k of ks) {
      const at = rows.filter((r) => r.k === k);
      summary[`precision_at_${k}`] = at.reduce((s, r) => s + r.precision, 0) / at.length;
      summary[`recall_at_${k}`] = at.reduce((s, r) => s + (Number.isNaN(r.recall) ? 0 : r.recall), 0) / at.length;
    }
    return { summary, tables: { per_group: rows.map((r) => ({ group: keyString(r.key), k: r.k, precision: r.precision, recall: r.recall })) } };
  },
});

/** kNN exclusion modes (see {@link exclusionsOf}). */
const KNN_EXCLUSIONS = ['none', 'well', 'plate', 'batch', 'nsc', 'nscb'] as const;

/** Exclusion rules of a kNN mode. */
function exclusionsOf(ctx: MetricContext, mode: (typeof KNN_EXCLUSIONS)[number]): string[][] {
  const need = (c: 'plate' | 'well' | 'compound' | 'batch', what: string) => {
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
    case 'batch':
      return [[need('batch', 'batch')]];
  }
}

const knnMetric = defineMetric({
  name: 'knn',
  description: 'kNN label accuracy with exclusions (none | well | plate | batch | nsc | nscb), controls left out',
  options: z.object({
    k: z.int().positive().default(1).describe('kNN neighbours'),
    knnSimilarity: z.enum(['cosine', 'pearson']).default('cosine').describe('kNN similarity: cosine | pearson'),
    vote: z.enum(['majority', 'weighted']).default('majority').describe('kNN vote: majority | weighted'),
    knnExclude: z.array(z.enum(KNN_EXCLUSIONS, { error: (i) => `unknown kNN exclusion "${String(i.input)}"; use ${KNN_EXCLUSIONS.join(', ')}` })).min(1).default(['nsc', 'nscb']).describe(`kNN exclusions to report: ${KNN_EXCLUSIONS.join(', ')}`),
    knnProfiles: z.enum(['treatment', 'single']).default('treatment').describe('kNN on profiles averaged per treatment (treatment) or single profiles (single)'),
  }),
  needs: { columns: ['label'], plates: (o) => (o.knnExclude.some((e) => e === 'plate' || e === 'nscb') ? 2 : 1) },
  async compute(ctx) {
    const o = ctx.options;
    const perTreatment = o.knnProfiles === 'treatment';
    let t = ctx.table;
    if (perTreatment && (ctx.columns.replicate?.length || ctx.columns.compound)) t = aggregateProfiles(t, { by: replicateColumns(ctx), varying: 'join' });
    const ctl = isNonTreatment(ctx, t);
    const summary: Record<string, number | string> = { profiles: perTreatment ? 'per treatment' : 'single' };
    const tables: MetricResult['tables'] = {};
    for (const mode of o.knnExclude) {
      const r = await computeKnnAccuracy(t, {
        label: ctx.columns.label!,
        k: o.k,
        similarity: o.knnSimilarity,
        vote: o.vote,
        excludeSame: exclusionsOf(ctx, mode),
        skipRows: ctl,
      });
      summary[`${mode}_accuracy`] = r.accuracy;
      summary[`${mode}_ci95`] = `${r.ci95[0].toFixed(3)}-${r.ci95[1].toFixed(3)}`;
      summary[`${mode}_queries`] = r.nQueries;
      if (mode === 'plate' && ctx.columns.batch && ctx.columns.plate) {
        // How far other-plate neighbours stay in the query's own batch, against random admissible references.
        const same = nearestSameBatch(r.rows, metaColumn(t, ctx.columns.batch), metaColumn(t, ctx.columns.plate), (i) => !ctl(i));
        summary.plate_nearest_same_batch = same.observed;
        summary.plate_nearest_same_batch_random = same.random;
      }
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
});

const linearProbeMetric = defineMetric({
  name: 'linear-probe',
  description: 'Multinomial logistic regression on standardised features, train/test by the split column',
  options: z.object(probeFitOptions),
  needs: { columns: ['label', 'split'] },
  async compute(ctx) {
    const t = ctx.table;
    const ctl = isNonTreatment(ctx);
    const rows = filterRows(t, (i) => !ctl(i));
    const labels = metaColumn(t, ctx.columns.label!);
    const split = metaColumn(t, ctx.columns.split!);
    const { train, test } = splitRows(rows.length, rows.map((i) => labels[i]), { split: rows.map((i) => split[i]) });
    const o = ctx.options;
    const r = computeLinearProbe(t.features, t.d, labels, train.map((a) => rows[a]), test.map((a) => rows[a]), { l2: o.l2, C: o.probeC, maxIter: o.probeMaxIter, tol: o.probeTol });
    return {
      summary: {
        test_accuracy: r.testAccuracy,
        train_accuracy: r.trainAccuracy,
        chance: r.chanceAccuracy,
        classes: r.classes,
        train_rows: r.nTrain,
        test_rows: r.nTest,
        iterations: r.iterations,
        converged: r.converged ? 1 : 0,
        grad_max: r.gradMax,
        l2: r.l2,
      },
      tables: {},
    };
  },
});

const batchPredictabilityMetric = defineMetric({
  name: 'batch-predictability',
  description: 'How well a linear probe predicts the plate (and batch) from features: lower means less batch effect',
  options: z.object({ l2: probeFitOptions.l2 }),
  needs: { columns: ['plate'], plates: 2 },
  async compute(ctx) {
    const t = ctx.table;
    const summary: Record<string, number> = {};
    for (const [name, col] of [['plate', ctx.columns.plate], ['batch', ctx.columns.batch]] as const) {
      if (!col) continue;
      const labels = metaColumn(t, col);
      const { train, test } = splitRows(t.n, labels, { testFraction: 0.25, seed: ctx.seed });
      // A diagnostic, not a benchmark: 100 L-BFGS steps are plenty to expose a batch signal.
      const r = computeLinearProbe(t.features, t.d, labels, train, test, { l2: ctx.options.l2 ?? 1e-3, maxIter: 100, tol: 1e-6 });
      summary[`${name}_accuracy`] = r.testAccuracy;
      summary[`${name}_chance`] = r.chanceAccuracy;
      summary[`${name}_classes`] = r.classes;
    }
    return { summary, tables: {} };
  },
});

const platePredictabilityMetric = defineMetric({
  name: 'plate-predictability',
  onRequest: true,
  description: 'Within each batch, how well a linear probe predicts the plate (half of each plate to fit, half to test): the technical plate effect; lower is better',
  needs: { columns: ['plate'] },
  async compute(ctx): Promise<MetricResult> {
    const t = ctx.table;
    const plates = metaColumn(t, ctx.columns.plate!);
    // Within a batch the plates share their biology, so what the probe finds is the plate effect.
    const batches = ctx.columns.batch ? metaColumn(t, ctx.columns.batch) : new Array<string>(t.n).fill('');
    const byBatch = new Map<string, number[]>();
    batches.forEach((x, i) => (byBatch.get(x) ?? byBatch.set(x, []).get(x)!).push(i));
    let acc = 0;
    let chance = 0;
    let used = 0;
    for (const rows of byBatch.values()) {
      const pk = rows.map((i) => plates[i]);
      if (new Set(pk).size < 2) continue;
      const sub = selectRows(t, rows);
      const split = splitRows(sub.n, pk, { testFraction: 0.5, seed: ctx.seed + 7 });
      const r = computeLinearProbe(sub.features, sub.d, pk, split.train, split.test, { l2: 1e-3, maxIter: 100, tol: 1e-6 });
      acc += r.testAccuracy;
      chance += 1 / new Set(pk).size;
      used++;
    }
    if (used === 0) return { summary: { batches: 0 }, tables: {} };
    // One probe over every plate at once also finds what differs between batches (e.g. the cell type).
    const all = splitRows(t.n, plates, { testFraction: 0.5, seed: ctx.seed + 7 });
    const across = computeLinearProbe(t.features, t.d, plates, all.train, all.test, { l2: 1e-3, maxIter: 100, tol: 1e-6 });
    return {
      summary: { accuracy: acc / used, chance: chance / used, batches: used, across_batches_accuracy: across.testAccuracy, across_batches_chance: 1 / new Set(plates).size },
      tables: {},
    };
  },
});

// Registration order is the order of reports and of `ben evaluate`'s default selection.
for (const m of [
  mapMetric,
  mapActivityMetric,
  mapMoaMetric,
  percentReplicatingMetric,
  replicateReproducibilityMetric,
  precisionRecallMetric,
  knnMetric,
  linearProbeMetric,
  batchPredictabilityMetric,
  silhouetteMetric,
  lisiMetric,
  graphConnectivityMetric,
  platePredictabilityMetric,
  doseResponseMetric,
  zPrimeMetric,
]) {
  metrics.register(m.name, m);
}
