/**
 * `npm run bench -- engine [--backend wasm|cpu|...] [--threads N] [--steps N] [--case NAME]
 * [--profile]`: training and inference throughput of the engine on the cases, one JSON
 * line per case on stdout: {case, backend, threads, phase, batch, imagesPerSec, msPerStep, steps}.
 * `--profile` adds, on stderr, the time per kernel of one training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend.ts';
import { backbones } from '../src/models/index.ts';
import { Rng } from '../src/util/rng.ts';

interface BenchCase {
  name: string;
  backbone: string;
  channels: number;
  size: number;
  phase: 'train' | 'infer';
  batch: number;
}

const CASES: BenchCase[] = [
  { name: 'resnet18-5ch-64px', backbone: 'resnet18', channels: 5, size: 64, phase: 'train', batch: 32 },
  { name: 'resnet18-5ch-64px', backbone: 'resnet18', channels: 5, size: 64, phase: 'infer', batch: 256 },
  { name: 'small-convnet-3ch-64px', backbone: 'small-convnet', channels: 3, size: 64, phase: 'train', batch: 32 },
];

const NUM_CLASSES = 10;

/** Backbone + dense 10 classifier head (logits). */
function classifier(c: BenchCase): tfl.LayersModel {
  const bb = backbones.get(c.backbone).build({ channels: c.channels, size: c.size, seed: 1 });
  const emb = bb.outputs[0];
  const logits = tfl.layers
    .dense({ units: NUM_CLASSES, name: 'bench_head', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) })
    .apply(emb) as tfl.SymbolicTensor;
  return tfl.model({ inputs: bb.inputs, outputs: logits });
}

function batchData(c: BenchCase, rng: Rng): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const n = c.batch * c.size * c.size * c.channels;
  const xs = new Float32Array(n);
  for (let i = 0; i < n; i++) xs[i] = rng.normal();
  const labels = Int32Array.from({ length: c.batch }, () => rng.int(NUM_CLASSES));
  return { x: tf.tensor4d(xs, [c.batch, c.size, c.size, c.channels]), y: tf.oneHot(tf.tensor1d(labels, 'int32'), NUM_CLASSES) as tf.Tensor2D };
}

/** One Adam step on softmax cross-entropy; returns the loss. */
function trainStep(model: tfl.LayersModel, opt: tf.Optimizer, x: tf.Tensor4D, y: tf.Tensor2D): number {
  const loss = opt.minimize(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor;
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  }, true) as tf.Scalar;
  const v = loss.dataSync()[0];
  loss.dispose();
  return v;
}

function inferStep(model: tfl.LayersModel, x: tf.Tensor4D): void {
  const out = model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor;
  out.dataSync();
  out.dispose();
}

async function runCase(c: BenchCase, steps: number, warmup: number, profile: boolean, info: { backend: string; threads: number }) {
  const model = classifier(c);
  const opt = tf.train.adam(1e-3);
  const { x, y } = batchData(c, new Rng(3));
  const step = c.phase === 'train' ? () => trainStep(model, opt, x, y) : () => inferStep(model, x);
  for (let i = 0; i < warmup; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - t0) / steps;
  console.log(
    JSON.stringify({
      case: c.name,
      backend: info.backend,
      threads: info.threads,
      phase: c.phase,
      batch: c.batch,
      imagesPerSec: +((1000 * c.batch) / ms).toFixed(2),
      msPerStep: +ms.toFixed(1),
      steps,
    }),
  );
  if (profile) await profileStep(c, step);
  x.dispose();
  y.dispose();
  opt.dispose();
  model.dispose();
}

/** Time per kernel name over one step (tf.profile), largest first, to stderr. */
async function profileStep(c: BenchCase, step: () => unknown): Promise<void> {
  const p = await tf.profile(() => {
    step();
  });
  const byName = new Map<string, { ms: number; n: number }>();
  let total = 0;
  for (const k of p.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byName.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n++;
    total += ms;
    byName.set(k.name, e);
  }
  const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  console.error(`profile ${c.name} ${c.phase}: ${p.kernels.length} kernels, ${total.toFixed(0)} ms in kernels`);
  for (const [name, e] of rows.slice(0, 25)) console.error(`  ${name.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms  x${e.n}`);
}

/** Entry point called by bench/main.ts. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      backend: { type: 'string' },
      threads: { type: 'string' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      case: { type: 'string', multiple: true },
      phase: { type: 'string' },
      profile: { type: 'boolean', default: false },
    },
  });
  const info = await initBackend({ backend: values.backend, threads: values.threads ? Number(values.threads) : undefined });
  for (const n of info.notices) console.error(`notice: ${n}`);
  console.error(`engine bench on ${info.backend} (${info.threads} thread(s))`);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  for (const c of CASES) {
    if (values.case && !values.case.some((s) => c.name.includes(s) || c.backbone === s)) continue;
    if (values.phase && values.phase !== c.phase) continue;
    await runCase(c, steps, warmup, values.profile, info);
  }
}
