/**
 * Hand-assembled WebAssembly SIMD loops that run directly on the wasm backend's heap, for the
 * elementwise and per-channel passes of our fused training kernels (AdamW update, BatchNorm). The
 * same passes as JS loops run at ~2-7 ns per value (reads from the threaded build's shared heap
 * are slow in V8); as f32x4 code they run near memory speed.
 *
 * The module imports the backend's own `WebAssembly.Memory` (the threaded build's shared memory,
 * or the single-threaded build's exported one), so pointers are the backend's heap offsets and
 * nothing is copied. It is tiny and built once per memory; there is no toolchain here, so the
 * bytes are assembled below (WebAssembly 2.0 binary format with the fixed-width SIMD proposal).
 *
 * Functions (pointers are byte offsets, all f32 arrays 16-byte aligned as the backend's malloc
 * returns them; C is a multiple of 4):
 * - `adam(p, g, m, v, po, mo, vo, n4, b1, b2, c1, c2, step, eps, keep)`: n4 vectors of 4 values:
 *   m' = b1 m + c1 g, v' = b2 v + c2 g^2, p' = keep p - step m' / (sqrt(v') + eps).
 * - `moments(u, v, n, C, su, sv, out1, out2)`: per channel c over n rows of C values,
 *   out1[c] += sum (u - su[c]), out2[c] += sum (u - su[c]) (v - sv[c]); out1/out2 are float64
 *   (accumulated in f32 over blocks of 32 rows, then in f64).
 * - `affine2(u, v, out, n, C, P, Q, R)`: out = P[c] u + Q[c] v + R[c] per channel c.
 * - `reluGrad(dy, x, out, n4)`: out = x > 0 ? dy : 0 over n4 vectors.
 * - `transpose(src, dst, R, C, sS, dS, count, sStep, dStep)`: `count` 2-D transposes of R x C
 *   blocks (R, C multiples of 4; strides in floats): dst[k*dStep + c*dS + r] = src[k*sStep +
 *   r*sS + c], by 4x4 register tiles (tfjs's Transpose is a scalar loop with strided writes).
 * - `maxPoolGrad(x, y, dy, dx, B, H, W, C, Ho, Wo, KH, KW, sh, sw, pT, pL)`: NHWC max-pool
 *   gradient, dx (zeroed by the caller) += dy at the first position of each window (row-major)
 *   whose value equals the window's maximum y.
 */

import { section, sleb, str, uleb, vec } from '../wasm-encode.ts';
import { engineFlags } from '../flags.ts';

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;


// Instructions.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32c = (n: number) => [0x41, ...sleb(n)];
const i32add = [0x6a];
const i32geu = [0x4f];
const i32eq = [0x46];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const load = simd(0x00, 4, 0); // v128.load align=16, offset 0
const store = simd(0x0b, 4, 0);
const load16 = simd(0x00, 4, 16); // v128.load offset 16
const store16 = simd(0x0b, 4, 16);
const splat = simd(0x13);
const fadd = simd(0xe4);
const fsub = simd(0xe5);
const fmul = simd(0xe6);
const fdiv = simd(0xe7);
const fsqrt = simd(0xe3);
const dadd = simd(0xf0);
const promoteLow = simd(0x5f);
const zero = simd(0x0c, ...new Array(16).fill(0));
// Lanes 2,3 of a f32x4 moved to lanes 0,1 (bytes 8..15 then 0..7).
const highHalf = (a: number) => [...get(a), ...get(a), ...simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)];
const block = (body: number[]) => [0x02, 0x40, ...body, 0x0b];
const loop = (body: number[]) => [0x03, 0x40, ...body, 0x0b];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const br = (depth: number) => [0x0c, ...uleb(depth)];
/** `while (!(a >= b)) body`, with a and b i32 locals. */
const whileLt = (a: number, b: number, body: number[]) => block(loop([...get(a), ...get(b), ...i32geu, ...brIf(1), ...body, ...br(0)]));
const inc = (i: number, n: number | number[]) => [...get(i), ...(typeof n === 'number' ? i32c(n) : n), ...i32add, ...set(i)];

interface Fn {
  name: string;
  params: number[];
  locals: number[];
  body: number[];
}

