import { escapeXml } from './svg.ts';
import type { MetricEntry } from './run-dir.ts';

/** The generator meta tag of our report pages: the marker that lets `ben report` replace a report it wrote. */
export const REPORT_GENERATOR = 'ben-ssl report';

/** A figure of the page: inline SVG markup or a PNG shown as a data URI. */
export type Figure = { kind: 'svg'; svg: string; caption?: string } | { kind: 'png'; png: Buffer; alt: string; caption?: string };

/** One row of the example-image section. */
export interface ExampleRow {
  plate: string;
  caption?: string;
  before: Buffer;
  after: Buffer;
  channelMeans: number[];
}

/** What the page shows; built by `writeReport`, rendered by {@link renderReportHtml}. */
export interface ReportPage {
  title: string;
  /** Short lines under the title (run dir, model, normalization mode...). */
  facts: string[];
  /** Run display names, in column order. */
  runLabels: string[];
  /** UMAP panels: rows (colourings) x columns (runs). */
  umap: { rowTitle: string; figures: Figure[] }[];
  curves: Figure[];
  /** Metric table: one row per key, one value (or undefined) per run. */
  metrics: { key: string; values: (number | undefined)[] }[];
  examples: ExampleRow[];
  /** Pictures given by the caller (e.g. nuclei detections of a cell recipe), shown as they are. */
  pictures?: { title: string; caption?: string; png: Buffer }[];
  /** Sections left out and why (missing file...). */
  notes: string[];
  /** PNG files written beside the page, relative to it. */
  files: string[];
}

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:26px;margin:0 0 6px}h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px;color:#444}
p.lead{color:#444;max-width:900px;line-height:1.45}ul.facts{color:#555;font-size:13px;margin:4px 0 0;padding-left:18px}
.grid{display:grid;gap:14px}.grid figure{margin:0}.grid svg,.grid img{width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{font-size:12px;color:#666;margin-top:3px}
table.metrics{border-collapse:collapse;font-size:13px;margin-top:6px}
table.metrics th,table.metrics td{border:1px solid #ddd;padding:4px 10px}table.metrics td.num{text-align:right;font-variant-numeric:tabular-nums}
table.metrics tr:nth-child(even) td{background:#f7f7f7}table.metrics th{background:#eef2f7;text-align:left}
table.examples{border-collapse:collapse;font-size:13px}table.examples td,table.examples th{padding:4px 8px;vertical-align:top;text-align:left}
table.examples img{width:160px;height:160px;image-rendering:pixelated;border:1px solid #ccc;display:block}
.note{color:#8a5a00;background:#fff7e0;border:1px solid #f0d890;padding:6px 10px;font-size:13px;margin:6px 0}
.files{font-size:12px;color:#666}
`;

function figureHtml(f: Figure): string {
  const body = f.kind === 'svg' ? f.svg : `<img src="data:image/png;base64,${f.png.toString('base64')}" alt="${escapeXml(f.alt)}">`;
  return `<figure>${body}${f.caption ? `<figcaption>${escapeXml(f.caption)}</figcaption>` : ''}</figure>`;
}

/** Formats a metric value: integers as is, others to 4 significant digits. */
export function formatMetric(v: number | undefined): string {
  if (v === undefined) return '–';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

/** Rows of a metric table from per-run flattened summaries (union of keys, first-seen order). */
export function metricRows(perRun: MetricEntry[][]): { key: string; values: (number | undefined)[] }[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const entries of perRun) for (const e of entries) if (!seen.has(e.key)) (seen.add(e.key), keys.push(e.key));
  const maps = perRun.map((entries) => new Map(entries.map((e) => [e.key, e.value])));
  return keys.map((key) => ({ key, values: maps.map((m) => m.get(key)) }));
}

/**
 * The self-contained report page: inline CSS, inline SVG and data-URI PNGs, no script and no
 * external resource, so it opens from disk, from an e-mail attachment or offline.
 */
export function renderReportHtml(page: ReportPage): string {
  const cols = Math.max(1, page.runLabels.length);
  const s: string[] = [];
  s.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="generator" content="${REPORT_GENERATOR}">`);
  s.push(`<title>${escapeXml(page.title)}</title><style>${CSS}</style></head><body><main>`);
  s.push(`<h1>${escapeXml(page.title)}</h1>`);
  if (page.facts.length) s.push(`<ul class="facts">${page.facts.map((f) => `<li>${escapeXml(f)}</li>`).join('')}</ul>`);
  s.push(
    `<p class="lead">Batch effects normalization (BEN, Lin &amp; Lu 2022) trains with every minibatch drawn from one plate, ` +
      `so BatchNorm's batch statistics remove that plate's batch effect. If it works, images from different plates mix in the ` +
      `embedding (UMAP coloured by plate) while treatments stay apart (coloured by treatment); the random-batch baseline ` +
      `keeps plates apart.</p>`,
  );
  for (const n of page.notes) s.push(`<div class="note">${escapeXml(n)}</div>`);

  s.push(`<h2 id="umap">Embeddings (UMAP)</h2>`);
  if (page.umap.length === 0) s.push(`<p>No embeddings to show.</p>`);
  for (const row of page.umap) {
    s.push(`<h3>${escapeXml(row.rowTitle)}</h3><div class="grid" style="grid-template-columns:repeat(${cols},1fr)">`);
    s.push(row.figures.map(figureHtml).join(''));
    s.push(`</div>`);
  }

  s.push(`<h2 id="curves">Training curves</h2>`);
  if (page.curves.length === 0) s.push(`<p>No training curves to show.</p>`);
  else s.push(`<div class="grid" style="grid-template-columns:repeat(${Math.min(2, page.curves.length)},1fr)">${page.curves.map(figureHtml).join('')}</div>`);

  s.push(`<h2 id="metrics">Evaluation</h2>`);
  if (page.metrics.length === 0) s.push(`<p>No evaluation summary to show.</p>`);
  else {
    s.push(`<table class="metrics"><thead><tr><th>metric</th>${page.runLabels.map((l) => `<th>${escapeXml(l)}</th>`).join('')}</tr></thead><tbody>`);
    for (const r of page.metrics) {
      s.push(`<tr><td>${escapeXml(r.key)}</td>${r.values.map((v) => `<td class="num">${formatMetric(v)}</td>`).join('')}</tr>`);
    }
    s.push(`</tbody></table>`);
  }

  s.push(`<h2 id="examples">Example images per plate</h2>`);
  if (page.examples.length === 0) s.push(`<p>No example images to show.</p>`);
  else {
    s.push(
      `<p class="lead">Raw pixels (left, fixed display scale, so plate-to-plate brightness and colour differences show) and after ` +
        `per-image, per-channel standardisation (right, z in [−3, 3] shown as black to white), as the network sees them.</p>`,
    );
    s.push(`<table class="examples"><thead><tr><th>plate</th><th>raw</th><th>standardised</th></tr></thead><tbody>`);
    for (const e of page.examples) {
      const means = e.channelMeans.map((m) => m.toFixed(3)).join(' / ');
      s.push(
        `<tr><td><b>${escapeXml(e.plate)}</b>${e.caption ? `<br>${escapeXml(e.caption)}` : ''}<br><span class="files">channel means ${means}</span></td>` +
          `<td><img src="data:image/png;base64,${e.before.toString('base64')}" alt="${escapeXml(e.plate)} raw"></td>` +
          `<td><img src="data:image/png;base64,${e.after.toString('base64')}" alt="${escapeXml(e.plate)} standardised"></td></tr>`,
      );
    }
    s.push(`</tbody></table>`);
  }
  for (const p of page.pictures ?? []) {
    s.push(`<h2>${escapeXml(p.title)}</h2>${p.caption ? `<p class="lead">${escapeXml(p.caption)}</p>` : ''}`);
    s.push(`<p><img style="max-width:100%" src="data:image/png;base64,${p.png.toString('base64')}" alt="${escapeXml(p.title)}"></p>`);
  }
  if (page.files.length) s.push(`<h2 id="files">Figures as PNG</h2><p class="files">${page.files.map((f) => `<a href="${escapeXml(f)}">${escapeXml(f)}</a>`).join('<br>')}</p>`);
  s.push(`</main></body></html>\n`);
  return s.join('\n');
}
