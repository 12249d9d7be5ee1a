/**
 * Illumination correction on real images: BBBC013 fields (DNA, GFP; their central 320 px) are vignetted (a strong
 * fall-off and tilt per channel, written as 16-bit TIFFs) and their CellProfiler-style functions
 * written as .npy beside a LoadData CSV. Embedded with `ben embed`'s library call, the corrected
 * fields' embeddings match the originals' far better than the uncorrected ones'; the Parquet
 * key-value metadata records the correction. Skipped where ../shared/data is missing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '../../src/engine/backend.ts';
import { embedToParquet } from '../../src/embedding/run.ts';
import { readProfileTable } from '../../src/tables/read.ts';
import { BenBatchNorm } from '../../src/models/ben-batchnorm.ts';
import { saveModel } from '../../src/models/io.ts';
import { decodeImage, encodeTiff } from '../../src/data/decode.ts';
import { encodeNpy } from '../../src/data/npy.ts';
import { toCsv } from '../../src/data/csv.ts';
import { rowOf } from '../../src/tables/profile-table.ts';

const BBBC013 = resolve('../shared/data/real/images/bbbc013');
const have = existsSync(BBBC013);
const root = mkdtempSync(join(tmpdir(), 'ben-illum-real-'));
const WELLS = ['A01', 'A06', 'B03', 'C09', 'D11', 'E07', 'G02', 'H12'];
/** The central N x N of each 640 x 640 field (real pixels, a quarter of the work). */
const N = 320, OFF = 160;

/** Per channel: a vignette falling to ~35-45% in the corners, tilted, max 1 (no clipping). */
function vignette(c: number): Float32Array {
  const f = new Float32Array(N * N);
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) {
      const dx = (x + 0.5) / N - 0.45 - 0.05 * c, dy = (y + 0.5) / N - 0.55;
      f[y * N + x] = Math.max(0.3, 1 - (1.1 + 0.2 * c) * (dx * dx + dy * dy) * 2 + 0.15 * dx);
    }
  }
  const max = f.reduce((a, b) => Math.max(a, b), 0);
  return f.map((v) => v / max);
}

/** A small random-weight BEN network over the whole field (the plumbing and the images are under test, not the training). */
async function model(dir: string): Promise<void> {
  const input = tfl.input({ shape: [null, null, 2] });
  let x = tfl.layers.conv2d({ filters: 16, kernelSize: 8, strides: 8, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 32, kernelSize: 4, strides: 4, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }).apply(x) as tfl.SymbolicTensor;
  x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  await saveModel(tfl.model({ inputs: input, outputs: out }), dir, { backbone: 'tiny-test', embeddingDim: 32, inputSize: N });
}