function adamFn(): Fn {
  // params 0..6 pointers, 7 n4, 8..14 scalars; locals from 15.
  const [p, g, m, v, po, mo, vo, n4] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [b1, b2, c1, c2, st, ep, kp] = [8, 9, 10, 11, 12, 13, 14];
  const [i, end] = [15, 16];
  const [B1, B2, C1, C2, ST, EP, KP, G, M, V] = [17, 18, 19, 20, 21, 22, 23, 24, 25, 26];
  const at = (ptr: number) => [...get(ptr), ...get(i), ...i32add];
  const body = [
    ...[b1, b2, c1, c2, st, ep, kp].flatMap((s, k) => [...get(s), ...splat, ...set(B1 + k)]),
    ...get(n4), ...i32c(4), 0x74 /* i32.shl */, ...set(end),
    ...whileLt(i, end, [
      ...at(g), ...load, ...set(G),
      ...get(B1), ...at(m), ...load, ...fmul, ...get(C1), ...get(G), ...fmul, ...fadd, ...set(M),
      ...get(B2), ...at(v), ...load, ...fmul, ...get(C2), ...get(G), ...fmul, ...get(G), ...fmul, ...fadd, ...set(V),
      ...at(mo), ...get(M), ...store,
      ...at(vo), ...get(V), ...store,
      ...at(po),
      ...get(KP), ...at(p), ...load, ...fmul,
      ...get(ST), ...get(M), ...fmul, ...get(V), ...fsqrt, ...get(EP), ...fadd, ...fdiv,
      ...fsub, ...store,
      ...inc(i, 16),
    ]),
  ];
  return {
    name: 'adam',
    params: [I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32],
    locals: [I32, I32, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128],
    body,
  };
}

function momentsFn(): Fn {
  const [u, v, n, C, su, sv, o1, o2] = [0, 1, 2, 3, 4, 5, 6, 7];
  // locals
  const [rowB, r0, r1, cb, off, endB, totalB] = [8, 9, 10, 11, 12, 13, 14]; // byte offsets
  const [A1, A2, SU, SV, DU] = [15, 16, 17, 18, 19];
  const BLOCK = 32;
  const body = [
    ...get(C), ...i32c(2), 0x74, ...set(rowB), // rowB = C * 4
    ...get(n), ...get(rowB), 0x6c /* i32.mul */, ...set(totalB),
    // for (r0 = 0; r0 < totalB; r0 = r1) { r1 = min(r0 + BLOCK rows, totalB); ...}
    ...whileLt(r0, totalB, [
      ...get(r0), ...get(rowB), ...i32c(BLOCK), 0x6c, ...i32add, ...set(r1),
      // r1 = min(r1, totalB)
      ...get(r1), ...get(totalB), ...get(r1), ...get(totalB), 0x49 /* i32.lt_u */, 0x1b /* select */, ...set(r1),
      ...i32c(0), ...set(cb),
      ...whileLt(cb, rowB, [
        ...zero, ...set(A1), ...zero, ...set(A2),
        ...get(su), ...get(cb), ...i32add, ...load, ...set(SU),
        ...get(sv), ...get(cb), ...i32add, ...load, ...set(SV),
        ...get(r0), ...get(cb), ...i32add, ...set(off),
        ...get(r1), ...get(cb), ...i32add, ...set(endB),
        ...whileLt(off, endB, [
          ...get(u), ...get(off), ...i32add, ...load, ...get(SU), ...fsub, ...set(DU),
          ...get(A1), ...get(DU), ...fadd, ...set(A1),
          ...get(A2), ...get(DU), ...get(v), ...get(off), ...i32add, ...load, ...get(SV), ...fsub, ...fmul, ...fadd, ...set(A2),
          ...inc(off, [...get(rowB)]),
        ]),
        // out[c..c+3] (f64, at byte 2*cb) += promote(A)
        ...[
          [o1, A1],
          [o2, A2],
        ].flatMap(([o, A]) => [
          ...get(o), ...get(cb), ...get(cb), ...i32add, ...i32add, ...set(off),
          ...get(off), ...get(off), ...load, ...get(A), ...promoteLow, ...dadd, ...store,
          ...get(off), ...get(off), ...load16, ...highHalf(A), ...promoteLow, ...dadd, ...store16,
        ]),
        ...inc(cb, 16),
      ]),
      ...get(r1), ...set(r0),
    ]),
  ];
  return { name: 'moments', params: [I32, I32, I32, I32, I32, I32, I32, I32], locals: [I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128], body };
}

