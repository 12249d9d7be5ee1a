/**
 * The recipe's `dose-response` stage: arms scored side by side on the same wells, in one table.
 * An arm is a variant's well embeddings (`<variant>/embeddings.wells.parquet`, e.g. a trained and
 * an untrained network) or the classical features computed here (`classical/`, per-site
 * intensity statistics and the nuclear / cytoplasmic reporter ratio, embedding/classical.ts).
 * Every arm gets the same treatment: well profiles, standardised per plate on the negative
 * controls, then
 * - `dose-response` (evaluation/dose-response.ts): activity mAP of each dose group against the
 *   negative controls, the share of doses with BH-corrected p < 0.05, Spearman(dose, mAP) over the
 *   dose groups (the positive controls scored apart);
 * - `z-prime` (evaluation/z-prime.ts): Z' of positive vs negative control wells on the
 *   leave-one-well-out projection;
 * - the column-shuffled control: where dose follows the plate column, the same scores with the
 *   labels permuted within each plate row, `shuffles` times (seeded), means reported: the doses
 *   among the row's treated wells (controls fixed) for the mAP and Spearman, the control labels
 *   among the row's control wells for Z'. A score that stays up under it comes from the layout
 *   (or from what all treated wells share), not from the dose.
 * Writes `dose-response.{md,json}` and two figures in the run directory, and each arm's numbers
 * into its `eval.json` (merged), so the report's metric table has them too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exportProfiles, wellPathFor } from '../embedding/export.ts';
import { computeDoseResponse, permuteWithin, type DoseResponseResult } from '../evaluation/dose-response.ts';
import { readProfileTable } from '../tables/read.ts';
import { metaColumn, metaName, type ProfileTable } from '../tables/profile-table.ts';
import { quantile } from '../util/stats.ts';
import { crossValidatedZPrime, type ZPrimeResult } from '../evaluation/z-prime.ts';
import type { Dataset } from '../data/image-dataset.ts';
import { classicalFeatures, type ClassicalFeatureOptions } from '../embedding/classical.ts';
import { buildProfiles } from '../profiles/profiles.ts';
import { controlSeparationSvg, doseResponseSvg, writeSvgPng } from '../report/dose-figures.ts';
import { RUN_LAYOUT } from '../training/run-layout.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { readRecipeData } from './data.ts';
import type { Recipe } from './schema.ts';


/** The folder of the classical-features arm. */
export const CLASSICAL_ARM = RUN_LAYOUT.classicalArm;

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

