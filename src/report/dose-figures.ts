/**
 * The two figures of a dose-response comparison (recipe/dose-response.ts), as plain SVG like the
 * rest of the report (svg.ts), rendered to PNG by sharp:
 * - dose vs activity mAP, one panel per arm: the observed mAP per dose and the mean over the
 *   column-shuffled permutations;
 * - control separation: the held-out 1-D projection score of every positive and negative control
 *   well, one column pair per arm, with each class's mean and the arm's Z'.
 */
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic.ts';
import { escapeXml, FONT, formatTick, lineChartSvg, niceTicks } from './svg.ts';

/** One arm's dose-response curve: observed and shuffled mAP per dose. */
export interface DoseCurve {
  arm: string;
  dose: number[];
  observed: number[];
  shuffled?: number[];
}

/** Panels side by side in one SVG (each a complete SVG of `w` x `h`). */
function panels(svgs: string[], w: number, h: number, perRow: number): string {
  const rows = Math.ceil(svgs.length / perRow);
  const W = Math.min(svgs.length, perRow) * w;
  const H = rows * h;
  const inner = svgs.map((s, i) => s.replace('<svg ', `<svg x="${(i % perRow) * w}" y="${Math.floor(i / perRow) * h}" `)).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><rect width="${W}" height="${H}" fill="#fff"/>${inner}</svg>`;
}

/** The dose vs mAP figure: one panel per arm, observed (blue) and column-shuffled mean (grey). */
export function doseResponseSvg(curves: DoseCurve[]): string {
  const w = 420, h = 300;
  const svgs = curves.map((c) =>
    lineChartSvg(
      [
        { name: 'observed', x: c.dose, y: c.observed, color: '#1f77b4' },
        ...(c.shuffled ? [{ name: 'column-shuffled (mean)', x: c.dose, y: c.shuffled, color: '#999999' }] : []),
      ],
      { title: c.arm, xLabel: 'dose', yLabel: 'activity mAP vs negative controls', width: w, height: h, yRange: [0, 1], legendAt: 'bottom-right' },
    ),
  );
  return panels(svgs, w, h, 3);
}

/** One arm's held-out control scores. */
export interface SeparationArm {
  arm: string;
  zPrime: number;
  negative: number[];
  positive: number[];
}

/**
 * The control-separation strip chart: per arm, the held-out projection scores of the negative
 * (grey) and positive (red) control wells, jittered, with a bar at each class mean; the scale is
 * the projection's calibration (training negatives 0, positives 1).
 */
export function controlSeparationSvg(arms: SeparationArm[]): string {
  const colW = 190;
  const pad = { left: 58, right: 16, top: 40, bottom: 58 };
  const width = pad.left + pad.right + arms.length * colW;
  const height = 360;
  const ph = height - pad.top - pad.bottom;
  const all = arms.flatMap((a) => [...a.negative, ...a.positive]).filter(Number.isFinite);
  let lo = Math.min(0, ...all), hi = Math.max(1, ...all);
  const padY = (hi - lo) * 0.05;
  lo -= padY;
  hi += padY;
  const Y = (v: number) => pad.top + ph - ((v - lo) / (hi - lo)) * ph;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="${width}" height="${height}" fill="#fff"/>`];
  out.push(`<text x="${pad.left}" y="20" font-family="${FONT}" font-size="15" font-weight="bold" fill="#222">Control separation (held-out projection)</text>`);
  for (const t of niceTicks(lo, hi, 6)) {
    out.push(`<line x1="${pad.left}" x2="${width - pad.right}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="${t === 0 || t === 1 ? '#bbb' : '#eee'}"/>`);
    out.push(`<text x="${pad.left - 6}" y="${(Y(t) + 4).toFixed(1)}" font-family="${FONT}" font-size="11" fill="#555" text-anchor="end">${formatTick(t)}</text>`);
  }
  const ly = pad.top + ph / 2;
  out.push(`<text x="14" y="${ly}" font-family="${FONT}" font-size="12" fill="#333" text-anchor="middle" transform="rotate(-90 14 ${ly})">score (neg. mean 0, pos. mean 1 in training)</text>`);
  arms.forEach((a, k) => {
    const x0 = pad.left + k * colW;
    const groups: [string, number[], string, number][] = [
      ['neg', a.negative, '#7f7f7f', x0 + colW * 0.3],
      ['pos', a.positive, '#d62728', x0 + colW * 0.7],
    ];
    for (const [name, vals, color, cx] of groups) {
      vals.forEach((v, i) => {
        if (!Number.isFinite(v)) return;
        // Deterministic jitter: a low-discrepancy spread across the column.
        const dx = (((i * 0.618034) % 1) - 0.5) * colW * 0.28;
        out.push(`<circle cx="${(cx + dx).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="3.2" fill="${color}" fill-opacity="0.75"/>`);
      });
      const finite = vals.filter(Number.isFinite);
      if (finite.length) {
        const m = finite.reduce((s, v) => s + v, 0) / finite.length;
        out.push(`<line x1="${(cx - colW * 0.18).toFixed(1)}" x2="${(cx + colW * 0.18).toFixed(1)}" y1="${Y(m).toFixed(1)}" y2="${Y(m).toFixed(1)}" stroke="#222" stroke-width="2"/>`);
      }
      out.push(`<text x="${cx.toFixed(1)}" y="${height - pad.bottom + 16}" font-family="${FONT}" font-size="11" fill="#555" text-anchor="middle">${name} (${vals.length})</text>`);
    }
    out.push(`<text x="${(x0 + colW / 2).toFixed(1)}" y="${height - pad.bottom + 34}" font-family="${FONT}" font-size="12.5" font-weight="bold" fill="#222" text-anchor="middle">${escapeXml(a.arm)}</text>`);
    out.push(`<text x="${(x0 + colW / 2).toFixed(1)}" y="${height - pad.bottom + 50}" font-family="${FONT}" font-size="12" fill="#333" text-anchor="middle">Z' = ${Number.isFinite(a.zPrime) ? a.zPrime.toFixed(2) : 'n/a'}</text>`);
    if (k > 0) out.push(`<line x1="${x0}" x2="${x0}" y1="${pad.top}" y2="${pad.top + ph}" stroke="#ddd"/>`);
  });
  out.push(`<rect x="${pad.left}" y="${pad.top}" width="${width - pad.left - pad.right}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push('</svg>');
  return out.join('');
}

/** Renders an SVG to a PNG file (atomically), 2x. */
export async function writeSvgPng(path: string, svg: string): Promise<void> {
  await writeFileAtomic(path, await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer());
}
