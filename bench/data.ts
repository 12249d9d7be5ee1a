/**
 * `npm run bench -- data [--images N] [--seconds S] [--no-engine]`: throughput of the data layer,
 * one JSON line per case on stdout ({case, imagesPerSec, ...}); progress on stderr.
 *
 * - decode-png-256x256x3: PNG files (synthetic cells, 256x256 RGB) decoded from disk by sharp,
 *   8 requests in flight.
 * - pipeline-*: PlateBatchSampler + augmentation + batch assembly from memory into tf tensors
 *   (64x64x3, batch 32), with the JS kernels the library uses.
 * - tf-ops-ssl-2views: the same SSL chain written with tf ops on the active backend, to justify
 *   the typed-array kernels.
 * - engine-resnet18-train: the engine's ResNet-18 training rate (64x64x3, batch 32) measured in the
 *   same process, the rate the pipeline must exceed tenfold.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend.ts';
import { resolveSynthConfig } from '../src/data/synth/config.ts';
import { generateSynthetic } from '../src/data/synth/generate.ts';
import { readDataset } from '../src/data/readers/index.ts';
import { decodeSite } from '../src/data/image-store.ts';
import { PlateBatchSampler } from '../src/data/samplers/index.ts';
import { BatchPipeline, toObjectiveBatch } from '../src/data/pipeline.ts';
import { gaussianKernel1d } from '../src/data/augment/ops.ts';
import { backbones } from '../src/models/index.ts';
import { Rng } from '../src/util/rng.ts';

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const round = (x: number) => Math.round(x * 10) / 10;

/** Runs `step` (returning images processed) for about `seconds`, after one warm-up call. */
async function rate(seconds: number, step: () => number | Promise<number>): Promise<number> {
  await step();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) n += await step();
  return n / ((performance.now() - t0) / 1000);
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { images: { type: 'string', default: '256' }, seconds: { type: 'string', default: '4' }, 'no-engine': { type: 'boolean', default: false } },
  });
  const seconds = Number(values.seconds);
  const info = await initBackend();
  console.error(`backend ${info.backend} (${info.threads} threads)`);
  const tmp = mkdtempSync(join(tmpdir(), 'ben-bench-data-'));
  try {
    // Decode: 256x256 RGB PNGs from disk.
    const nDecode = Number(values.images);
    const big = resolveSynthConfig('tiny', { height: 256, width: 256, cellRadius: 28, cellsPerImage: 8, treatments: 4, wellsPerTreatment: Math.ceil(nDecode / 64), negativeControlWells: 1 });
    console.error('writing 256x256 PNGs...');
    await generateSynthetic(big, join(tmp, 'png256'));
    const lazy = await readDataset(join(tmp, 'png256'), { load: false });
    const rows = lazy.rows.slice(0, nDecode);
    let next = 0;
    const decodeAll = async () => {
      next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < rows.length) await decodeSite(rows[next++], lazy.images);
      }));
      return rows.length;
    };
    emit({ case: 'decode-png-256x256x3', imagesPerSec: round(await rate(seconds, decodeAll)), images: rows.length, inFlight: 8 });

    // Pipeline from memory: small preset (64x64x3).
    console.error('writing the small preset...');
    await generateSynthetic(resolveSynthConfig('small', {}), join(tmp, 'small'));
    const ds = await readDataset(join(tmp, 'small'));
    for (const [name, augment, views] of [['pipeline-wilds-1view', 'wilds', 1], ['pipeline-ssl-2views', 'ssl', 2]] as const) {
      const sampler = new PlateBatchSampler(ds.rows, { seed: 1, batchSize: 32 });
      const pipe = new BatchPipeline(ds, { seed: 1, views, augment });
      const r = await rate(seconds, () => {
        const b = sampler.next();
        const ob = toObjectiveBatch(pipe.assembleSync(b.indices), b.group);
        tf.dispose([...ob.views, ob.labels!]);
        return b.indices.length;
      });
      emit({ case: name, imagesPerSec: round(r), views, batch: 32, size: ds.height, backend: info.backend });
    }

    // The SSL chain as tf ops (batched crop-resize and standardisation, per-image flips/rotation/blur).
    {
      const sampler = new PlateBatchSampler(ds.rows, { seed: 1, batchSize: 32 });
      const rng = new Rng(1);
      const H = ds.height;
      const r = await rate(seconds, () => {
        const b = sampler.next();
        const B = b.indices.length;
        const raw = new Float32Array(B * H * H * 3);
        Array.from(b.indices).forEach((i, j) => raw.set(ds.images.getSync(i), j * H * H * 3));
        for (let v = 0; v < 2; v++) {
          const out = tf.tidy(() => {
            const x = tf.div(tf.tensor4d(raw, [B, H, H, 3]), 255) as tf.Tensor4D;
            const boxes = Array.from({ length: B }, () => {
              const s = Math.sqrt(rng.uniform(0.4, 1));
              const y0 = rng.uniform(0, 1 - s);
              const x0 = rng.uniform(0, 1 - s);
              return [y0, x0, y0 + s, x0 + s];
            });
            const crops = tf.image.cropAndResize(x, boxes, Array.from({ length: B }, (_, j) => j), [H, H]);
            const imgs = tf.unstack(crops).map((im) => {
              let t = im as tf.Tensor3D;
              for (let k = rng.int(4); k > 0; k--) t = tf.reverse(tf.transpose(t, [1, 0, 2]), 0);
              if (rng.next() < 0.5) t = tf.reverse(t, 1);
              if (rng.next() < 0.5) {
                const k1 = gaussianKernel1d(rng.uniform(0.1, 1.5));
                const K = k1.length;
                const k2 = new Float32Array(K * K * 3);
                for (let a = 0; a < K; a++) for (let c = 0; c < K; c++) for (let ch = 0; ch < 3; ch++) k2[(a * K + c) * 3 + ch] = k1[a] * k1[c];
                t = tf.squeeze(tf.depthwiseConv2d(tf.expandDims(t, 0) as tf.Tensor4D, tf.tensor4d(k2, [K, K, 3, 1]), 1, 'same'), [0]);
              }
              return t;
            });
            const st = tf.stack(imgs) as tf.Tensor4D;
            const { mean, variance } = tf.moments(st, [1, 2], true);
            return tf.div(tf.sub(st, mean), tf.sqrt(tf.add(variance, 1e-12)));
          });
          out.dataSync();
          out.dispose();
        }
        return B;
      });
      emit({ case: 'tf-ops-ssl-2views', imagesPerSec: round(r), views: 2, batch: 32, size: H, backend: info.backend });
    }

    if (!values['no-engine']) {
      console.error('timing the engine (ResNet-18 training steps)...');
      const bb = backbones.get('resnet18').build({ channels: 3, size: 64, seed: 1 });
      const head = tfl.layers.dense({ units: 8 }).apply(bb.outputs[0]) as tfl.SymbolicTensor;
      const model = tfl.model({ inputs: bb.inputs, outputs: head });
      const opt = tf.train.sgd(0.01);
      const sampler = new PlateBatchSampler(ds.rows, { seed: 2, batchSize: 32 });
      const pipe = new BatchPipeline(ds, { seed: 2 });
      const step = () => {
        const b = sampler.next();
        const ob = toObjectiveBatch(pipe.assembleSync(b.indices), b.group);
        const loss = opt.minimize(() => {
          const logits = model.apply(ob.views[0], { training: true }) as tf.Tensor;
          return tf.losses.softmaxCrossEntropy(tf.oneHot(ob.labels!, 8), logits) as tf.Scalar;
        }, true)!;
        loss.dataSync();
        tf.dispose([loss, ...ob.views, ob.labels!]);
        return 32;
      };
      const r = await rate(Math.max(seconds, 10), step);
      emit({ case: 'engine-resnet18-train', imagesPerSec: round(r), batch: 32, size: 64, backend: info.backend, threads: info.threads, note: 'includes its own batch assembly' });
      model.dispose();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
