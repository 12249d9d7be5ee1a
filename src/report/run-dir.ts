import { readFile, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ProfileTable } from '../tables/profile-table.ts';
import { readProfileTable } from '../tables/read.ts';
import { UserError } from '../util/errors.ts';
import type { ExampleImage } from './images.ts';
import { RUN_LAYOUT } from '../training/run-layout.ts';


/** Run folders shown first, in this order. */
export const PREFERRED_RUNS = ['ben', 'baseline'];

/** A training curve: one metric of one run over steps. */
export interface Curve {
  /** Field name in metrics.jsonl (`loss`, `lr`, ...). */
  metric: string;
  step: number[];
  value: number[];
}

/** Everything the report shows about one run; every field is optional. */
export interface ReportRun {
  /** Folder name and identifier (`ben`, `baseline`). */
  name: string;
  /** Display name (defaults to `BEN` / `Baseline (random batches)` / the name). */
  label?: string;
  /** Image-level embeddings for the UMAPs. */
  embeddings?: ProfileTable;
  /** Training curves. */
  curves?: Curve[];
  /** Evaluation summary (any JSON object; numeric leaves are tabulated). */
  evaluation?: Record<string, unknown>;
}

/** Display name of a run. */
export function runLabel(run: Pick<ReportRun, 'name' | 'label'>): string {
  if (run.label) return run.label;
  if (run.name === 'ben') return 'BEN (one plate per batch)';
  if (run.name === 'baseline') return 'Baseline (random batches)';
  if (run.name === 'baseline-plate-stats') return 'Baseline model, plate statistics';
  return run.name;
}

/** Keys of metrics.jsonl records that are bookkeeping, not curves. */
const NOT_CURVES = new Set(['step', 'epoch', 'time', 'timestamp']);

/**
 * Curves from metrics.jsonl records: x is the record's numeric `step` (else its index), each other
 * finite numeric field is a curve. Records without the field simply do not add a point.
 */
export function curvesFromRecords(records: readonly Record<string, unknown>[]): Curve[] {
  const byMetric = new Map<string, Curve>();
  records.forEach((r, i) => {
    const step = typeof r.step === 'number' && Number.isFinite(r.step) ? r.step : i;
    for (const [k, v] of Object.entries(r)) {
      if (NOT_CURVES.has(k) || typeof v !== 'number') continue;
      let c = byMetric.get(k);
      if (!c) byMetric.set(k, (c = { metric: k, step: [], value: [] }));
      c.step.push(step);
      c.value.push(v); // NaN kept: the chart breaks the line there, which is what a user should see
    }
  });
  return [...byMetric.values()];
}

/** Parses metrics.jsonl text; a malformed line is a {@link UserError} naming file and line. */
export function parseMetricsJsonl(text: string, path = 'metrics.jsonl'): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${path} line ${i + 1} is not valid JSON (${(e as Error).message}); fix or delete that line.`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${path} line ${i + 1} is not a JSON object; each line must be one record.`);
    out.push(v as Record<string, unknown>);
  });
  return out;
}

/** A metric row: dotted path of a numeric leaf and its value. */
export interface MetricEntry {
  key: string;
  value: number;
}

/** Numeric leaves of an evaluation summary by dotted path, in document order; arrays are skipped. */
export function flattenMetrics(obj: unknown, prefix = ''): MetricEntry[] {
  const out: MetricEntry[] = [];
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return out;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') out.push({ key, value: v });
    else if (typeof v === 'boolean') out.push({ key, value: v ? 1 : 0 });
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...flattenMetrics(v, key));
  }
  return out;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Run folders of `runDir` per the contract, preferred ones first. */
export async function discoverRuns(runDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(runDir, { withFileTypes: true });
  } catch {
    throw new UserError(`Run directory "${runDir}" does not exist or cannot be read. Pass the folder \`ben run\` wrote.`);
  }
  const found: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name === RUN_LAYOUT.reportDir || e.name.startsWith('.')) continue;
    const dir = join(runDir, e.name);
    const has = await Promise.all([RUN_LAYOUT.embeddings, RUN_LAYOUT.metrics, RUN_LAYOUT.evaluation].map((f) => isFile(join(dir, f))));
    if (has.some(Boolean)) found.push(e.name);
  }
  const rank = (n: string) => (PREFERRED_RUNS.includes(n) ? PREFERRED_RUNS.indexOf(n) : PREFERRED_RUNS.length);
  return found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * Reads the files of run folder `runDir/name` per the contract into a {@link ReportRun}; fields
 * already set in `given` win and their files are not read.
 */
export async function readRun(runDir: string, name: string, given: Partial<ReportRun> = {}): Promise<ReportRun> {
  const dir = join(runDir, name);
  const run: ReportRun = { ...given, name };
  const emb = join(dir, RUN_LAYOUT.embeddings);
  if (!run.embeddings && (await isFile(emb))) run.embeddings = (await readProfileTable(emb)).table;
  const metrics = join(dir, RUN_LAYOUT.metrics);
  if (!run.curves && (await isFile(metrics))) run.curves = curvesFromRecords(parseMetricsJsonl(await readFile(metrics, 'utf8'), metrics));
  const ev = join(dir, RUN_LAYOUT.evaluation);
  if (!run.evaluation && (await isFile(ev))) {
    try {
      run.evaluation = JSON.parse(await readFile(ev, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new UserError(`${ev} is not valid JSON (${(e as Error).message}); re-run \`ben evaluate\` to rewrite it.`);
    }
  }
  return run;
}

/** Reads `runDir/examples.json` (paths relative to runDir) when present, else undefined. */
export async function readExamplesJson(runDir: string): Promise<ExampleImage[] | undefined> {
  const p = join(runDir, RUN_LAYOUT.examples);
  if (!existsSync(p)) return undefined;
  let list: unknown;
  try {
    list = JSON.parse(await readFile(p, 'utf8'));
  } catch (e) {
    throw new UserError(`${p} is not valid JSON (${(e as Error).message}).`);
  }
  if (!Array.isArray(list)) throw new UserError(`${p} must be a JSON array of { "plate", "path", "caption"? }.`);
  return list.map((x, i) => {
    const o = x as Record<string, unknown>;
    if (typeof o.plate !== 'string' || typeof o.path !== 'string') {
      throw new UserError(`${p} entry ${i}: needs string fields "plate" and "path".`);
    }
    return {
      plate: o.plate,
      path: isAbsolute(o.path) ? o.path : join(runDir, o.path),
      caption: typeof o.caption === 'string' ? o.caption : undefined,
    };
  });
}