describe.skipIf(!have)('illumination correction on real BBBC013 fields', () => {
  const csv = { orig: join(root, 'orig.csv'), vig: join(root, 'vignetted.csv') };
  beforeAll(async () => {
    await initBackend();
    mkdirSync(join(root, 'vig'), { recursive: true });
    const fns = [0, 1].map(vignette);
    // CellProfiler's rescale: the function divided by its robust minimum (2nd percentile).
    const scaled = fns.map((f) => {
      const m = Float32Array.from(f).sort()[Math.floor(0.02 * f.length)];
      return f.map((v) => v / m);
    });
    const chans = [['DNA', 2], ['GFP', 1]] as const;
    chans.forEach(([ch], c) => writeFileSync(join(root, 'vig', `Illum${ch}.npy`), encodeNpy(scaled[c], [N, N])));
    const origRows: (string | number)[][] = [], vigRows: (string | number)[][] = [];
    for (const [k, well] of WELLS.entries()) {
      const n = (well.charCodeAt(0) - 65) * 12 + Number(well.slice(1));
      const files = chans.map(([, ch]) => `Channel${ch}-${String(n).padStart(2, '0')}-${well[0]}-${well.slice(1)}.tif`);
      const orig: string[] = [], out: string[] = [];
      for (const [c, f] of files.entries()) {
        const img = await decodeImage(join(BBBC013, f));
        const crop = new Uint8Array(N * N);
        for (let y = 0; y < N; y++) crop.set(img.data.subarray((y + OFF) * 640 + OFF, (y + OFF) * 640 + OFF + N), y * N);
        orig.push(`orig-${well}-${chans[c][0]}.tif`);
        writeFileSync(join(root, 'vig', orig[c]), await encodeTiff(crop, N, N));
        // 8-bit x 257 = the 16-bit scale; then the vignette (max 1: nothing clips).
        const v = Uint16Array.from(crop, (s, p) => Math.round(s * 257 * fns[c][p]));
        out.push(`vig-${well}-${chans[c][0]}.tif`);
        writeFileSync(join(root, 'vig', out[c]), await encodeTiff(v, N, N));
      }
      origRows.push(['1049', well, 1, k < 4 ? 'negcon' : 'trt', ...orig.flatMap((f) => [f, 'vig'])]);
      vigRows.push(['1049', well, 1, k < 4 ? 'negcon' : 'trt', ...out.flatMap((f) => [f, 'vig']), ...chans.flatMap(([ch]) => [`Illum${ch}.npy`, 'vig'])]);
    }
    const head = ['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Metadata_control_type', 'FileName_OrigDNA', 'PathName_OrigDNA', 'FileName_OrigGFP', 'PathName_OrigGFP'];
    writeFileSync(csv.orig, toCsv(head, origRows));
    writeFileSync(csv.vig, toCsv([...head, 'FileName_IllumDNA', 'PathName_IllumDNA', 'FileName_IllumGFP', 'PathName_IllumGFP'], vigRows));
    await model(join(root, 'model'));
  });

  it('corrected embeddings match the originals far better than uncorrected ones; the Parquet records the correction', async () => {
    const embed = async (data: string, out: string, illumination: 'none' | 'loaddata' | { mode: 'compute'; filterSize: number }) => {
      await embedToParquet({ modelDir: join(root, 'model'), dataPath: data, out: join(root, out), normalization: 'plate', aggregate: 'none', read: { illumination } });
      return (await readProfileTable(join(root, out))).table;
    };
    const orig = await embed(csv.orig, 'orig.parquet', 'none');
    const raw = await embed(csv.vig, 'raw.parquet', 'none');
    const cor = await embed(csv.vig, 'corrected.parquet', 'loaddata');
    // Functions estimated from these 8 fields alone (written beside the output, <out>.illumination/).
    const est = await embed(csv.vig, 'computed.parquet', { mode: 'compute', filterSize: 200 });
    expect(JSON.parse(est.keyValue!.illumination)).toMatchObject({ mode: 'compute', applied: true, source: join(root, 'computed.illumination'), filterSize: 200, radius: 85 });
    expect(JSON.parse(cor.keyValue!.illumination)).toMatchObject({ mode: 'loaddata', applied: true, files: 2, plates: { '1049': { DNA: join(root, 'vig', 'IllumDNA.npy') } } });
    expect(JSON.parse(raw.keyValue!.illumination)).toMatchObject({ mode: 'none', applied: false });
    const cos = (a: Float32Array, b: Float32Array) => {
      let ab = 0, aa = 0, bb = 0;
      for (let j = 0; j < a.length; j++) (ab += a[j] * b[j]), (aa += a[j] * a[j]), (bb += b[j] * b[j]);
      return ab / Math.sqrt(aa * bb);
    };
    const dist = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, j) => s + (v - b[j]) ** 2, 0));
    let cRaw = 0, cCor = 0, dRaw = 0, dCor = 0, dEst = 0, nearestRaw = 0, nearestCor = 0;
    for (let i = 0; i < orig.n; i++) {
      cRaw += cos(rowOf(orig, i), rowOf(raw, i)) / orig.n;
      cCor += cos(rowOf(orig, i), rowOf(cor, i)) / orig.n;
      dRaw += dist(rowOf(orig, i), rowOf(raw, i)) / orig.n;
      dCor += dist(rowOf(orig, i), rowOf(cor, i)) / orig.n;
      dEst += dist(rowOf(orig, i), rowOf(est, i)) / orig.n;
      // Is the site's own original its nearest original (a field recognised after the vignette)?
      const nearest = (t: typeof raw) => [...Array(orig.n).keys()].reduce((b, j) => (dist(rowOf(t, i), rowOf(orig, j)) < dist(rowOf(t, i), rowOf(orig, b)) ? j : b), 0) === i;
      if (nearest(raw)) nearestRaw++;
      if (nearest(cor)) nearestCor++;
    }
    const spread = [...Array(orig.n).keys()].reduce((s, i) => s + dist(rowOf(orig, i), rowOf(orig, (i + 1) % orig.n)), 0) / orig.n;
    console.log(`BBBC013 vignette, ${orig.n} fields (central ${N} px): cosine to the original embedding ${cRaw.toFixed(4)} uncorrected -> ${cCor.toFixed(4)} corrected; ` +
      `L2 distance ${dRaw.toExponential(3)} -> ${dCor.toExponential(3)} (functions computed from the 8 fields: ${dEst.toExponential(3)}; between different fields: ${spread.toFixed(4)}); own original nearest ${nearestRaw}/${orig.n} -> ${nearestCor}/${orig.n}`);
    expect(dCor).toBeLessThan(dRaw / 10);
    expect(1 - cCor).toBeLessThan((1 - cRaw) / 10);
    expect(nearestCor).toBe(orig.n);
    // Estimated from 8 fields only, the functions keep some cell structure: closer than uncorrected, far from exact.
    expect(dEst).toBeLessThan(dRaw);
  });
});
