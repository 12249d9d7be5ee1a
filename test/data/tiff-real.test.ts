/**
 * The real fields re-encoded as microscopes and Fiji write them, read back identical: the two JUMP
 * fields (5 channels, 16-bit) as one OME-TIFF per site (big-endian, tiled, BigTIFF, pages in
 * another order than the channels) named by LoadData Frame_ columns and by an image-folder
 * pattern, and as 32-bit float ImageJ stacks; a BBBC013 field as a tiled big-endian two-page
 * file. The float copy goes through `ben data info` and embeds as the 16-bit original does.
 * Skipped with a message where ../shared/data is missing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage } from '../../src/data/decode.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import type { Dataset } from '../../src/data/image-dataset.ts';
import { BenBatchNorm } from '../../src/models/ben-batchnorm.ts';
import { embedDataset } from '../../src/embedding/embedder.ts';
import { omeXml, writeTiff } from './tiff-writer.ts';

const REAL = '../shared/data/real/images';
const JUMP = join(REAL, 'jump-rab30');
const BBBC013 = join(REAL, 'bbbc013');
const have = existsSync(JUMP) && existsSync(BBBC013);
if (!have) console.warn(`skipping the real re-encoded TIFF tests: ${REAL} is missing (the shared data folder beside the checkout)`);

const CHANNELS = ['DNA', 'ER', 'RNA', 'AGP', 'Mito'];
/** Where each channel sits in the re-encoded files: not the channel order, so the mapping is tested. */
const PAGE_OF = [3, 0, 4, 1, 2];
const root = mkdtempSync(join(tmpdir(), 'ben-tiff-real-'));

function ben(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
}

