/**
 * `npm run bench -- tiff [--reps N] [--size S]`: the TIFF decoder (src/data/decode.ts: sharp /
 * libvips, geotiff where libvips cannot keep the values) against geotiff alone on the flavours
 * microscopes and Fiji write, at a JUMP field's size (default 1080 x 1080). One JSON line per
 * flavour and decoder: {case, decoder, msPerImage (median), megapixelsPerSec, reps}.
 *
 * The measurement: wall time of one decode of bytes already in memory (no disk), one decode at a
 * time, median of `reps` after one warm-up, both decoders on the same bytes; the values both
 * return are compared once (a bench that measured a wrong decode would be worthless). Pixels are
 * the real JUMP DNA field (384 x 384, ../shared/data) mirrored to the size, else a seeded ramp.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fromArrayBuffer } from 'geotiff';
import { decodeImage, decodeImageBytes } from '../src/data/decode.ts';
import { omeXml, writeTiff, type FixturePage } from '../test/data/tiff-writer.ts';

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const REAL = '../shared/data/real/images/jump-rab30/images/BR00123947_G01_s1_DNA.tiff';

/** `size` x `size` 16-bit pixels: the real field mirrored (reflect at the edges), or a ramp. */
async function field(size: number): Promise<Uint16Array> {
  const out = new Uint16Array(size * size);
  if (!existsSync(REAL)) {
    for (let i = 0; i < out.length; i++) out[i] = (i * 2654435761) % 4096;
    return out;
  }
  const src = await decodeImage(REAL);
  const w = src.width;
  const at = (v: number) => {
    const p = v % (2 * w);
    return p < w ? p : 2 * w - 1 - p;
  };
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[y * size + x] = src.data[at(y) * w + at(x)];
  return out;
}

async function median(reps: number, f: () => Promise<unknown>): Promise<number> {
  await f();
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

async function geotiffDecode(buf: Buffer, pages: number): Promise<ArrayLike<number>[]> {
  const tiff = await fromArrayBuffer(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer);
  const out: ArrayLike<number>[] = [];
  for (let p = 0; p < pages; p++) out.push((await (await tiff.getImage(p)).readRasters({ interleave: true })) as unknown as ArrayLike<number>);
  return out;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { reps: { type: 'string', default: '15' }, size: { type: 'string', default: '1080' } } });
  const reps = Number(values.reps), S = Number(values.size);
  const u16 = await field(S);
  const f32 = Float32Array.from(u16, (v) => v / 65535);
  const page = (data: FixturePage['data'], o: Partial<FixturePage> = {}): FixturePage => ({ width: S, height: S, data, rowsPerStrip: 16, ...o });
  const five = [0, 1, 2, 3, 4].map((k) => Uint16Array.from(u16, (v) => (v + k * 97) % 65536));
  const cases: [string, Buffer, number][] = [
    ['uint16-deflate-strips (instrument)', writeTiff([page(u16, { deflate: true })]), 1],
    ['uint16-deflate-tiles-BE', writeTiff([page(u16, { deflate: true, tile: [256, 256] })], { bigEndian: true }), 1],
    ['float32-BE-uncompressed (Fiji 32-bit)', writeTiff([page(f32, { rowsPerStrip: S })], { bigEndian: true }), 1],
    ['float32-deflate-tiles', writeTiff([page(f32, { deflate: true, tile: [256, 256] })]), 1],
    ['ome-5-pages-uint16-deflate (whole file)', writeTiff(five.map((d, i) => page(d, { deflate: true, ...(i === 0 ? { description: omeXml({ width: S, height: S, sizeC: 5, type: 'uint16' }) } : {}) })), { bigTiff: true }), 5],
  ];
  console.error(`TIFF decode, ${S} x ${S}, median of ${reps} (machine: ${existsSync(REAL) ? 'real JUMP pixels' : 'ramp pixels'})`);
  for (const [name, buf, pages] of cases) {
    const ours = await decodeImageBytes(buf, name);
    const ref = await geotiffDecode(buf, pages);
    // Same values: ours is HWC over the pages, geotiff one array per page.
    for (let p = 0; p < pages; p++) {
      for (let i = 0; i < S * S; i += 997) {
        if (ours.data[i * pages + p] !== ref[p][i]) throw new Error(`${name}: decoders disagree at page ${p} sample ${i}`);
      }
    }
    const mp = (S * S * pages) / 1e6;
    for (const [decoder, f] of [['ben (sharp)', () => decodeImageBytes(buf, name)], ['geotiff', () => geotiffDecode(buf, pages)]] as const) {
      const ms = await median(reps, f);
      emit({ case: name, decoder, msPerImage: Math.round(ms * 10) / 10, megapixelsPerSec: Math.round((mp / (ms / 1000)) * 10) / 10, bytes: buf.length, reps });
    }
  }
}
