/**
 * The .npy reader and writer against NumPy itself: arrays written by `numpy.save` in every byte
 * order, dtype and memory order a CellProfiler function can have read back value for value, and
 * our float32 files loaded by NumPy.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, parseNpy } from '../../src/data/npy.ts';
import { DataError } from '../../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ben-npy-'));
const py = (code: string) => execFileSync('python3', ['-c', code], { encoding: 'utf8' });

describe('.npy arrays', () => {
  it('reads what numpy.save writes: float32/float64, both byte orders, C and Fortran order, integers, 3-D', () => {
    py(`
import numpy as np
a = (np.arange(7 * 5).reshape(7, 5) * 0.37 + 1).astype(np.float64)
np.save('${dir}/c8.npy', a)
np.save('${dir}/c4.npy', a.astype(np.float32))
np.save('${dir}/f8.npy', np.asfortranarray(a))
np.save('${dir}/f4be.npy', np.asfortranarray(a.astype('>f4')))
np.save('${dir}/c8be.npy', a.astype('>f8'))
np.save('${dir}/u2.npy', (a * 100).astype(np.uint16))
np.save('${dir}/i4.npy', (a * -3).astype(np.int32))
np.save('${dir}/f3.npy', np.asfortranarray(np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)))
`);
    const expected = Array.from({ length: 35 }, (_, i) => i * 0.37 + 1);
    for (const name of ['c8', 'c4', 'f8', 'f4be', 'c8be']) {
      const a = parseNpy(readFileSync(join(dir, `${name}.npy`)), name);
      expect(a.shape, name).toEqual([7, 5]);
      expect(a.fortranOrder, name).toBe(name.startsWith('f'));
      a.data.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(expected[i], 5));
    }
    expect(Array.from(parseNpy(readFileSync(join(dir, 'u2.npy')), 'u2').data)).toEqual(expected.map((v) => Math.trunc(v * 100)));
    expect(Array.from(parseNpy(readFileSync(join(dir, 'i4.npy')), 'i4').data)).toEqual(expected.map((v) => Math.trunc(v * -3)));
    const f3 = parseNpy(readFileSync(join(dir, 'f3.npy')), 'f3');
    expect(f3.shape).toEqual([2, 3, 4]);
    expect(Array.from(f3.data)).toEqual(Array.from({ length: 24 }, (_, i) => i)); // back in C order
  });

  it('writes float32 C-order files numpy loads exactly', () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => 1 + i / 7);
    writeFileSync(join(dir, 'ours.npy'), encodeNpy(data, [3, 4]));
    const out = py(`
import numpy as np
a = np.load('${dir}/ours.npy')
print(a.dtype, a.shape, a.flags['C_CONTIGUOUS'], ' '.join(repr(float(x)) for x in a.ravel()))
`).trim().split(' ');
    expect(out.slice(0, 4)).toEqual(['float32', '(3,', '4)', 'True']);
    expect(out.slice(4).map(Number)).toEqual(Array.from(data));
    // Header padded so the data start is 64-byte aligned, as numpy writes it.
    const buf = encodeNpy(data, [3, 4]);
    expect((buf.length - 4 * data.length) % 64).toBe(0);
  });

  it('a file that is not an .npy array is a DataError naming it', () => {
    expect(() => parseNpy(Buffer.from('hello world, not numpy'), 'x.npy')).toThrow(DataError);
    expect(() => parseNpy(Buffer.from('hello world, not numpy'), 'x.npy')).toThrow(/x\.npy is not a readable \.npy array \(no NumPy magic header\)/);
    const good = encodeNpy(new Float32Array(4), [2, 2]);
    expect(() => parseNpy(good.subarray(0, good.length - 3), 'cut.npy')).toThrow(/cut\.npy .*truncated data/);
    const complex = Buffer.from(good);
    complex.write("'<c8'", complex.indexOf("'<f4'"), 'latin1');
    expect(() => parseNpy(complex, 'c.npy')).toThrow(/dtype <c8/);
  });
});