/** How many samples differ (vitest's deep equality on millions of samples takes minutes). */
function differences(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/** Channel `c` of a dataset image (HWC) as one plane. */
function plane(px: ArrayLike<number>, c: number, C: number): number[] {
  const out: number[] = [];
  for (let q = c; q < px.length; q += C) out.push(px[q]);
  return out;
}

describe.skipIf(!have)('real fields re-encoded as multi-page, OME, big-endian, tiled and float TIFF', () => {
  let original: Dataset;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    original = await readDataset(JUMP, { channels: CHANNELS });
    const C = CHANNELS.length;
    const header = 'Metadata_Source,Metadata_Batch,Metadata_Plate,Metadata_Well,Metadata_Site,' + CHANNELS.map((c) => `FileName_Orig${c},PathName_Orig${c},Frame_Orig${c}`).join(',');
    const ome: string[] = [header], fiji: string[] = [header];
    mkdirSync(join(root, 'ome'), { recursive: true });
    for (let i = 0; i < original.size; i++) {
      const r = original.rows[i];
      const px = original.images.getSync(i);
      const planes = CHANNELS.map((_, c) => Uint16Array.from(plane(px, c, C)));
      const byPage = PAGE_OF.map((_, p) => PAGE_OF.indexOf(p)); // page -> channel
      const tiffData = CHANNELS.map((_, c) => `<TiffData FirstC="${c}" IFD="${PAGE_OF[c]}" PlaneCount="1"/>`).join('');
      const desc = omeXml({ width: original.width, height: original.height, sizeC: C, type: 'uint16', channelNames: CHANNELS, tiffData });
      const name = `${r.plate}_${r.well}_s${r.site}`;
      writeFileSync(join(root, 'ome', `${name}.ome.tif`), writeTiff(byPage.map((c, p) => ({ width: original.width, height: original.height, data: planes[c], tile: [64, 64], deflate: true, ...(p === 0 ? { description: desc } : {}) })), { bigEndian: true, bigTiff: true }));
      // Fiji's 32-bit stacks: float, big-endian, uncompressed, intensities on a 0..1 scale.
      const floats = planes.map((p) => Float32Array.from(p, (v) => v / 65535));
      writeFileSync(join(root, `${name}.fiji.tif`), writeTiff(byPage.map((c, p) => ({ width: original.width, height: original.height, data: floats[c], rowsPerStrip: original.height, ...(p === 0 ? { description: `ImageJ=1.54f\nimages=${C}\nchannels=${C}\nmode=grayscale\n` } : {}) })), { bigEndian: true }));
      const meta = `${r.extra.Metadata_Source},${r.extra.Metadata_Batch},${r.plate},${r.well},${r.site}`;
      // An OME-TIFF's frame is the plane of the OME series (here the channel index; the OME-XML
      // says which page holds it); a Fiji stack's frame is the page.
      ome.push(meta + ',' + CHANNELS.map((_, c) => `${name}.ome.tif,ome,${c}`).join(','));
      fiji.push(meta + ',' + CHANNELS.map((_, c) => `${name}.fiji.tif,.,${PAGE_OF[c]}`).join(','));
    }
    writeFileSync(join(root, 'load_data_ome.csv'), ome.join('\n') + '\n');
    writeFileSync(join(root, 'load_data_fiji.csv'), fiji.join('\n') + '\n');
  });

  it('LoadData Frame_ columns pick each channel from the OME-TIFF (planes of the OME series): the 16-bit pixels are identical', async () => {
    const ds = await readDataset(join(root, 'load_data_ome.csv'), { channels: CHANNELS });
    expect([ds.size, ds.height, ds.width, ds.images.channels, ds.dtype]).toEqual([2, 384, 384, 5, 'uint16']);
    expect(ds.rows[0].planes?.map((p) => p.frame)).toEqual([0, 1, 2, 3, 4]);
    for (let i = 0; i < ds.size; i++) expect(differences(ds.images.getSync(i), original.images.getSync(i))).toBe(0);
  });

  it('an image-folder pattern reads each OME-TIFF whole: its pages are the channels, in the OME-XML order', async () => {
    const ds = await readDataset(join(root, 'ome'), { layout: 'image-folder', pattern: '(?<plate>.+)_(?<well>[A-P]\\d\\d)_s(?<site>\\d)\\.ome\\.tif', channels: CHANNELS });
    expect([ds.size, ds.images.channels, ds.dtype]).toEqual([2, 5, 'uint16']);
    for (let i = 0; i < ds.size; i++) {
      const j = original.rows.findIndex((r) => r.plate === ds.rows[i].plate);
      expect(differences(ds.images.getSync(i), original.images.getSync(j))).toBe(0);
    }
  });

  it('the float32 ImageJ stacks keep their values, show as float32 in ben data info, and embed as the 16-bit originals', async () => {
    const ds = await readDataset(join(root, 'load_data_fiji.csv'), { channels: CHANNELS });
    expect(ds.dtype).toBe('float32');
    for (let i = 0; i < ds.size; i++) {
      const want = Float32Array.from(original.images.getSync(i), (v) => v / 65535);
      expect(differences(ds.images.getSync(i), want)).toBe(0);
    }
    const info = ben('data', 'info', join(root, 'load_data_fiji.csv'), '--channels', ...CHANNELS, '--json');
    expect(info.stderr).not.toMatch(/Error|at .*\.ts:/);
    expect(info.status).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ images: 2, channels: CHANNELS, height: 384, width: 384, dtype: 'float32', imagesChecked: true });

    // A small BEN model (random weights: the plumbing is under test) sees the same input either way.
    const input = tfl.input({ shape: [384, 384, 5] });
    let x = tfl.layers.conv2d({ filters: 4, kernelSize: 8, strides: 8, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
    x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.globalAveragePooling2d({}).apply(tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor) as tfl.SymbolicTensor });
    for (const preprocess of ['standardize', 'scale'] as const) {
      const a = (await embedDataset(model, original, { normalization: 'running', preprocess })).table.features;
      const b = (await embedDataset(model, ds, { normalization: 'running', preprocess })).table.features;
      let scale = 0, diff = 0;
      for (let k = 0; k < a.length; k++) {
        scale = Math.max(scale, Math.abs(a[k]));
        diff = Math.max(diff, Math.abs(a[k] - b[k]));
      }
      expect(scale, preprocess).toBeGreaterThan(0);
      expect(diff / scale, preprocess).toBeLessThan(1e-5);
    }
  });

  it('a BBBC013 palette field and its GFP partner as one tiled big-endian two-page file: both channels identical', async () => {
    const dna = await decodeImage(join(BBBC013, 'Channel2-01-A-01.tif'));
    const gfp = await decodeImage(join(BBBC013, 'Channel1-01-A-01.tif'));
    const f = join(root, 'bbbc013-A01.tif');
    writeFileSync(f, writeTiff([dna, gfp].map((d) => ({ width: d.width, height: d.height, data: d.data as Uint8Array, tile: [128, 128] })), { bigEndian: true }));
    const both = await decodeImage(f);
    expect([both.channels, both.dtype, both.width]).toEqual([2, 'uint8', 640]);
    expect(differences(plane(both.data, 0, 2), dna.data)).toBe(0);
    expect(differences(plane(both.data, 1, 2), gfp.data)).toBe(0);
  });
});
