/**
 * A PNG of one plate's illumination functions, one panel per channel side by side, each drawn
 * from its own minimum (black) to its maximum (white) with its range in the title: the look a
 * user takes at what is divided out of every image (`ben data info --figure`, the run's report).
 */
import sharp, { type OverlayOptions } from 'sharp';
import { writeFileAtomic } from '../util/atomic.ts';
import { readIlluminationFunction, type IlluminationFunction } from '../data/illumination/functions.ts';
import type { IlluminationRecord } from '../data/illumination/record.ts';
import { UserError } from '../util/errors.ts';

/** One panel: a channel's function. */
export interface IlluminationPanel {
  channel: string;
  fn: IlluminationFunction;
}

const escapeXml = (t: string) => t.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** Min and max of a function's values. */
export function functionRange(f: IlluminationFunction): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of f.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * Writes the panels (each scaled to at most `size` px on its long side) with a title row to `path`
 * (atomically); returns the figure's size.
 */
export async function writeIlluminationFigure(path: string, title: string, panels: readonly IlluminationPanel[], size = 256): Promise<{ width: number; height: number }> {
  const gap = 8, head = 24, foot = 22;
  const scaled = panels.map((p) => {
    const k = size / Math.max(p.fn.height, p.fn.width);
    return { ...p, w: Math.max(1, Math.round(p.fn.width * k)), h: Math.max(1, Math.round(p.fn.height * k)) };
  });
  const H = head + Math.max(...scaled.map((p) => p.h)) + foot;
  const W = scaled.reduce((s, p) => s + p.w, 0) + gap * (scaled.length + 1);
  const composites: OverlayOptions[] = [];
  const text: string[] = [`<text x="${gap}" y="17" font-family="sans-serif" font-size="14" fill="#111">${escapeXml(title)}</text>`];
  let left = gap;
  for (const p of scaled) {
    const [lo, hi] = functionRange(p.fn);
    const s = hi > lo ? 255 / (hi - lo) : 0;
    const grey = Uint8Array.from(p.fn.data, (v) => Math.round((v - lo) * s));
    const png = await sharp(Buffer.from(grey), { raw: { width: p.fn.width, height: p.fn.height, channels: 1 } }).resize(p.w, p.h, { kernel: 'linear' }).png().toBuffer();
    composites.push({ input: png, left, top: head });
    text.push(`<text x="${left}" y="${head + p.h + 16}" font-family="sans-serif" font-size="12" fill="#111">${escapeXml(`${p.channel}: ${lo.toFixed(2)}-${hi.toFixed(2)}`)}</text>`);
    left += p.w + gap;
  }
  composites.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${text.join('')}</svg>`), left: 0, top: 0 });
  const out = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(composites).png().toBuffer();
  await writeFileAtomic(path, out);
  return { width: W, height: H };
}

/**
 * The figure of one plate of a data set's illumination record (default its first plate), read
 * from the function files; returns the plate and a caption. A UserError when nothing was applied.
 */
export async function writeRecordFigure(path: string, record: IlluminationRecord, plate?: string): Promise<{ plate: string; caption: string }> {
  const plates = Object.keys(record.plates);
  if (plates.length === 0) throw new UserError(`No illumination functions to draw (illumination ${record.mode}${record.note ? `: ${record.note}` : ''}); use --illumination loaddata with a CSV that names them, or --illumination compute.`);
  const key = plate ?? plates[0];
  const files = record.plates[key];
  if (!files) throw new UserError(`Plate ${key} has no illumination functions; plates: ${plates.slice(0, 8).join(', ')}${plates.length > 8 ? ', ...' : ''}.`);
  const panels = await Promise.all(Object.entries(files).map(async ([channel, f]) => ({ channel, fn: await readIlluminationFunction(f) })));
  await writeIlluminationFigure(path, `Illumination functions of plate ${key} (${record.mode}; images are divided by them)`, panels);
  const ranges = panels.map((p) => `${p.channel} ${functionRange(p.fn).map((v) => v.toFixed(2)).join('-')}`);
  return { plate: key, caption: `Illumination functions of plate ${key} (${record.mode === 'compute' ? 'computed per plate, CellProfiler-style' : 'named by the LoadData CSV'}), each from its minimum (black) to its maximum (white): ${ranges.join('; ')}.` };
}
