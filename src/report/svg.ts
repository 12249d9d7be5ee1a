/**
 * Small SVG builders for the report: a categorical scatter plot with a legend (UMAPs) and a line
 * chart (training curves). They return standalone SVG strings that render the same inline in
 * HTML, in a notebook (`tslab.display.svg`) and through sharp/librsvg to PNG, so they use only
 * plain SVG 1.1 (no CSS classes, no foreignObject, fonts with generic fallbacks).
 */

/** Font stack: DejaVu is what Debian's chromium and librsvg have; the rest are fallbacks. */
export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

/** Escapes text for XML/HTML element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Tableau 10 then its light variants: distinct, colour-blind-aware, familiar from matplotlib. */
const TAB20 = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94', '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5',
];

/**
 * Colour of the i-th category: tab20 for the first 20, then hues spaced by the golden angle so
 * many categories (hundreds of siRNAs) still get distinct, stable colours.
 */
export function categoryColor(i: number): string {
  if (i < TAB20.length) return TAB20[i];
  const hue = (i * 137.508) % 360;
  const light = 35 + ((i * 7) % 4) * 10;
  return `hsl(${hue.toFixed(1)},65%,${light}%)`;
}

/** Sorts labels the way people read them: `Plate2` before `Plate10`. */
export function naturalSort(labels: Iterable<string>): string[] {
  return [...labels].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** Round, human-friendly tick positions covering [lo, hi] (about `count` of them). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const e = 1 + 1e-9; // tolerance: 0.2 / 0.1 is 2.0000000000000004
  const step = (norm <= e ? 1 : norm <= 2 * e ? 2 : norm <= 5 * e ? 5 : 10) * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

/** True when `v` reads better in exponent form (very large or very small magnitude). */
function needsExponent(v: number): boolean {
  const a = Math.abs(v);
  return v !== 0 && (a >= 1e5 || a < 1e-3);
}

/**
 * Short tick label: no float noise, exponent form for very large or small magnitudes (or when
 * `exponent` is set, so all ticks of one axis share a form).
 */
export function formatTick(v: number, opts: { exponent?: boolean } = {}): string {
  if (v === 0) return '0';
  if (opts.exponent ?? needsExponent(v)) return v.toExponential(Number(v.toExponential(1)) === v ? 1 : 2).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(4)));
}