/** What the stage returns (and writes as dose-response.json). */
export interface DoseResponseStageResult {
  arms: ArmResult[];
  /** The Markdown table (also dose-response.md). */
  markdown: string;
  files: { markdown: string; json: string; doseFigure: string; separationFigure: string };
  /** Settings, as written. */
  settings: Recipe['doseResponse'] & { dose: string; negative: string; positive: string };
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

/** Scores one arm's well profiles (already corrected); see the module comment. */
export function scoreArm(wells: ProfileTable, o: { dose: string; controlColumn: string; negative: string; positive: string; section: Recipe['doseResponse']; nullSize: number; seed: number }): Omit<ArmResult, 'name' | 'label' | 'features'> {
  const negative = { column: o.controlColumn, value: o.negative };
  const positive = { column: o.controlColumn, value: o.positive };
  const t = withRowAndRole(wells, o.controlColumn, [o.negative, o.positive]);
  const score = (tab: ProfileTable) => {
    const dr = computeDoseResponse(tab, { dose: o.dose, negative, positive, nullSize: o.nullSize, seed: o.seed });
    const z = crossValidatedZPrime(tab, { positive, negative, method: o.section.projection, folds: o.section.folds, seed: o.seed });
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
  const k = o.section.shuffles;
  if (k > 0) {
    const dose = metaName(t, o.dose);
    const runs: ArmScores[] = [];
    const perDose = new Float64Array(dr.perDose.length);
    for (let s = 0; s < k; s++) {
      // Doses among each row's treated wells (controls fixed); control labels among each row's controls.
      const doses = permuteWithin(t, [dose], [ROW, ROLE], o.seed * 1000 + 2 * s + 1);
      const ctls = permuteWithin(t, [dose, o.controlColumn], [ROW, ROLE], o.seed * 1000 + 2 * s + 2);
      const a = computeDoseResponse(doses, { dose: o.dose, negative, positive, nullSize: o.nullSize, seed: o.seed });
      const b = crossValidatedZPrime(ctls, { positive, negative, method: o.section.projection, folds: o.section.folds, seed: o.seed });
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

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

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

/** Merges `value` under `key` into `<dir>/eval.json` (created when missing). */
async function mergeEval(dir: string, key: string, value: unknown): Promise<void> {
  const path = join(dir, RUN_LAYOUT.evaluation);
  let cur: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      cur = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch {
      cur = {};
    }
  }
  await writeFileAtomic(path, JSON.stringify({ ...cur, [key]: value }, null, 2) + '\n');
}

/**
 * The sites the classical arm measures (pixels as stored, no intensity scaling; whole sites, no
 * cell crops) and its options (the reporter, and the nuclei settings of `data.crops` when the
 * recipe cuts cells, so both arms see the same nuclei).
 */
export async function classicalSitesOf(recipe: Recipe, dataPath: string, illuminationDir?: string): Promise<{ sites: Dataset; options: ClassicalFeatureOptions }> {
  const c = recipe.doseResponse.classical;
  if (!c) throw new Error('classicalSitesOf: the recipe has no doseResponse.classical');
  const crops = recipe.data.crops;
  const sites = await readRecipeData({ ...recipe.data, crops: undefined, intensity: undefined }, dataPath, { illuminationDir });
  return { sites, options: { reporter: c.reporter, dna: crops?.channel, ringWidth: c.ringWidth, nuclei: crops ? { sigma: crops.sigma, minArea: crops.minArea, maxArea: crops.maxArea } : undefined } };
}

/** Options of {@link runDoseResponseStage}. */
export interface DoseResponseStageOptions {
  /** The variants whose well embeddings are arms: name -> folder. */
  variants: { name: string; dir: string }[];
  /** The data folder (for the classical arm). */
  dataPath?: string;
  /** The classical arm's site features when the data stage measured them already (see {@link classicalSitesOf}). */
  classical?: ProfileTable;
  log?: (line: string) => void;
}

/** Runs the stage; see the module comment. */
export async function runDoseResponseStage(runDir: string, recipe: Recipe, o: DoseResponseStageOptions): Promise<DoseResponseStageResult> {
  const log = o.log ?? (() => undefined);
  const sec = recipe.doseResponse;
  const e = recipe.evaluation;
  const dose = sec.doseColumn ?? e.labelColumn;
  const inputs: { name: string; dir: string; wells: ProfileTable }[] = [];
  for (const v of o.variants) {
    const p = join(v.dir, wellPathFor(RUN_LAYOUT.embeddings));
    if (!existsSync(p)) throw new UserError(`${p} does not exist: the dose-response stage scores the embed stage's well embeddings. Add "embed" to the recipe's stages.`);
    inputs.push({ name: v.name, dir: v.dir, wells: (await readProfileTable(p)).table });
  }
  if (sec.classical) {
    let table = o.classical;
    const t0 = performance.now();
    if (!table) {
      if (!o.dataPath) throw new UserError('doseResponse.classical reads the images: add the "data" stage to the recipe.');
      const { sites, options } = await classicalSitesOf(recipe, o.dataPath, join(runDir, RUN_LAYOUT.illumination));
      table = await classicalFeatures(await sites.load({ skipBad: recipe.data.skipBad }), options);
    }
    const dir = join(runDir, CLASSICAL_ARM);
    await mkdir(dir, { recursive: true });
    await exportProfiles(join(dir, RUN_LAYOUT.embeddings), table, { aggregate: 'mean' });
    log(`classical: ${table.d} features of ${table.n} sites${o.classical ? ' (measured on the nuclei the cell crops found)' : ` in ${((performance.now() - t0) / 1000).toFixed(0)} s`} -> ${join(dir, RUN_LAYOUT.embeddings)}`);
    inputs.push({ name: CLASSICAL_ARM, dir, wells: (await readProfileTable(join(dir, wellPathFor(RUN_LAYOUT.embeddings)))).table });
  }
  if (inputs.length === 0) throw new UserError('The dose-response stage has no arm: add variants with the embed stage, or doseResponse.classical.');
  const arms: ArmResult[] = [];
  for (const a of inputs) {
    const controls = { column: e.controlColumn, value: e.controlValue };
    const wells = sec.normalize === 'none' ? a.wells : buildProfiles(a.wells, { correction: { method: sec.normalize, groupBy: ['Metadata_Plate'], fitOn: 'controls', controls } }).table;
    const r = scoreArm(wells, { dose, controlColumn: e.controlColumn, negative: e.controlValue, positive: sec.positiveControlValue, section: sec, nullSize: e.mapNullSize, seed: recipe.seed });
    const label = sec.labels[a.name] ?? a.name;
    arms.push({ name: a.name, label, features: wells.d, ...r });
    // The table's numbers: the shuffled means, and the median for Z' (see ArmResult.shuffled).
    const shuffled = r.shuffled && { meanMap: r.shuffled.mean.meanMap, fractionSignificant: r.shuffled.mean.fractionSignificant, spearman: r.shuffled.mean.spearman, zPrimeMedian: r.shuffled.median.zPrime };
    await mergeEval(a.dir, 'doseResponse', { observed: r.observed, columnShuffled: shuffled, permutationP: r.permutationP, positiveControlMap: r.positiveControl?.map });
    const s = r.observed;
    log(`${a.name}: mean mAP ${f3(s.meanMap)}, q<0.05 ${f3(s.fractionSignificant)}, Spearman ${f3(s.spearman)}, Z' ${f3(s.zPrime)}${r.shuffled ? ` (column-shuffled: ${f3(r.shuffled.mean.meanMap)}, ${f3(r.shuffled.mean.spearman)}, Z' median ${f3(r.shuffled.median.zPrime)})` : ''}`);
  }
  const doses = arms[0].perDose.length;
  const markdown = doseResponseMarkdown(arms, doses);
  const files = {
    markdown: join(runDir, RUN_LAYOUT.doseResponseTable),
    json: join(runDir, RUN_LAYOUT.doseResponse),
    doseFigure: join(runDir, RUN_LAYOUT.doseResponseFigure),
    separationFigure: join(runDir, RUN_LAYOUT.controlSeparationFigure),
  };
  const settings = { ...sec, dose, negative: `${e.controlColumn}=${e.controlValue}`, positive: `${e.controlColumn}=${sec.positiveControlValue}` };
  await writeFileAtomic(files.markdown, markdown);
  await writeFileAtomic(files.json, JSON.stringify({ settings, arms }, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  await writeSvgPng(files.doseFigure, doseResponseSvg(arms.map((a) => ({ arm: a.label, dose: a.perDose.map((d) => d.dose), observed: a.perDose.map((d) => d.map), shuffled: a.shuffled?.perDoseMap }))));
  await writeSvgPng(
    files.separationFigure,
    controlSeparationSvg(arms.map((a) => ({ arm: a.label, zPrime: a.observed.zPrime, negative: a.separation.scores.filter((s) => !s.positive).map((s) => s.score), positive: a.separation.scores.filter((s) => s.positive).map((s) => s.score) }))),
  );
  return { arms, markdown, files, settings };
}
