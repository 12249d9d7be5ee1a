/**
 * Dose response of a profile table, in copairs' vocabulary: the phenotypic activity of every dose
 * group against the negative controls (the `activity` preset, map-presets.ts: the wells of one
 * dose are the positives, the negative-control wells the negatives, each control its own
 * reference group; mAP and p-values as copairs v0.5.2, Benjamini-Hochberg across doses), the
 * Spearman correlation between dose and that mAP, and the activity of the positive controls.
 * Plus the permutation that is its position control: labels shuffled within blocks of rows (e.g.
 * within each plate row), so a score that survives it is not carried by the labels.
 */
import { computeAveragePrecisionTable, computeMeanAveragePrecision } from './map.ts';
import { mapPresets, withReferenceIndex } from './map-presets.ts';
import { z } from 'zod';
import { defineMetric, type RowFilter } from './metric.ts';
import { mapScoreOptions } from './metric-options.ts';
import { filterRows, groupCodes, metaColumn, metaName, selectRows, type ProfileTable } from '../tables/profile-table.ts';
import { spearmanCorrelation } from '../util/stats.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';

/** Options of {@link computeDoseResponse}. */
export interface DoseResponseOptions {
  /** Numeric dose column (with or without `Metadata_`). */
  dose: string;
  /** The negative controls (the reference of the activity mAP). */
  negative: RowFilter;
  /** Positive controls: left out of the dose groups, scored on their own. */
  positive?: RowFilter;
  /** Similarity from the registry (default cosine, as copairs). */
  similarity?: string;
  /** Null size of the p-values (default 10000). */
  nullSize?: number;
  seed?: number;
  /** p-value threshold (default 0.05). */
  threshold?: number;
}

/** One dose group's activity. */
export interface DoseActivity {
  dose: number;
  map: number;
  pValue: number;
  /** Benjamini-Hochberg across the dose groups. */
  correctedPValue: number;
  wells: number;
}

/** What {@link computeDoseResponse} returns. */
export interface DoseResponseResult {
  /** Dose groups in increasing dose. */
  perDose: DoseActivity[];
  /** Mean activity mAP over the dose groups. */
  meanMap: number;
  /** Share of dose groups with p < threshold, and with the BH-corrected p < threshold. */
  fractionBelowP: number;
  fractionBelowCorrectedP: number;
  /** Spearman correlation between the dose and its activity mAP, over the dose groups. */
  spearman: number;
  /** The positive controls' activity against the negative controls. */
  positiveControl?: { map: number; pValue: number; wells: number };
}

/** Activity mAP per group of `column` (the activity preset), rows of `t` only. */
function activityByGroup(t: ProfileTable, column: string, o: DoseResponseOptions): { key: string; map: number; pValue: number; correctedPValue: number; nProfiles: number }[] {
  const preset = mapPresets.get('activity').resolve({ control: o.negative }, [column]);
  const withRef = withReferenceIndex(t, preset.referenceIndex!);
  const names = (xs: string[]) => xs.map((c) => metaName(withRef, c));
  const apr = computeAveragePrecisionTable(withRef, {
    pos: { sameby: names(preset.lists.posSameby), diffby: names(preset.lists.posDiffby) },
    neg: { sameby: names(preset.lists.negSameby), diffby: names(preset.lists.negDiffby) },
    similarity: o.similarity,
    nullSize: o.nullSize,
    seed: o.seed,
  });
  const m = computeMeanAveragePrecision(withRef, apr, names(preset.lists.posSameby), o.threshold ?? 0.05);
  return m.rows.map((r) => ({ key: r.key[0], map: r.map, pValue: r.pValue, correctedPValue: r.correctedPValue, nProfiles: r.nProfiles }));
}

