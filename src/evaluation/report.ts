/**
 * Formats an {@link EvaluationResult}: a JSON summary (no per-row tables), a Markdown table, and an
 * output folder with per-profile / per-group CSV tables, written atomically.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EvaluationResult } from './evaluate.ts';
import type { ResultRows } from './metric.ts';
import { markerFile, withAtomicOutput } from '../util/atomic.ts';
import { summaryScore } from './summary-score.ts';

/** The summary as plain JSON (tables left out; NaN becomes null). */
export function summarizeEvaluation(r: EvaluationResult): Record<string, unknown> {
  return {
    input: r.input,
    preprocessing: r.preprocessing,
    columns: r.columns,
    seed: r.seed,
    options: r.options,
    metrics: Object.fromEntries(Object.entries(r.metrics).map(([k, m]) => [k, { ...m.summary, seconds: Number(m.seconds.toFixed(3)) }])),
    ...(summaryScore(r.metrics) ? { summaryScore: summaryScore(r.metrics) } : {}),
  };
}

function fmt(v: number | string | boolean): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v.toFixed(4);
  return String(v);
}

/** A Markdown table `| metric | value |`, one row per summary value. */
export function formatMarkdown(r: EvaluationResult): string {
  const lines = [
    `Profiles: ${r.input.n} x ${r.input.d} features from ${r.input.source}; normalization: ${r.preprocessing.normalize}`,
    '',
    '| metric | value |',
    '|---|---|',
  ];
  for (const [name, m] of Object.entries(r.metrics)) {
    for (const [k, v] of Object.entries(m.summary)) lines.push(`| ${name} ${k} | ${fmt(v)} |`);
  }
  const s = summaryScore(r.metrics);
  if (s) {
    lines.push('', `Summary score, ${s.weighting}:`, '', '| score | value | from |', '|---|---|---|');
    lines.push(`| batch removal | ${fmt(s.batchRemoval)} | ${Object.keys(s.components).filter((c) => /batch_score|ilisi|graph/.test(c)).join(', ')} |`);
    lines.push(`| biology conservation | ${fmt(s.bioConservation)} | ${Object.keys(s.components).filter((c) => !/batch_score|ilisi|graph/.test(c)).join(', ')} |`);
    lines.push(`| overall | ${fmt(s.overall)} | |`);
  }
  return lines.join('\n') + '\n';
}

/** RFC 4180 CSV of `rows` (columns: the union of keys, in first-seen order). */
export function toCsv(rows: ResultRows): string {
  const cols: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.has(k)) (seen.add(k), cols.push(k));
  const esc = (v: unknown) => {
    const s = v === undefined ? '' : typeof v === 'number' && Number.isNaN(v) ? '' : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.map(esc).join(','), ...rows.map((r) => cols.map((c) => esc(r[c])).join(','))].join('\n') + '\n';
}

/**
 * Writes `summary.json`, `summary.md` and `<metric>__<table>.csv` for every table into `dir`,
 * atomically (the folder appears complete or not at all). Returns the file names.
 */
export async function writeEvaluation(dir: string, r: EvaluationResult, opts: { inputs?: readonly string[] } = {}): Promise<string[]> {
  return withAtomicOutput(dir, async (tmp) => {
    await mkdir(tmp, { recursive: true });
    const files: [string, string][] = [
      ['summary.json', JSON.stringify(summarizeEvaluation(r), (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n'],
      ['summary.md', formatMarkdown(r)],
    ];
    for (const [name, m] of Object.entries(r.metrics)) {
      for (const [tname, rows] of Object.entries(m.tables)) files.push([`${name}__${tname}.csv`, toCsv(rows)]);
    }
    for (const [f, text] of files) await writeFile(join(tmp, f), text);
    return files.map(([f]) => f);
  }, { marker: markerFile('summary.json'), markerName: 'summary.json', inputs: opts.inputs, flag: '--out' });
}
