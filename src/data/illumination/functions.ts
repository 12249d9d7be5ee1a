/**
 * Reading illumination functions as CellProfiler writes them: NumPy `.npy` arrays (float32 or
 * float64, C or Fortran order; data/npy.ts) or single-channel TIFF / PNG images (float TIFFs keep
 * their values; integer images are taken as stored). A function divides its image, so every value
 * must be positive and finite.
 */
import { open, readFile } from 'node:fs/promises';
import { DataError } from '../../util/errors.ts';
import { decodeImage } from '../decode.ts';
import { parseNpy } from '../npy.ts';

/** One illumination function: a plane [height * width], row-major. */
export interface IlluminationFunction {
  data: Float32Array;
  height: number;
  width: number;
}

/** The (height, width) of a 2-D array shape, accepting a trailing or leading axis of 1. */
function planeShape(shape: readonly number[]): [number, number] | undefined {
  if (shape.length === 2) return [shape[0], shape[1]];
  if (shape.length === 3 && shape[2] === 1) return [shape[0], shape[1]];
  if (shape.length === 3 && shape[0] === 1) return [shape[1], shape[2]];
  return undefined;
}

/** Reads an illumination function file (`.npy`, or any image decodeImage reads). */
export async function readIlluminationFunction(path: string): Promise<IlluminationFunction> {
  let f: IlluminationFunction;
  if (path.toLowerCase().endsWith('.npy')) {
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (e) {
      throw new DataError(`Illumination function ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}). Fix its FileName_Illum/PathName_Illum (or URL_Illum) entry, or restore the file.`);
    }
    const a = parseNpy(buf, `Illumination function ${path}`);
    const hw = planeShape(a.shape);
    if (!hw) throw new DataError(`Illumination function ${path} has shape (${a.shape.join(', ')}); a function is one 2-D plane (height, width) per channel.`);
    f = { data: a.data, height: hw[0], width: hw[1] };
  } else {
    const img = await decodeImage(path, 'illumination function');
    if (img.channels !== 1) throw new DataError(`Illumination function ${path} has ${img.channels} channels; a function is one grey plane per channel.`);
    f = { data: img.data instanceof Float32Array ? img.data : Float32Array.from(img.data), height: img.height, width: img.width };
  }
  let bad = 0;
  for (let p = 0; p < f.data.length; p++) if (!(f.data[p] > 0 && f.data[p] < Infinity)) bad++;
  if (bad > 0) {
    throw new DataError(
      `Illumination function ${path} has ${bad} value(s) that are zero, negative or not finite; images are divided by it, so every value must be > 0 ` +
        '(CellProfiler rescales its functions to >= 1). Recompute it, or set data.illumination: none (--illumination none).',
    );
  }
  return f;
}

/** The shape of a `.npy` file from its header alone (undefined: not an .npy, or unreadable). */
export async function npyPlaneShape(path: string): Promise<[number, number] | undefined> {
  if (!path.toLowerCase().endsWith('.npy')) return undefined;
  let fh;
  try {
    fh = await open(path, 'r');
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const text = head.subarray(0, bytesRead).toString('latin1');
    const m = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
    if (!m) return undefined;
    return planeShape(m[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number));
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

/** Illumination functions by file, the most recently used kept in memory (a plate's sites share them). */
export class FunctionCache {
  private readonly items = new Map<string, Promise<IlluminationFunction>>();
  constructor(private readonly max = 48) {}

  get(path: string): Promise<IlluminationFunction> {
    let f = this.items.get(path);
    if (f) {
      this.items.delete(path);
      this.items.set(path, f);
      return f;
    }
    f = readIlluminationFunction(path);
    // A failed read is not cached: the next site reports it again.
    f.catch(() => this.items.delete(path));
    this.items.set(path, f);
    while (this.items.size > this.max) this.items.delete(this.items.keys().next().value!);
    return f;
  }
}
