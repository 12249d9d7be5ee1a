import { describe, expect, it } from 'vitest';
import { simdKernels } from '../../src/engine/kernels/simd.ts';
import { Rng } from '../../src/util/rng.ts';

/** The hand-assembled SIMD loops against float64 loops, on a private (shared and unshared) memory. */
describe('SIMD wasm loops', () => {
  for (const shared of [false, true]) {
    const memory = new WebAssembly.Memory(shared ? { initial: 16, maximum: 64, shared: true } : { initial: 16 });
    const k = simdKernels(memory);
    const rng = new Rng(shared ? 2 : 1);
    const f32 = (p: number, n: number) => new Float32Array(memory.buffer, p, n);
    const f64 = (p: number, n: number) => new Float64Array(memory.buffer, p, n);
    const fill = (p: number, n: number, f: () => number) => f32(p, n).set(Float32Array.from({ length: n }, f));

    it(`adam (${shared ? 'shared' : 'unshared'} memory)`, () => {
      const n = 96;
      const [P, G, M, V, PO, MO, VO] = [0, 1, 2, 3, 4, 5, 6].map((i) => 1024 + i * 4 * n);
      fill(P, n, () => rng.normal());
      fill(G, n, () => rng.normal());
      fill(M, n, () => rng.normal(0, 0.1));
      fill(V, n, () => rng.uniform(0, 0.01));
      k.adam(P, G, M, V, PO, MO, VO, n / 4, 0.9, 0.999, 0.1, 0.001, 0.01, 1e-8, 0.999);
      for (let i = 0; i < n; i++) {
        const g = f32(G, n)[i];
        const m = 0.9 * f32(M, n)[i] + 0.1 * g;
        const v = 0.999 * f32(V, n)[i] + 0.001 * g * g;
        const p = 0.999 * f32(P, n)[i] - (0.01 * m) / (Math.sqrt(v) + 1e-8);
        expect(Math.abs(f32(MO, n)[i] - m)).toBeLessThan(1e-6 * Math.max(1, Math.abs(m)));
        expect(Math.abs(f32(VO, n)[i] - v)).toBeLessThan(1e-6 * Math.max(1e-3, v));
        expect(Math.abs(f32(PO, n)[i] - p)).toBeLessThan(1e-6 * Math.max(1, Math.abs(p)));
      }
    });

    it(`moments and affine2 over rows not a multiple of the block (${shared ? 'shared' : 'unshared'})`, () => {
      const [rows, C] = [75, 12];
      const [U, W, SU, SV, O1, O2, OUT, P, Q, R] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => 65536 + i * 8192);
      fill(U, rows * C, () => rng.normal(3, 2));
      fill(W, rows * C, () => rng.normal());
      fill(SU, C, () => rng.normal());
      fill(SV, C, () => rng.normal());
      f64(O1, C).fill(0.5); // accumulates onto what is there
      f64(O2, C).fill(0);
      k.moments(U, W, rows, C, SU, SV, O1, O2);
      const [u, w, su, sv] = [f32(U, rows * C), f32(W, rows * C), f32(SU, C), f32(SV, C)];
      for (let c = 0; c < C; c++) {
        let s1 = 0.5;
        let s2 = 0;
        for (let r = 0; r < rows; r++) {
          const d = u[r * C + c] - su[c];
          s1 += d;
          s2 += d * (w[r * C + c] - sv[c]);
        }
        expect(Math.abs(f64(O1, C)[c] - s1)).toBeLessThan(1e-5 * rows);
        expect(Math.abs(f64(O2, C)[c] - s2)).toBeLessThan(1e-5 * rows);
      }
      fill(P, C, () => rng.normal());
      fill(Q, C, () => rng.normal());
      fill(R, C, () => rng.normal());
      k.affine2(U, W, OUT, rows, C, P, Q, R);
      const [out, pv, qv, rv] = [f32(OUT, rows * C), f32(P, C), f32(Q, C), f32(R, C)];
      for (let i = 0; i < rows * C; i++) {
        const c = i % C;
        const want = pv[c] * u[i] + qv[c] * w[i] + rv[c];
        expect(Math.abs(out[i] - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
      }
    });
  }
});