function affine2Fn(): Fn {
  const [u, v, out, n, C, P, Q, R] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [i, totalB, cb, rowB] = [8, 9, 10, 11];
  const body = [
    ...get(C), ...i32c(2), 0x74, ...set(rowB),
    ...get(n), ...get(rowB), 0x6c, ...set(totalB),
    ...whileLt(i, totalB, [
      ...get(out), ...get(i), ...i32add,
      ...get(P), ...get(cb), ...i32add, ...load, ...get(u), ...get(i), ...i32add, ...load, ...fmul,
      ...get(Q), ...get(cb), ...i32add, ...load, ...get(v), ...get(i), ...i32add, ...load, ...fmul, ...fadd,
      ...get(R), ...get(cb), ...i32add, ...load, ...fadd,
      ...store,
      ...inc(i, 16),
      ...inc(cb, 16),
      // if (cb == rowB) cb = 0
      ...i32c(0), ...get(cb), ...get(cb), ...get(rowB), ...i32eq, 0x1b /* select */, ...set(cb),
    ]),
  ];
  return { name: 'affine2', params: [I32, I32, I32, I32, I32, I32, I32, I32], locals: [I32, I32, I32, I32], body };
}

function reluGradFn(): Fn {
  const [dy, x, out, n4] = [0, 1, 2, 3];
  const [i, end] = [4, 5];
  const at = (ptr: number) => [...get(ptr), ...get(i), ...i32add];
  const body = [
    ...get(n4), ...i32c(4), 0x74, ...set(end),
    ...whileLt(i, end, [
      ...at(out),
      ...at(x), ...load, ...zero, ...simd(0x44) /* f32x4.gt */,
      ...at(dy), ...load, ...simd(0x4e) /* v128.and */,
      ...store,
      ...inc(i, 16),
    ]),
  ];
  return { name: 'reluGrad', params: [I32, I32, I32, I32], locals: [I32, I32], body };
}

function maxPoolGradFn(): Fn {
  const [x, y, dy, dx, B, H, W, C, Ho, Wo, KH, KW, sh, sw, pT, pL] = Array.from({ length: 16 }, (_, k) => k);
  const L = 16;
  const [b, oh, ow, h, w, h0, h1, w0, w1, cb, yo, pixB, rowB, imgB, base, rowp, p] = Array.from({ length: 17 }, (_, k) => L + k);
  const [Y, D, A, M, X] = [33, 34, 35, 36, 37];
  const mul = [0x6c];
  const sub = [0x6b];
  const gtS = [0x4a];
  const ltS = [0x48];
  const select = [0x1b];
  // max(0, v) and min(lim, v) for a value on the stack, through a scratch local.
  const clampLo = (dst: number) => [...set(dst), ...get(dst), ...i32c(0), ...get(dst), ...i32c(0), ...gtS, ...select, ...set(dst)];
  const clampHi = (dst: number, lim: number) => [...set(dst), ...get(dst), ...get(lim), ...get(dst), ...get(lim), ...ltS, ...select, ...set(dst)];
  const forRange = (v: number, from: number[], to: number, body: number[]) => [...from, ...set(v), ...block(loop([...get(v), ...get(to), 0x4e /* i32.ge_s */, ...brIf(1), ...body, ...inc(v, 1), ...br(0)]))];
  const body = [
    ...get(C), ...i32c(4), ...mul, ...set(pixB),
    ...get(W), ...get(pixB), ...mul, ...set(rowB),
    ...get(H), ...get(rowB), ...mul, ...set(imgB),
    ...forRange(b, i32c(0), B, [
      ...get(b), ...get(imgB), ...mul, ...set(base),
      ...forRange(oh, i32c(0), Ho, [
        ...get(oh), ...get(sh), ...mul, ...get(pT), ...sub, ...clampLo(h0),
        ...get(oh), ...get(sh), ...mul, ...get(pT), ...sub, ...get(KH), ...i32add, ...clampHi(h1, H),
        ...forRange(ow, i32c(0), Wo, [
          ...get(ow), ...get(sw), ...mul, ...get(pL), ...sub, ...clampLo(w0),
          ...get(ow), ...get(sw), ...mul, ...get(pL), ...sub, ...get(KW), ...i32add, ...clampHi(w1, W),
          ...i32c(0), ...set(cb),
          ...whileLt(cb, pixB, [
            ...get(y), ...get(yo), ...i32add, ...get(cb), ...i32add, ...load, ...set(Y),
            ...get(dy), ...get(yo), ...i32add, ...get(cb), ...i32add, ...load, ...set(D),
            ...zero, ...set(A),
            ...forRange(h, get(h0), h1, [
              ...get(base), ...get(h), ...get(rowB), ...mul, ...i32add, ...get(cb), ...i32add, ...set(rowp),
              ...forRange(w, get(w0), w1, [
                ...get(rowp), ...get(w), ...get(pixB), ...mul, ...i32add, ...set(p),
                ...get(x), ...get(p), ...i32add, ...load, ...set(X),
                ...get(X), ...get(Y), ...simd(0x41) /* f32x4.eq */, ...get(A), ...simd(0x4f) /* v128.andnot */, ...set(M),
                ...get(dx), ...get(p), ...i32add,
                ...get(dx), ...get(p), ...i32add, ...load, ...get(M), ...get(D), ...simd(0x4e) /* v128.and */, ...fadd,
                ...store,
                ...get(A), ...get(M), ...simd(0x50) /* v128.or */, ...set(A),
              ]),
            ]),
            ...inc(cb, 16),
          ]),
          ...inc(yo, [...get(pixB)]),
        ]),
      ]),
    ]),
  ];
  return {
    name: 'maxPoolGrad',
    params: new Array(16).fill(I32),
    locals: [...new Array(17).fill(I32), ...new Array(5).fill(V128)],
    body,
  };
}