/** Tick labels of one axis, all in the same form. */
function formatTicks(ticks: number[]): string[] {
  const exp = ticks.some(needsExponent);
  return ticks.map((t) => formatTick(t, { exponent: exp }));
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="${FONT}" ${attrs}>${escapeXml(s)}</text>`;
}

function svgOpen(width: number, height: number, title: string | undefined): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">` +
    (title ? `<title>${escapeXml(title)}</title>` : '') +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`
  );
}

/** Options of {@link scatterSvg}. */
export interface ScatterOptions {
  /** Title drawn above the plot. */
  title?: string;
  /** Second line under the title (e.g. how many points). */
  subtitle?: string;
  /** Legend heading (e.g. the column name). */
  legendTitle?: string;
  width?: number;
  height?: number;
  /** Marker radius in pixels. */
  radius?: number;
  /** Legend entries shown before "+ N more". */
  maxLegend?: number;
  /** Fixed category order (and so colours); defaults to the natural sort of the labels present. */
  categories?: string[];
  /** Axis names. */
  xLabel?: string;
  yLabel?: string;
}

/**
 * A scatter plot of points (x[i], y[i]) coloured by `labels[i]`, with a legend on the right.
 * Points are drawn in a fixed interleaved order (not grouped by label) so no category hides the
 * others just by being drawn last. Axes carry no ticks: UMAP coordinates have no units.
 */
export function scatterSvg(x: ArrayLike<number>, y: ArrayLike<number>, labels: ArrayLike<string>, opts: ScatterOptions = {}): string {
  const n = x.length;
  if (y.length !== n || labels.length !== n) throw new Error(`scatterSvg: x, y and labels differ in length (${n}, ${y.length}, ${labels.length})`);
  const width = opts.width ?? 520;
  const height = opts.height ?? 420;
  const r = opts.radius ?? (n > 3000 ? 1.6 : n > 1000 ? 2.2 : 3);
  const maxLegend = opts.maxLegend ?? 16;
  const present = new Set<string>();
  for (let i = 0; i < n; i++) present.add(labels[i]);
  const cats = opts.categories ?? naturalSort(present);
  const colorOf = new Map(cats.map((c, i) => [c, categoryColor(i)]));

  const legendW = 150;
  const top = opts.subtitle ? 50 : 34;
  const pad = { left: 28, right: legendW + 10, top, bottom: 26 };
  const pw = width - pad.left - pad.right;
  const ph = height - pad.top - pad.bottom;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, x[i]); x1 = Math.max(x1, x[i]);
    y0 = Math.min(y0, y[i]); y1 = Math.max(y1, y[i]);
  }
  if (n === 0) { x0 = y0 = 0; x1 = y1 = 1; }
  const sx = pw / (x1 - x0 || 1);
  const sy = ph / (y1 - y0 || 1);
  const m = 6; // inner margin so markers at the extremes are not clipped

  const out: string[] = [svgOpen(width, height, opts.title)];
  if (opts.title) out.push(text(pad.left, 20, opts.title, 'font-size="15" font-weight="bold" fill="#222"'));
  if (opts.subtitle) out.push(text(pad.left, 38, opts.subtitle, 'font-size="11.5" fill="#555"'));
  out.push(`<rect x="${pad.left - m}" y="${pad.top - m}" width="${pw + 2 * m}" height="${ph + 2 * m}" fill="none" stroke="#bbb"/>`);
  out.push(text(pad.left + pw / 2, height - 6, opts.xLabel ?? 'UMAP 1', 'font-size="11" fill="#555" text-anchor="middle"'));
  const ly = pad.top + ph / 2;
  out.push(text(14, ly, opts.yLabel ?? 'UMAP 2', `font-size="11" fill="#555" text-anchor="middle" transform="rotate(-90 14 ${ly.toFixed(1)})"`));

  // Interleave: a fixed multiplicative stride visits every index once in a scrambled order.
  const stride = n > 1 ? coprimeStride(n) : 1;
  out.push('<g fill-opacity="0.75">');
  for (let k = 0; k < n; k++) {
    const i = (k * stride) % n;
    const px = pad.left + (x[i] - x0) * sx;
    const py = pad.top + ph - (y[i] - y0) * sy;
    out.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="${r}" fill="${colorOf.get(labels[i]) ?? '#999'}"/>`);
  }
  out.push('</g>');

  const lx = width - legendW;
  let yy = pad.top + 4;
  if (opts.legendTitle) {
    out.push(text(lx, yy + 4, opts.legendTitle, 'font-size="12" font-weight="bold" fill="#333"'));
    yy += 18;
  }
  const shown = cats.slice(0, maxLegend);
  for (const c of shown) {
    out.push(`<circle cx="${lx + 5}" cy="${yy}" r="5" fill="${colorOf.get(c)}"/>`);
    out.push(text(lx + 15, yy + 4, truncate(c, 19), 'font-size="11.5" fill="#333"'));
    yy += 17;
  }
  if (cats.length > shown.length) out.push(text(lx, yy + 4, `+ ${cats.length - shown.length} more`, 'font-size="11.5" fill="#777"'));
  out.push('</svg>');
  return out.join('');
}

/** A line of a {@link lineChartSvg}. */
export interface LineSeries {
  /** Legend name. */
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Stroke colour; defaults to the series' category colour. */
  color?: string;
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** A y range the axis covers at least (e.g. [0, 1] for a precision), so panels compare. */
  yRange?: [number, number];
  /** Corner of the legend inside the plot (default top-right): where the lines are not. */
  legendAt?: 'top-right' | 'bottom-right';
}

/**
 * A line chart of several series over shared axes with ticks, a light grid and a legend.
 * Non-finite points (a NaN loss) break the line instead of corrupting the axis range.
 */
