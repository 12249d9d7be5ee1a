/**
 * Byte encoders for hand-assembled WebAssembly modules (the binary format's LEB128 integers,
 * names, vectors and sections). There is no wasm toolchain on the target machines, so our small
 * SIMD kernels (engine/kernels/simd.ts, engine/knn/wasm-dot-i16.ts) are encoded with these.
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128. */
export function sleb(n: number): number[] {
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
}

/** A length-prefixed UTF-8 name. */
export const str = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
/** A length-prefixed vector of already-encoded items. */
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
/** A module section with its id and byte length. */
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
