/**
 * A tiny hand-assembled WebAssembly SIMD kernel: int16 inner products of a block of query rows
 * against a block of reference rows, `out[i, j] = sum_t q[i, t] * r[j, t]` in int32, built on
 * `i32x4.dot_i16x8_s` (8 multiply-adds per instruction, twice float32 SIMD's rate) with a
 * TILE_Q x TILE_R (2 x 4) register tile; 2x4, 3x4, 4x3, 2x6 and 4x2 measured within noise
 * (31-40 G multiply-adds/s on one core of this machine, shared). Used by the exact screened kNN search (int16.ts), which bounds the
 * quantisation error so results stay exact. No toolchain needed: the module is encoded here.
 *
 * Export `dot(qPtr, rPtr, outPtr, nq, nr, dBytes)`: nq a multiple of the tile's rows, nr of its
 * columns, dBytes = 2 * d a multiple of 16; rows are contiguous int16, out is [nq, nr] int32
 * row-major. The caller keeps |sum| < 2^31 (|values| <= sqrt((2^31 - 1) / d)).
 */

import { section, sleb, str, uleb } from '../wasm-encode.ts';

// Opcodes.
const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, VOID = 0x40;
const GET = 0x20, SET = 0x21;
const I32_CONST = 0x41, I32_GE_U = 0x4f, I32_LT_U = 0x49, I32_ADD = 0x6a, I32_MUL = 0x6c, I32_SHL = 0x74, I32_STORE = 0x36;
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const V128_LOAD = (offset = 0) => simd(0x00, 0, ...uleb(offset));
const V128_ZERO = simd(0x0c, ...new Array(16).fill(0));
const EXTRACT = (lane: number) => simd(0x1b, lane);
const I32X4_ADD = simd(0xae);
const DOT = simd(0xba);

// Locals: params 0..5 (qPtr, rPtr, outPtr, nq, nr, dBytes), then i32 scratch, then v128 accumulators.
const [QP, RP, OP, NQ, NR, DB] = [0, 1, 2, 3, 4, 5];

/** Function body for a `tq` x `tr` register tile (tq query rows x tr reference rows per step). */
function body(tq: number, tr: number): number[] {
  // i32 locals: i, j, t, then tq query row pointers, tr reference row pointers, tq output row pointers.
  const I = 6, J = 7, T = 8;
  const QR = Array.from({ length: tq }, (_, a) => 9 + a);
  const RR = Array.from({ length: tr }, (_, b) => 9 + tq + b);
  const OR = Array.from({ length: tq }, (_, a) => 9 + tq + tr + a);
  const nI32 = 3 + tq + tr + tq;
  const V0 = 6 + nI32;
  const ACC = Array.from({ length: tq * tr }, (_, x) => V0 + x);
  const VQ = Array.from({ length: tq }, (_, a) => V0 + tq * tr + a);
  const W = V0 + tq * tr + tq;
  const nV128 = tq * tr + tq + 1;
  const c: number[] = [];
  const get = (l: number) => c.push(GET, ...uleb(l));
  const set = (l: number) => c.push(SET, ...uleb(l));
  const k = (n: number) => c.push(I32_CONST, ...sleb(n));
  k(0), set(I);
  c.push(BLOCK, VOID, LOOP, VOID);
  get(I), get(NQ), c.push(I32_GE_U, BR_IF, 1);
  get(QP), get(I), get(DB), c.push(I32_MUL, I32_ADD), set(QR[0]);
  for (let a = 1; a < tq; a++) get(QR[a - 1]), get(DB), c.push(I32_ADD), set(QR[a]);
  get(OP), get(I), get(NR), c.push(I32_MUL), k(2), c.push(I32_SHL, I32_ADD), set(OR[0]);
  for (let a = 1; a < tq; a++) get(OR[a - 1]), get(NR), k(2), c.push(I32_SHL, I32_ADD), set(OR[a]);
  k(0), set(J);
  c.push(BLOCK, VOID, LOOP, VOID);
  get(J), get(NR), c.push(I32_GE_U, BR_IF, 1);
  get(RP), get(J), get(DB), c.push(I32_MUL, I32_ADD), set(RR[0]);
  for (let b = 1; b < tr; b++) get(RR[b - 1]), get(DB), c.push(I32_ADD), set(RR[b]);
  for (const a of ACC) c.push(...V128_ZERO), set(a);
  k(0), set(T);
  c.push(LOOP, VOID);
  for (let a = 0; a < tq; a++) get(QR[a]), get(T), c.push(I32_ADD, ...V128_LOAD()), set(VQ[a]);
  for (let b = 0; b < tr; b++) {
    get(RR[b]), get(T), c.push(I32_ADD, ...V128_LOAD()), set(W);
    for (let a = 0; a < tq; a++) get(ACC[a * tr + b]), get(VQ[a]), get(W), c.push(...DOT, ...I32X4_ADD), set(ACC[a * tr + b]);
  }
  get(T), k(16), c.push(I32_ADD), set(T);
  get(T), get(DB), c.push(I32_LT_U, BR_IF, 0, END);
  // Horizontal sums, stored at out row a, columns j + b.
  for (let a = 0; a < tq; a++)
    for (let b = 0; b < tr; b++) {
      const acc = ACC[a * tr + b];
      get(OR[a]), get(J), k(2), c.push(I32_SHL, I32_ADD);
      get(acc), c.push(...EXTRACT(0));
      for (let lane = 1; lane < 4; lane++) get(acc), c.push(...EXTRACT(lane), I32_ADD);
      c.push(I32_STORE, 2, ...uleb(4 * b));
    }
  get(J), k(tr), c.push(I32_ADD), set(J);
  c.push(BR, 0, END, END);
  get(I), k(tq), c.push(I32_ADD), set(I);
  c.push(BR, 0, END, END, END);
  const locals = [2, ...uleb(nI32), 0x7f, ...uleb(nV128), 0x7b];
  return [...uleb(locals.length + c.length), ...locals, ...c];
}

/** Register tile of {@link buildDotI16Module}: nq must be a multiple of TILE_Q, nr of TILE_R. */
export const TILE_Q = 2;
export const TILE_R = 4;

/** The encoded module; it imports `env.memory` (pages as given, non-shared). */
export function buildDotI16Module(tq = TILE_Q, tr = TILE_R): Uint8Array<ArrayBuffer> {
  const type = section(1, [1, 0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]);
  const imp = section(2, [1, ...str('env'), ...str('memory'), 0x02, 0x00, 1]);
  const func = section(3, [1, 0]);
  const exp = section(7, [1, ...str('dot'), 0x00, 0]);
  const code = section(10, [1, ...body(tq, tr)]);
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...imp, ...func, ...exp, ...code]);
}