export function lineChartSvg(series: LineSeries[], opts: LineChartOptions = {}): string {
  const width = opts.width ?? 520;
  const height = opts.height ?? 320;
  const pad = { left: 62, right: 16, top: opts.title ? 34 : 14, bottom: 44 };
  const pw = width - pad.left - pad.right;
  const ph = height - pad.top - pad.bottom;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.x[i]) || !Number.isFinite(s.y[i])) continue;
      x0 = Math.min(x0, s.x[i]); x1 = Math.max(x1, s.x[i]);
      y0 = Math.min(y0, s.y[i]); y1 = Math.max(y1, s.y[i]);
    }
  }
  if (x0 === Infinity) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  if (opts.yRange) { y0 = Math.min(y0, opts.yRange[0]); y1 = Math.max(y1, opts.yRange[1]); }
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 === y0) { const h = Math.abs(y0) * 0.1 || 0.5; y0 -= h; y1 += h; } // a constant curve (lr) sits mid-axis at its value
  const yPad = (y1 - y0) * 0.05;
  y0 -= yPad; y1 += yPad;
  const X = (v: number) => pad.left + ((v - x0) / (x1 - x0)) * pw;
  const Y = (v: number) => pad.top + ph - ((v - y0) / (y1 - y0)) * ph;

  const out: string[] = [svgOpen(width, height, opts.title)];
  if (opts.title) out.push(text(pad.left, 20, opts.title, 'font-size="15" font-weight="bold" fill="#222"'));
  const yTicks = niceTicks(y0, y1, 5);
  const yLabels = formatTicks(yTicks);
  yTicks.forEach((t, i) => {
    const py = Y(t);
    out.push(`<line x1="${pad.left}" x2="${pad.left + pw}" y1="${py.toFixed(1)}" y2="${py.toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(text(pad.left - 6, py + 4, yLabels[i], 'font-size="11" fill="#555" text-anchor="end"'));
  });
  const xTicks = niceTicks(x0, x1, 6);
  const xLabels = formatTicks(xTicks);
  xTicks.forEach((t, i) => {
    const px = X(t);
    out.push(`<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${pad.top}" y2="${pad.top + ph}" stroke="#f0f0f0"/>`);
    out.push(text(px, pad.top + ph + 16, xLabels[i], 'font-size="11" fill="#555" text-anchor="middle"'));
  });
  out.push(`<rect x="${pad.left}" y="${pad.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  if (opts.xLabel) out.push(text(pad.left + pw / 2, height - 8, opts.xLabel, 'font-size="12" fill="#333" text-anchor="middle"'));
  if (opts.yLabel) {
    const ly = pad.top + ph / 2;
    out.push(text(15, ly, opts.yLabel, `font-size="12" fill="#333" text-anchor="middle" transform="rotate(-90 15 ${ly.toFixed(1)})"`));
  }
  series.forEach((s, si) => {
    const color = s.color ?? categoryColor(si);
    let d = '';
    let pen = false;
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.x[i]) || !Number.isFinite(s.y[i])) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${X(s.x[i]).toFixed(1)} ${Y(s.y[i]).toFixed(1)}`;
      pen = true;
    }
    if (d) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"/>`);
    if (s.x.length === 1 && d) out.push(`<circle cx="${X(s.x[0]).toFixed(1)}" cy="${Y(s.y[0]).toFixed(1)}" r="3" fill="${color}"/>`);
  });
  // Legend in the top-right corner inside the plot, on a white box so lines stay readable.
  const lh = 16;
  const lw = 36 + 6.8 * Math.max(0, ...series.map((s) => Math.min(s.name.length, 32)));
  const lx = pad.left + pw - lw - 6;
  const ly0 = opts.legendAt === 'bottom-right' ? pad.top + ph - 6 - (series.length * lh + 6) : pad.top + 6;
  if (series.length > 0) {
    out.push(`<rect x="${lx}" y="${ly0}" width="${lw}" height="${series.length * lh + 6}" fill="#fff" fill-opacity="0.85" stroke="#ddd"/>`);
    series.forEach((s, si) => {
      const yy = ly0 + 12 + si * lh;
      out.push(`<line x1="${lx + 6}" x2="${lx + 22}" y1="${yy - 4}" y2="${yy - 4}" stroke="${s.color ?? categoryColor(si)}" stroke-width="2.5"/>`);
      out.push(text(lx + 28, yy, truncate(s.name, 32), 'font-size="11.5" fill="#333"'));
    });
  }
  out.push('</svg>');
  return out.join('');
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A stride near n·0.618 that is coprime with n, so (k·stride) mod n is a permutation. */
function coprimeStride(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let s = Math.max(1, Math.round(n * 0.6180339887));
  while (gcd(s, n) !== 1) s++;
  return s;
}