/** See the module comment. Rows are wells (aggregate sites first); controls name their rows. */
export function computeDoseResponse(t: ProfileTable, o: DoseResponseOptions): DoseResponseResult {
  const dose = metaName(t, o.dose);
  const neg = metaColumn(t, o.negative.column);
  const isNeg = (i: number) => neg[i] === o.negative.value;
  const pos = o.positive ? metaColumn(t, o.positive.column) : undefined;
  const isPos = (i: number) => !!pos && pos[i] === o.positive!.value;
  if (!filterRows(t, isNeg).length) throw new UserError(`Dose response: no negative-control rows (${o.negative.column} = ${o.negative.value}).`);
  const threshold = o.threshold ?? 0.05;
  const doses = selectRows(t, filterRows(t, (i) => !isPos(i)));
  const perDose = activityByGroup(doses, dose, o).map((g) => {
    const v = Number(g.key);
    if (g.key.trim() === '' || !Number.isFinite(v)) throw new UserError(`Dose response: the dose column ${dose} holds "${g.key}", not a number.`);
    return { dose: v, map: g.map, pValue: g.pValue, correctedPValue: g.correctedPValue, wells: g.nProfiles };
  });
  perDose.sort((a, b) => a.dose - b.dose);
  const k = perDose.length;
  const out: DoseResponseResult = {
    perDose,
    meanMap: k ? perDose.reduce((s, r) => s + r.map, 0) / k : NaN,
    fractionBelowP: k ? perDose.filter((r) => r.pValue < threshold).length / k : NaN,
    fractionBelowCorrectedP: k ? perDose.filter((r) => r.correctedPValue < threshold).length / k : NaN,
    spearman: spearmanCorrelation(perDose.map((r) => r.dose), perDose.map((r) => r.map)),
  };
  if (pos && filterRows(t, isPos).length) {
    const sub = selectRows(t, filterRows(t, (i) => isPos(i) || isNeg(i)));
    const roleCol = '__role';
    const role = metaColumn(sub, o.positive!.column).map((v) => (v === o.positive!.value ? 'positive' : 'negative'));
    const g = activityByGroup({ ...sub, meta: { ...sub.meta, [roleCol]: role } }, roleCol, o).find((r) => r.key === 'positive');
    if (g) out.positiveControl = { map: g.map, pValue: g.pValue, wells: g.nProfiles };
  }
  return out;
}

/**
 * `t` with the values of `columns` permuted jointly among the rows of each group of `within`
 * (e.g. within each plate row, and within its treated wells apart from its controls): a seeded
 * permutation that keeps every group's set of labels and breaks which well carries which.
 */
export function permuteWithin(t: ProfileTable, columns: readonly string[], within: readonly string[], seed: number): ProfileTable {
  const names = columns.map((c) => metaName(t, c));
  const { codes, keys } = groupCodes(t, within.map((c) => metaName(t, c)));
  const members: number[][] = keys.map(() => []);
  for (let i = 0; i < t.n; i++) members[codes[i]].push(i);
  const rng = new Rng(seed);
  const meta = { ...t.meta };
  for (const c of names) meta[c] = t.meta[c].slice();
  for (const rows of members) {
    const perm = rng.shuffle(rows.slice()) as number[];
    rows.forEach((to, k) => {
      for (const c of names) meta[c][to] = t.meta[c][perm[k]];
    });
  }
  return { ...t, meta };
}

/** The registered `dose-response` metric (metrics.ts): {@link computeDoseResponse} with the named columns. */
export const doseResponseMetric = defineMetric({
  name: 'dose-response',
  description: 'Activity mAP of each dose group vs the negative controls (copairs activity), Spearman(dose, mAP); positive controls (--positive-control) scored apart',
  options: z.object(mapScoreOptions),
  needs: { columns: ['control', 'dose'] },
  async compute(ctx) {
    const p = ctx.options;
    const r = computeDoseResponse(ctx.table, { dose: ctx.columns.dose!, negative: ctx.columns.control!, positive: ctx.columns.positiveControl, similarity: p.similarity, nullSize: p.nullSize, seed: ctx.seed, threshold: p.threshold });
    return {
      summary: {
        mean_map: r.meanMap,
        fraction_below_p: r.fractionBelowP,
        fraction_below_corrected_p: r.fractionBelowCorrectedP,
        spearman: r.spearman,
        doses: r.perDose.length,
        ...(r.positiveControl ? { positive_control_map: r.positiveControl.map, positive_control_p_value: r.positiveControl.pValue } : {}),
      },
      tables: { per_dose: r.perDose.map((d) => ({ dose: d.dose, mean_average_precision: d.map, p_value: d.pValue, corrected_p_value: d.correctedPValue, wells: d.wells })) },
    };
  },
});
