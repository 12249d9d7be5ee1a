import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ProfileTable } from '../tables/profile-table.ts';
import { withAtomicOutput } from '../util/atomic.ts';
import { createProgress } from '../util/progress.ts';
import { UserError } from '../util/errors.ts';
import { renderReportHtml, metricRows, REPORT_GENERATOR, type ExampleRow, type Figure, type ReportPage } from './html.ts';
import { examplePngs, pickExamplesFromDataset, type ExampleImage } from './images.ts';
import { discoverRuns, flattenMetrics, readExamplesJson, readRun, runLabel, type ReportRun } from './run-dir.ts';
import { RUN_LAYOUT } from '../training/run-layout.ts';
import { escapeXml, FONT, lineChartSvg, naturalSort, scatterSvg } from './svg.ts';
import { umapProfiles, type UmapOptions } from './umap.ts';

/** Options of {@link writeReport}. */
export interface WriteReportOptions {
  /**
   * Runs given in memory (e.g. by `ben run` at the end of the quickstart). A field left unset is
   * read from `<runDir>/<name>/` per the contract in run-dir.ts; when `runs` is unset, the run
   * folders of `runDir` are discovered.
   */
  runs?: ReportRun[];
  /** Example images (else `<runDir>/examples.json`, else picked from `datasetDir`). */
  examples?: ExampleImage[];
  /** A data set in the RxRx1-WILDS layout to pick one example image per plate from. */
  datasetDir?: string;
  /** Plates shown in the example section at most (default 8). */
  maxExamplePlates?: number;
  /** Output folder (default `<runDir>/report`); replaced atomically as a whole. */
  outDir?: string;
  /** Page title (default "ben-ssl report: <run dir name>"). */
  title?: string;
  /** Columns whose joint value identifies a plate (default those present of Metadata_Experiment, Metadata_Plate). */
  plateColumns?: string[];
  /** Treatment column (default the first present of Metadata_Label, Metadata_Treatment, Metadata_Compound, Metadata_pert_iname). */
  labelColumn?: string;
  /** UMAP settings (seeded; same seed, same picture). */
  umap?: UmapOptions;
  /** PNG resolution in dpi for the SVG figures (72 = 1 px per SVG unit; default 144, 2x). */
  pngDensity?: number;
  /** No progress output. */
  quiet?: boolean;
  /** PNG files shown in their own sections (e.g. the nuclei detections of a cell recipe). */
  pictures?: { title: string; caption?: string; path: string }[];
}

/** What {@link writeReport} wrote. */
export interface ReportResult {
  /** The HTML page. */
  htmlPath: string;
  /** PNG figures written beside it (absolute paths). */
  figures: string[];
  /** Run names shown, in column order. */
  runs: string[];
  /** Sections left out and why. */
  notes: string[];
}

const DEFAULT_PLATE_COLUMNS = ['Metadata_Experiment', 'Metadata_Plate'];
const LABEL_CANDIDATES = ['Metadata_Label', 'Metadata_Treatment', 'Metadata_Compound', 'Metadata_pert_iname'];

function findColumn(t: ProfileTable, name: string): string[] | undefined {
  return t.meta[name] ?? t.meta[`Metadata_${name}`];
}

/** Per-row plate keys: the named columns present, joined with "/" (plates repeat across experiments in RxRx1). */
function plateKeys(t: ProfileTable, columns: string[] | undefined): string[] | undefined {
  const cols = (columns ?? DEFAULT_PLATE_COLUMNS).map((c) => findColumn(t, c)).filter((c): c is string[] => c !== undefined);
  if (columns && cols.length !== columns.length) {
    throw new UserError(`Plate column(s) ${columns.join(', ')} not all found in the embeddings. Available: ${Object.keys(t.meta).join(', ')}.`);
  }
  if (cols.length === 0) return undefined;
  return Array.from({ length: t.n }, (_, i) => cols.map((c) => c[i]).join('/'));
}

function labelValues(t: ProfileTable, column: string | undefined): { name: string; values: string[] } | undefined {
  if (column) {
    const v = findColumn(t, column);
    if (!v) throw new UserError(`Treatment column "${column}" not found in the embeddings. Available: ${Object.keys(t.meta).join(', ')}.`);
    return { name: column, values: v };
  }
  for (const c of LABEL_CANDIDATES) if (t.meta[c]) return { name: c, values: t.meta[c] };
  return undefined;
}

/** A file-name-safe version of a run or metric name. */
function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || 'x';
}