function transposeFn(): Fn {
  const [src, dst, R, C, sS, dS, count, sStep, dStep] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [sB, dB, k, i, j, sp, dp, a, b, kS, kD] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const [r0, r1, r2, r3, t0, t1, t2, t3] = [20, 21, 22, 23, 24, 25, 26, 27];
  const mul = [0x6c];
  const shl2 = [...i32c(2), 0x74];
  const lanes = (...ls: number[]) => ls.flatMap((l) => [l * 4, l * 4 + 1, l * 4 + 2, l * 4 + 3]);
  const shuffle = (x: number, y: number, ls: number[]) => [...get(x), ...get(y), ...simd(0x0d, ...lanes(...ls))];
  const addr = (base: number, stride: number, n: number) => [...get(base), ...get(stride), ...i32c(n), ...mul, ...i32add];
  const body = [
    ...get(sS), ...shl2, ...set(sB),
    ...get(dS), ...shl2, ...set(dB),
    ...get(sStep), ...shl2, ...set(kS),
    ...get(dStep), ...shl2, ...set(kD),
    ...whileLt(k, count, [
      ...i32c(0), ...set(i),
      ...whileLt(i, R, [
        ...get(src), ...get(k), ...get(kS), ...mul, ...i32add, ...get(i), ...get(sB), ...mul, ...i32add, ...set(sp),
        ...get(dst), ...get(k), ...get(kD), ...mul, ...i32add, ...get(i), ...shl2, ...i32add, ...set(dp),
        ...i32c(0), ...set(j),
        ...whileLt(j, C, [
          ...get(sp), ...get(j), ...shl2, ...i32add, ...set(a),
          ...addr(a, sB, 0), ...load, ...set(r0),
          ...addr(a, sB, 1), ...load, ...set(r1),
          ...addr(a, sB, 2), ...load, ...set(r2),
          ...addr(a, sB, 3), ...load, ...set(r3),
          ...shuffle(r0, r1, [0, 4, 1, 5]), ...set(t0),
          ...shuffle(r0, r1, [2, 6, 3, 7]), ...set(t1),
          ...shuffle(r2, r3, [0, 4, 1, 5]), ...set(t2),
          ...shuffle(r2, r3, [2, 6, 3, 7]), ...set(t3),
          ...get(dp), ...get(j), ...get(dB), ...mul, ...i32add, ...set(b),
          ...addr(b, dB, 0), ...shuffle(t0, t2, [0, 1, 4, 5]), ...store,
          ...addr(b, dB, 1), ...shuffle(t0, t2, [2, 3, 6, 7]), ...store,
          ...addr(b, dB, 2), ...shuffle(t1, t3, [0, 1, 4, 5]), ...store,
          ...addr(b, dB, 3), ...shuffle(t1, t3, [2, 3, 6, 7]), ...store,
          ...inc(j, 4),
        ]),
        ...inc(i, 4),
      ]),
      ...inc(k, 1),
    ]),
  ];
  return {
    name: 'transpose',
    params: new Array(9).fill(I32),
    locals: [...new Array(11).fill(I32), ...new Array(8).fill(V128)],
    body,
  };
}

