/**
 * A PNG of nuclei detections for a report: each field's DNA channel (contrast-stretched to its
 * 0.5-99.5 % percentiles) with every detection's bounding box (a 1-px ring just outside the
 * object) and centroid drawn over it, fields side by side. Drawn with sharp (an SVG overlay
 * composited on the grey image).
 */
import sharp, { type OverlayOptions } from 'sharp';
import { writeFileAtomic } from '../util/atomic.ts';
import type { Nucleus } from '../data/cells/nuclei.ts';

/** One panel of the figure. */
export interface NucleiPanel {
  /** The DNA plane [height * width] (any scale). */
  plane: Float32Array;
  height: number;
  width: number;
  nuclei: readonly Nucleus[];
  /** Caption drawn in the panel's corner (e.g. the file name and count). */
  title?: string;
}

function stretch(plane: Float32Array): Uint8Array {
  const sorted = Float32Array.from(plane).sort();
  const lo = sorted[Math.floor(0.005 * (sorted.length - 1))];
  const hi = sorted[Math.floor(0.995 * (sorted.length - 1))];
  const s = hi > lo ? 255 / (hi - lo) : 0;
  return Uint8Array.from(plane, (v) => Math.max(0, Math.min(255, Math.round((v - lo) * s))));
}

const escapeXml = (t: string) => t.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** Writes the panels side by side (8 px apart) as a PNG to `path` (atomically); returns its size. */
export async function writeNucleiFigure(path: string, panels: readonly NucleiPanel[]): Promise<{ width: number; height: number }> {
  const gap = 8;
  const H = Math.max(...panels.map((p) => p.height));
  const W = panels.reduce((s, p) => s + p.width, 0) + gap * (panels.length - 1);
  const composites: OverlayOptions[] = [];
  const shapes: string[] = [];
  let left = 0;
  for (const p of panels) {
    const grey = stretch(p.plane);
    const png = await sharp(Buffer.from(grey), { raw: { width: p.width, height: p.height, channels: 1 } }).png().toBuffer();
    composites.push({ input: png, left, top: 0 });
    for (const n of p.nuclei) {
      const b = n.box;
      shapes.push(`<rect x="${left + b.x0 - 0.5}" y="${b.y0 - 0.5}" width="${b.x1 - b.x0 + 2}" height="${b.y1 - b.y0 + 2}" fill="none" stroke="#ff3b30" stroke-width="1"/>`);
      const cx = left + n.x, cy = n.y;
      shapes.push(`<path d="M${cx - 3} ${cy}H${cx + 3}M${cx} ${cy - 3}V${cy + 3}" stroke="#30d158" stroke-width="1.5"/>`);
    }
    if (p.title) shapes.push(`<text x="${left + 6}" y="18" font-family="sans-serif" font-size="14" fill="#ffd60a">${escapeXml(p.title)}</text>`);
    left += p.width + gap;
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${shapes.join('')}</svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  const out = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(composites).png().toBuffer();
  await writeFileAtomic(path, out);
  return { width: W, height: H };
}