/** One SVG figure with all example images in a grid (plate rows; raw | standardised). */
function examplesSvg(rows: ExampleRow[]): string {
  const cell = 160, gap = 10, labelW = 180, head = 28;
  const width = labelW + 2 * (cell + gap);
  const height = head + rows.length * (cell + gap);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${labelW}" y="18" font-family="${FONT}" font-size="13" font-weight="bold">raw</text>`,
    `<text x="${labelW + cell + gap}" y="18" font-family="${FONT}" font-size="13" font-weight="bold">standardised</text>`,
  ];
  rows.forEach((r, i) => {
    const y = head + i * (cell + gap);
    out.push(`<text x="4" y="${y + 16}" font-family="${FONT}" font-size="12.5" font-weight="bold">${escapeXml(r.plate)}</text>`);
    if (r.caption) out.push(`<text x="4" y="${y + 34}" font-family="${FONT}" font-size="11" fill="#555">${escapeXml(r.caption)}</text>`);
    [r.before, r.after].forEach((png, k) => {
      const x = labelW + k * (cell + gap);
      out.push(`<image x="${x}" y="${y}" width="${cell}" height="${cell}" preserveAspectRatio="none" xlink:href="data:image/png;base64,${png.toString('base64')}"/>`);
    });
  });
  out.push('</svg>');
  return out.join('');
}

/**
 * Writes the report of a run directory: `<outDir>/index.html` (self-contained: inline CSS, inline
 * SVG figures and data-URI PNGs, no script, no network) and `<outDir>/figures/*.png` (the same
 * figures rendered by sharp). Sections: UMAPs of each run's embeddings coloured by plate and by
 * treatment, side by side (seeded umap-js); training curves from metrics.jsonl; the evaluation
 * metric table; example images per plate before and after per-image standardisation.
 *
 * Inputs follow the run-directory contract documented at {@link RUN_LAYOUT}; `opts.runs` and
 * `opts.examples` give any of them in memory instead. The output folder is built under a
 * temporary name and renamed, so a killed run leaves the previous report or none.
 */
/** Whether `dir` holds a report page this tool wrote (its generator meta tag). */
function isOurReport(dir: string): boolean {
  try {
    return readFileSync(join(dir, 'index.html'), 'utf8').includes(`content="${REPORT_GENERATOR}"`);
  } catch {
    return false;
  }
}

