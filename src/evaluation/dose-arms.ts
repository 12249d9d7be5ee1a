/**
 * Arms scored side by side for dose response on the same wells (a trained network, an untrained
 * one, classical features...): each arm's well profiles get
 * - the activity mAP of each dose group against the negative controls, the share of doses with
 *   BH-corrected p < 0.05 and Spearman(dose, mAP) over the dose groups (dose-response.ts; the
 *   positive controls scored apart);
 * - Z' of positive vs negative control wells on a held-out 1-D projection (z-prime.ts);
 * - a shuffled control: the same scores with the labels permuted within each plate row,
 *   `shuffles` times (seeded): the doses among the row's treated wells (controls fixed) for the
 *   mAP and Spearman, the control labels among the row's control wells for Z'. Where dose follows
 *   the plate column (as on BBBC013), a score that stays up under it comes from the layout (or
 *   from what all treated wells share), not from the dose.
 * Any plate with a numeric dose column and control wells can be scored; the recipe's
 * `dose-response` stage (recipe/dose-response.ts) gathers the arms and writes the table.
 */
import { metaColumn, metaName, type ProfileTable } from '../tables/profile-table.ts';
import { quantile } from '../util/stats.ts';
import { computeDoseResponse, permuteWithin, type DoseResponseResult } from './dose-response.ts';
import { crossValidatedZPrime, type ProjectionMethod, type ZPrimeResult } from './z-prime.ts';

/** The scores of one arm (observed, or the mean over the shuffles). */
export interface ArmScores {
  /** Mean activity mAP over the dose groups. */
  meanMap: number;
  /** Share of dose groups with BH-corrected p < 0.05. */
  fractionSignificant: number;
  spearman: number;
  zPrime: number;
}

/** One arm's result. */
export interface ArmResult {
  name: string;
  label: string;
  wells: number;
  features: number;
  observed: ArmScores;
  perDose: DoseResponseResult['perDose'];
  positiveControl?: DoseResponseResult['positiveControl'];
  separation: Pick<ZPrimeResult, 'method' | 'folds' | 'pos' | 'neg' | 'shrinkage'> & { scores: { well: string; positive: boolean; score: number }[] };
  /**
   * Column-shuffled control over the permutations: means, sample SDs and medians, the mean mAP per
   * dose. The table shows the means, and the median for Z' (unbounded below: a shuffle that
   * leaves the classes' means close gives a Z' of -100 and drowns a mean).
   */
  shuffled?: { permutations: number; mean: ArmScores; sd: ArmScores; median: ArmScores; perDoseMap: number[] };
  /** One-sided permutation p-values of the observed scores: (1 + #{shuffled >= observed}) / (1 + permutations). */
  permutationP?: ArmScores;
}

const ROW = 'Metadata_PlateRow';
const ROLE = 'Metadata_Role';

/** The plate row of a well name (`B07` -> `B`); the whole name when it has no letters first. */
export function wellRow(well: string): string {
  return /^[A-Za-z]+/.exec(well)?.[0] ?? well;
}

/** `t` with the plate row and the role (control or treated) of every well. */
function withRowAndRole(t: ProfileTable, controlColumn: string, controls: string[]): ProfileTable {
  const wells = metaColumn(t, 'Metadata_Well');
  const ctl = metaColumn(t, controlColumn);
  return { ...t, meta: { ...t.meta, [ROW]: wells.map(wellRow), [ROLE]: ctl.map((v) => (controls.includes(v) ? 'control' : 'treated')) } };
}

function scoresOf(dr: DoseResponseResult, z: ZPrimeResult): ArmScores {
  return { meanMap: dr.meanMap, fractionSignificant: dr.fractionBelowCorrectedP, spearman: dr.spearman, zPrime: z.zPrime };
}

const KEYS = ['meanMap', 'fractionSignificant', 'spearman', 'zPrime'] as const;

/** Options of {@link scoreArm}. */
export interface ScoreArmOptions {
  /** Numeric dose column. */
  dose: string;
  /** Column whose values mark the negative and positive control wells. */
  controlColumn: string;
  negative: string;
  positive: string;
  /** Z': the 1-D projection and its folds (absent: leave one well out). */
  projection: ProjectionMethod;
  folds?: number;
  /** Label permutations of the shuffled control (0: none), within each plate row. */
  shuffles: number;
  /** mAP null size and the seed of every random choice. */
  nullSize: number;
  seed: number;
}

