/**
 * The recipe's `dose-response` stage: arms scored side by side on the same wells, in one table.
 * An arm is a variant's well embeddings (`<variant>/embeddings.wells.parquet`, e.g. a trained and
 * an untrained network) or the classical features computed here (`classical/`, per-site
 * intensity statistics and the nuclear / cytoplasmic reporter ratio, embedding/classical.ts).
 * Every arm gets the same well profiles, standardised per plate on the negative controls, then
 * the scores of evaluation/dose-arms.ts (dose-response mAP, Spearman, Z', the shuffled control).
 * Writes `dose-response.{md,json}` and two figures in the run directory, and each arm's numbers
 * into its `eval.json` (merged), so the report's metric table has them too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exportProfiles, wellPathFor } from '../embedding/export.ts';
import { doseResponseMarkdown, f3, scoreArm, type ArmResult } from '../evaluation/dose-arms.ts';
import { readProfileTable } from '../tables/read.ts';
import type { ProfileTable } from '../tables/profile-table.ts';
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

/** What the stage returns (and writes as dose-response.json). */
export interface DoseResponseStageResult {
  arms: ArmResult[];
  /** The Markdown table (also dose-response.md). */
  markdown: string;
  files: { markdown: string; json: string; doseFigure: string; separationFigure: string };
  /** Settings, as written. */
  settings: Recipe['doseResponse'] & { dose: string; negative: string; positive: string };
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
    const r = scoreArm(wells, { dose, controlColumn: e.controlColumn, negative: e.controlValue, positive: sec.positiveControlValue, projection: sec.projection, folds: sec.folds, shuffles: sec.shuffles, nullSize: e.mapNullSize, seed: recipe.seed });
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