export async function writeReport(runDir: string, opts: WriteReportOptions = {}): Promise<ReportResult> {
  const root = resolve(runDir);
  const outDir = resolve(opts.outDir ?? join(root, RUN_LAYOUT.reportDir));
  const notes: string[] = [];

  // 1. Gather inputs: in-memory runs first, files fill the gaps.
  let runs: ReportRun[];
  if (opts.runs) {
    runs = await Promise.all(opts.runs.map((r) => readRun(root, r.name, r)));
  } else {
    const names = await discoverRuns(root);
    if (names.length === 0) {
      throw new UserError(
        `No runs found in "${runDir}": expected sub-folders (ben/, baseline/) holding ${RUN_LAYOUT.embeddings}, ${RUN_LAYOUT.metrics} or ${RUN_LAYOUT.evaluation}.`,
      );
    }
    runs = await Promise.all(names.map((n) => readRun(root, n)));
  }
  let examples = opts.examples ?? (await readExamplesJson(root));
  if (!examples && opts.datasetDir) examples = await pickExamplesFromDataset(opts.datasetDir, opts.maxExamplePlates ?? 8);
  if (examples) examples = examples.slice(0, opts.maxExamplePlates ?? 8);

  const labels = runs.map(runLabel);
  const withEmb = runs.filter((r) => r.embeddings && r.embeddings.n > 0);
  const progress = createProgress({ label: 'report', total: withEmb.length + 2, unit: 'fig', quiet: opts.quiet });

  // 2. UMAPs: one per run, shown twice (by plate, by treatment) with shared category colours.
  const umapRows: ReportPage['umap'] = [];
  const pngJobs: { name: string; svg: string; density?: number }[] = [];
  if (withEmb.length === 0) notes.push(`No embeddings: put ${RUN_LAYOUT.embeddings} in each run folder to see the UMAPs.`);
  else {
    const layouts = withEmb.map((r) => {
      const t = r.embeddings!;
      const u = umapProfiles(t, opts.umap);
      progress.tick(1, { umap: r.name });
      const pick = (vals: string[] | undefined) => (vals ? Array.from(u.rows, (i) => vals[i]) : undefined);
      const lab = labelValues(t, opts.labelColumn);
      return { run: r, u, plate: pick(plateKeys(t, opts.plateColumns)), label: lab && pick(lab.values), labelName: lab?.name, n: t.n };
    });
    const colourings = [
      { key: 'plate', title: 'Coloured by plate (should mix under BEN)', get: (l: (typeof layouts)[number]) => l.plate, legend: 'plate' },
      { key: 'treatment', title: 'Coloured by treatment (should stay apart)', get: (l: (typeof layouts)[number]) => l.label, legend: layouts.find((l) => l.labelName)?.labelName?.replace(/^Metadata_/, '') ?? 'treatment' },
    ];
    for (const c of colourings) {
      if (layouts.every((l) => !c.get(l))) {
        notes.push(`The embeddings have no ${c.key} column, so the UMAP by ${c.key} is left out.`);
        continue;
      }
      // One category order (and so one colour per category) across the runs of a row.
      const cats = naturalSort(new Set(layouts.flatMap((l) => c.get(l) ?? [])));
      const figures: Figure[] = layouts.map((l) => {
        const vals = c.get(l);
        const m = l.u.rows.length;
        const x = Array.from({ length: m }, (_, k) => l.u.xy[2 * k]);
        const y = Array.from({ length: m }, (_, k) => l.u.xy[2 * k + 1]);
        const svg = scatterSvg(x, y, vals ?? new Array<string>(m).fill('(none)'), {
          title: runLabel(l.run),
          subtitle: `${m === l.n ? m : `${m} of ${l.n}`} images · by ${c.legend}`,
          legendTitle: c.legend,
          categories: vals ? cats : ['(none)'],
        });
        pngJobs.push({ name: `umap_${slug(l.run.name)}_by_${c.key}.png`, svg });
        return { kind: 'svg', svg };
      });
      umapRows.push({ rowTitle: c.title, figures });
    }
  }

  // 3. Training curves: one chart per metric (loss first), one line per run.
  const metricNames = naturalSort(new Set(runs.flatMap((r) => (r.curves ?? []).map((c) => c.metric))));
  metricNames.sort((a, b) => Number(b === 'loss') - Number(a === 'loss'));
  const curveFigs: Figure[] = [];
  for (const metric of metricNames) {
    const series = runs.flatMap((r, ri) => {
      const c = r.curves?.find((x) => x.metric === metric);
      return c && c.step.length ? [{ name: labels[ri], x: c.step, y: c.value, color: undefined as string | undefined, ri }] : [];
    });
    // Colour by run position so a run keeps its colour across charts.
    const svg = lineChartSvg(series.map((s) => ({ name: s.name, x: s.x, y: s.y, color: ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'][s.ri % 5] })), {
      title: metric,
      xLabel: 'step',
      yLabel: metric,
    });
    pngJobs.push({ name: `curve_${slug(metric)}.png`, svg });
    curveFigs.push({ kind: 'svg', svg });
  }
  if (metricNames.length === 0) notes.push(`No training curves: ${RUN_LAYOUT.metrics} is missing or has no numeric fields.`);
  progress.tick(1, { stage: 'curves' });

  // 4. Metric table.
  const metrics = metricRows(runs.map((r) => flattenMetrics(r.evaluation ?? {})));
  if (metrics.length === 0) notes.push(`No evaluation metrics: put ${RUN_LAYOUT.evaluation} (from \`ben evaluate\`) in each run folder.`);

  // 5. Example images.
  const exampleRows: ExampleRow[] = [];
  for (const ex of examples ?? []) exampleRows.push({ plate: ex.plate, caption: ex.caption, ...(await examplePngs(ex)) });
  if (exampleRows.length) pngJobs.push({ name: 'examples.png', svg: examplesSvg(exampleRows), density: 72 }); // photos: 1x keeps the PNG small
  else notes.push(`No example images: pass --data <dataset dir> (RxRx1-WILDS layout) or write ${RUN_LAYOUT.examples}.`);
  progress.tick(1, { stage: 'images' });

  const facts = [`run directory: ${root}`];
  for (const r of withEmb) {
    const kv = r.embeddings!.keyValue ?? {};
    const extra = ['model', 'normalization', 'recipe'].filter((k) => kv[k] && kv[k].length < 120).map((k) => `${k} ${kv[k]}`);
    facts.push(`${runLabel(r)}: ${r.embeddings!.n} images × ${r.embeddings!.d} features${extra.length ? ` · ${extra.join(' · ')}` : ''}`);
  }
  const page: ReportPage = {
    title: opts.title ?? `ben-ssl report: ${basename(root)}`,
    facts,
    runLabels: labels,
    umap: umapRows,
    curves: curveFigs,
    metrics,
    examples: exampleRows,
    pictures: await Promise.all((opts.pictures ?? []).map(async (p) => ({ title: p.title, caption: p.caption, png: await readFile(p.path) }))),
    notes,
    files: pngJobs.map((j) => `figures/${j.name}`),
  };

  // 6. Write the folder atomically: figures as PNG, then the page.
  const density = opts.pngDensity ?? 144;
  const figures = await withAtomicOutput(outDir, async (tmp) => {
    await mkdir(join(tmp, 'figures'), { recursive: true });
    for (const j of pngJobs) await sharp(Buffer.from(j.svg), { density: j.density ?? density }).png().toFile(join(tmp, 'figures', j.name));
    await writeFile(join(tmp, 'index.html'), renderReportHtml(page));
    return pngJobs.map((j) => join(outDir, 'figures', j.name));
  }, { marker: isOurReport, markerName: 'index.html written by ben report', inputs: [root, ...(opts.datasetDir ? [opts.datasetDir] : [])], flag: '--out' });
  progress.stop();
  return { htmlPath: join(outDir, 'index.html'), figures, runs: runs.map((r) => r.name), notes };
}