/** Scores one arm's well profiles (already corrected); see the module comment. */
export function scoreArm(wells: ProfileTable, o: ScoreArmOptions): Omit<ArmResult, 'name' | 'label' | 'features'> {
  const negative = { column: o.controlColumn, value: o.negative };
  const positive = { column: o.controlColumn, value: o.positive };
  const t = withRowAndRole(wells, o.controlColumn, [o.negative, o.positive]);
  const score = (tab: ProfileTable) => {
    const dr = computeDoseResponse(tab, { dose: o.dose, negative, positive, nullSize: o.nullSize, seed: o.seed });
    const z = crossValidatedZPrime(tab, { positive, negative, method: o.projection, folds: o.folds, seed: o.seed });
    return { dr, z };
  };
  const { dr, z } = score(t);
  const well = metaColumn(t, 'Metadata_Well');
  const res: Omit<ArmResult, 'name' | 'label' | 'features'> = {
    wells: t.n,
    observed: scoresOf(dr, z),
    perDose: dr.perDose,
    positiveControl: dr.positiveControl,
    separation: { method: z.method, folds: z.folds, pos: z.pos, neg: z.neg, shrinkage: z.shrinkage, scores: z.scores.map((s) => ({ well: well[s.index], positive: s.positive, score: s.score })) },
  };
  const k = o.shuffles;
  if (k > 0) {
    const dose = metaName(t, o.dose);
    const runs: ArmScores[] = [];
    const perDose = new Float64Array(dr.perDose.length);
    for (let s = 0; s < k; s++) {
      // Doses among each row's treated wells (controls fixed); control labels among each row's controls.
      const doses = permuteWithin(t, [dose], [ROW, ROLE], o.seed * 1000 + 2 * s + 1);
      const ctls = permuteWithin(t, [dose, o.controlColumn], [ROW, ROLE], o.seed * 1000 + 2 * s + 2);
      const a = computeDoseResponse(doses, { dose: o.dose, negative, positive, nullSize: o.nullSize, seed: o.seed });
      const b = crossValidatedZPrime(ctls, { positive, negative, method: o.projection, folds: o.folds, seed: o.seed });
      runs.push(scoresOf(a, b));
      a.perDose.forEach((d, j) => (perDose[j] += d.map / k));
    }
    const mean = Object.fromEntries(KEYS.map((key) => [key, runs.reduce((acc, r) => acc + r[key], 0) / k])) as unknown as ArmScores;
    const sd = Object.fromEntries(KEYS.map((key) => [key, Math.sqrt(runs.reduce((acc, r) => acc + (r[key] - mean[key]) ** 2, 0) / Math.max(1, k - 1))])) as unknown as ArmScores;
    const median = Object.fromEntries(KEYS.map((key) => [key, quantile(runs.map((r) => r[key]), 0.5)])) as unknown as ArmScores;
    res.shuffled = { permutations: k, mean, sd, median, perDoseMap: Array.from(perDose) };
    res.permutationP = Object.fromEntries(KEYS.map((key) => [key, (1 + runs.filter((r) => r[key] >= res.observed[key]).length) / (1 + k)])) as unknown as ArmScores;
  }
  return res;
}

/** A score to 3 decimals, `n/a` when undefined. */
export const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

/** The Markdown table: one row per arm and per arm's column-shuffled control. */
export function doseResponseMarkdown(arms: ArmResult[], doses: number): string {
  const lines = [
    `| arm | mean activity mAP over doses | doses with q < 0.05 | Spearman(dose, mAP) | Z' (controls) |`,
    `|---|---|---|---|---|`,
  ];
  const frac = (v: number, digits: number) => (Number.isFinite(v) ? `${(v * doses).toFixed(digits)} / ${doses}` : 'n/a');
  for (const a of arms) {
    lines.push(`| ${a.label} | ${f3(a.observed.meanMap)} | ${frac(a.observed.fractionSignificant, 0)} | ${f3(a.observed.spearman)} | ${f3(a.observed.zPrime)} |`);
    if (a.shuffled) {
      const m = a.shuffled.mean, s = a.shuffled.sd;
      lines.push(`| ${a.label}, column-shuffled (${a.shuffled.permutations} permutations) | ${f3(m.meanMap)} ± ${f3(s.meanMap)} | ${frac(m.fractionSignificant, 1)} | ${f3(m.spearman)} ± ${f3(s.spearman)} | median ${f3(a.shuffled.median.zPrime)} |`);
    }
  }
  return lines.join('\n') + '\n';
}