/** The module's bytes; `shared` memories are imported as shared with their maximum. */
function moduleBytes(shared: boolean, minPages: number, maxPages: number): Uint8Array<ArrayBuffer> {
  const fns = [adamFn(), momentsFn(), affine2Fn(), reluGradFn(), maxPoolGradFn(), transposeFn()];
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0x00]);
  const limits = shared ? [0x03, ...uleb(minPages), ...uleb(maxPages)] : [0x00, ...uleb(minPages)];
  const imports = vec([[...str('env'), ...str('memory'), 0x02, ...limits]]);
  const funcs = vec(fns.map((_, k) => uleb(k)));
  const exports = vec(fns.map((f, k) => [...str(f.name), 0x00, ...uleb(k)]));
  const code = vec(
    fns.map((f) => {
      const locals = vec(f.locals.map((t) => [1, t]));
      const body = [...locals, ...f.body, 0x0b];
      return [...uleb(body.length), ...body];
    }),
  );
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/** The exported SIMD loops (see the file comment). */
export interface SimdKernels {
  adam(p: number, g: number, m: number, v: number, po: number, mo: number, vo: number, n4: number,
    b1: number, b2: number, c1: number, c2: number, step: number, eps: number, keep: number): void;
  moments(u: number, v: number, n: number, C: number, su: number, sv: number, out1: number, out2: number): void;
  affine2(u: number, v: number, out: number, n: number, C: number, P: number, Q: number, R: number): void;
  reluGrad(dy: number, x: number, out: number, n4: number): void;
  transpose(src: number, dst: number, R: number, C: number, sS: number, dS: number, count: number, sStep: number, dStep: number): void;
  maxPoolGrad(x: number, y: number, dy: number, dx: number, B: number, H: number, W: number, C: number, Ho: number, Wo: number,
    KH: number, KW: number, sh: number, sw: number, pT: number, pL: number): void;
}

const cache = new WeakMap<WebAssembly.Memory, SimdKernels>();

/** The SIMD loops bound to `memory` (built once per memory). */
export function simdKernels(memory: WebAssembly.Memory): SimdKernels {
  let k = cache.get(memory);
  if (!k) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const pages = memory.buffer.byteLength / 65536;
    // A shared import must declare a maximum no smaller than the memory's: 65536 pages (4 GiB).
    const bytes = moduleBytes(shared, Math.min(pages, 1), 65536);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    k = instance.exports as unknown as SimdKernels;
    cache.set(memory, k);
  }
  return k;
}

/** What a kernel needs from the wasm backend: its memory, malloc/free and the SIMD loops. */
export interface WasmHeap {
  simd: SimdKernels;
  malloc(bytes: number): number;
  free(ptr: number): void;
  /** Heap offset of a tensor's data. */
  offset(dataId: object): number;
  /** A fresh view of the heap (take it after the last allocation). */
  f32(ptr: number, length: number): Float32Array;
  f64(ptr: number, length: number): Float64Array;
}

/** Whether kernels use the SIMD loops (default true; false: their JS loops, for A/B benchmarks). */


/**
 * The wasm heap access of `backend`, or undefined when it is not the wasm backend (or
 * the `simd` engine flag turns the SIMD loops off).
 */
export function wasmHeap(backend: unknown): WasmHeap | undefined {
  if (!engineFlags().simd) return undefined;
  const b = backend as {
    wasm?: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory }; _malloc(n: number): number; _free(p: number): void };
    dataIdMap?: { get(id: object): { memoryOffset: number } };
  };
  const memory = b.wasm?.wasmMemory ?? b.wasm?.asm?.memory;
  if (!memory || !b.dataIdMap || !b.wasm) return undefined;
  const w = b.wasm;
  return {
    simd: simdKernels(memory),
    malloc: (n) => w._malloc(n) >>> 0,
    free: (p) => w._free(p),
    offset: (id) => b.dataIdMap!.get(id).memoryOffset,
    f32: (p, n) => new Float32Array(memory.buffer, p, n),
    f64: (p, n) => new Float64Array(memory.buffer, p, n),
  };
}
