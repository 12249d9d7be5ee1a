/**
 * NumPy's `.npy` format (NEP 1), as CellProfiler saves illumination functions: a magic string, a
 * version, a Python-literal header (`descr`, `fortran_order`, `shape`) and the raw array. Reads
 * float (f4, f8) and integer (u1, u2, i2, u4, i4) arrays of either byte order, in C or Fortran
 * order, into row-major float32; writes little-endian float32 in C order (version 1.0).
 */
import { DataError } from '../util/errors.ts';

/** A decoded `.npy` array, values in C (row-major) order. */
export interface NpyArray {
  shape: number[];
  /** Values as float32, row-major whatever the file's order. */
  data: Float32Array;
  /** The file's dtype, e.g. `<f8`. */
  descr: string;
  /** Whether the file stored the array column-major. */
  fortranOrder: boolean;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const SIZES: Record<string, number> = { f4: 4, f8: 8, u1: 1, i1: 1, u2: 2, i2: 2, u4: 4, i4: 4 };

/** Parses `.npy` bytes; `name` (the file) goes into every error. */
export function parseNpy(buf: Uint8Array, name: string): NpyArray {
  const bad = (why: string) => new DataError(`${name} is not a readable .npy array (${why}); save it with numpy.save (float32 or float64).`);
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw bad('no NumPy magic header');
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (major < 1 || major > 3) throw bad(`format version ${major}`);
  if (start + headerLen > buf.length) throw bad('truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad(`header ${JSON.stringify(header.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape (${shapeText})`);
  const m = /^([<>|=])([fiu])(\d)$/.exec(descr);
  const kind = m ? `${m[2]}${m[3]}` : '';
  const size = SIZES[kind];
  if (!m || !size) throw bad(`dtype ${descr}; float32, float64 and integer arrays are read`);
  const little = m[1] !== '>';
  const n = shape.reduce((a, b) => a * b, 1);
  const off = start + headerLen;
  if (off + n * size > buf.length) throw bad(`truncated data: ${buf.length - off} bytes for ${n} values of ${size}`);
  const read: (i: number) => number = {
    f4: (i: number) => dv.getFloat32(off + 4 * i, little),
    f8: (i: number) => dv.getFloat64(off + 8 * i, little),
    u1: (i: number) => dv.getUint8(off + i),
    i1: (i: number) => dv.getInt8(off + i),
    u2: (i: number) => dv.getUint16(off + 2 * i, little),
    i2: (i: number) => dv.getInt16(off + 2 * i, little),
    u4: (i: number) => dv.getUint32(off + 4 * i, little),
    i4: (i: number) => dv.getInt32(off + 4 * i, little),
  }[kind]!;
  const data = new Float32Array(n);
  const fortranOrder = fortran === 'True';
  if (!fortranOrder || shape.length < 2) {
    for (let i = 0; i < n; i++) data[i] = read(i);
  } else {
    // Column-major: the first index varies fastest. Walk the file in order, place in row-major.
    const strides = new Array<number>(shape.length);
    strides[shape.length - 1] = 1;
    for (let d = shape.length - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
    const idx = new Array<number>(shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let c = 0;
      for (let d = 0; d < shape.length; d++) c += idx[d] * strides[d];
      data[c] = read(i);
      for (let d = 0; d < shape.length; d++) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  return { shape, data, descr, fortranOrder };
}

/** `.npy` bytes (version 1.0, little-endian float32, C order) of `data` with `shape`. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Buffer {
  if (shape.reduce((a, b) => a * b, 1) !== data.length) throw new Error(`encodeNpy: ${data.length} values for shape ${shape.join('x')}`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // NumPy pads the header with spaces so the data start is 64-byte aligned, ending in a newline.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + 4 * data.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  const dv = new DataView(out.buffer, out.byteOffset + 10 + header.length, 4 * data.length);
  for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i], true);
  return out;
}
