/**
 * A tiny hand-assembled WebAssembly SIMD kernel: int16 inner products of a block of query rows
 * against a block of reference rows, `out[i, j] = sum_t q[i, t] * r[j, t]` in int32, built on
 * `i32x4.dot_i16x8_s` (8 multiply-adds per instruction, twice float32 SIMD's rate) with a 2 x 4
 * register tile. Used by the exact screened kNN search (topk-int16.ts), which bounds the
 * quantisation error so results stay exact. No toolchain needed: the module is encoded here.
 *
 * Export `dot(qPtr, rPtr, outPtr, nq, nr, dBytes)`: nq even, nr a multiple of 4, dBytes = 2 * d a
 * multiple of 16; rows are contiguous int16, out is [nq, nr] int32 row-major.
 */

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const str = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

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

// Locals: params 0..5, then i32 6..16, then v128 17..27.
const [QP, RP, OP, NQ, NR, DB] = [0, 1, 2, 3, 4, 5];
const [I, J, T, QA, QB, R0, R1, R2, R3, OA, OB] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const ACC = [17, 18, 19, 20, 21, 22, 23, 24];
const [VA, VB, W] = [25, 26, 27];

function body(): number[] {
  const c: number[] = [];
  const get = (l: number) => c.push(GET, ...uleb(l));
  const set = (l: number) => c.push(SET, ...uleb(l));
  const k = (n: number) => c.push(I32_CONST, ...sleb(n));
  // i = 0
  k(0), set(I);
  c.push(BLOCK, VOID, LOOP, VOID);
  get(I), get(NQ), c.push(I32_GE_U, BR_IF, 1);
  // qa = qPtr + i * dBytes; qb = qa + dBytes
  get(QP), get(I), get(DB), c.push(I32_MUL, I32_ADD), set(QA);
  get(QA), get(DB), c.push(I32_ADD), set(QB);
  // oa = outPtr + i * nr * 4; ob = oa + nr * 4
  get(OP), get(I), get(NR), c.push(I32_MUL), k(2), c.push(I32_SHL, I32_ADD), set(OA);
  get(OA), get(NR), k(2), c.push(I32_SHL, I32_ADD), set(OB);
  k(0), set(J);
  c.push(BLOCK, VOID, LOOP, VOID);
  get(J), get(NR), c.push(I32_GE_U, BR_IF, 1);
  get(RP), get(J), get(DB), c.push(I32_MUL, I32_ADD), set(R0);
  get(R0), get(DB), c.push(I32_ADD), set(R1);
  get(R1), get(DB), c.push(I32_ADD), set(R2);
  get(R2), get(DB), c.push(I32_ADD), set(R3);
  for (const a of ACC) c.push(...V128_ZERO), set(a);
  k(0), set(T);
  c.push(LOOP, VOID);
  get(QA), get(T), c.push(I32_ADD, ...V128_LOAD()), set(VA);
  get(QB), get(T), c.push(I32_ADD, ...V128_LOAD()), set(VB);
  [R0, R1, R2, R3].forEach((r, col) => {
    get(r), get(T), c.push(I32_ADD, ...V128_LOAD()), set(W);
    get(ACC[col]), get(VA), get(W), c.push(...DOT, ...I32X4_ADD), set(ACC[col]);
    get(ACC[4 + col]), get(VB), get(W), c.push(...DOT, ...I32X4_ADD), set(ACC[4 + col]);
  });
  get(T), k(16), c.push(I32_ADD), set(T);
  get(T), get(DB), c.push(I32_LT_U, BR_IF, 0, END);
  // Horizontal sums, stored at oa + 4j + 4col and ob + 4j + 4col.
  for (let a = 0; a < 8; a++) {
    get(a < 4 ? OA : OB), get(J), k(2), c.push(I32_SHL, I32_ADD);
    get(ACC[a]), c.push(...EXTRACT(0));
    for (let lane = 1; lane < 4; lane++) get(ACC[a]), c.push(...EXTRACT(lane), I32_ADD);
    c.push(I32_STORE, 2, ...uleb(4 * (a % 4)));
  }
  get(J), k(4), c.push(I32_ADD), set(J);
  c.push(BR, 0, END, END);
  get(I), k(2), c.push(I32_ADD), set(I);
  c.push(BR, 0, END, END, END);
  const locals = [2, ...uleb(11), 0x7f, ...uleb(11), 0x7b];
  return [...uleb(locals.length + c.length), ...locals, ...c];
}

/** The encoded module; it imports `env.memory` (pages as given, non-shared). */
export function buildDotI16Module(): Uint8Array<ArrayBuffer> {
  const type = section(1, [1, 0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]);
  const imp = section(2, [1, ...str('env'), ...str('memory'), 0x02, 0x00, 1]);
  const func = section(3, [1, 0]);
  const exp = section(7, [1, ...str('dot'), 0x00, 0]);
  const code = section(10, [1, ...body()]);
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...imp, ...func, ...exp, ...code]);
}
