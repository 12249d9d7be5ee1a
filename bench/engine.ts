/**
 * `npm run bench -- engine [--backend wasm|cpu|...] [--threads N] [--steps N] [--case NAME]
 * [--profile]`: training and inference throughput of the engine on the issue's cases, one JSON
 * line per case on stdout: {case, backend, threads, phase, batch, imagesPerSec, msPerStep,
 * bestImagesPerSec, cpuMsPerStep, load1 (1-minute load average when the case started), steps}.
 * `--profile` adds, on stderr, the time per kernel of one training step.
 * `--threads-ab` instead measures 1 vs N wasm threads on matmul and conv inside one process,
 * alternating the two backends so that load from other processes hits both alike.
 * `--ab FEATURE` (threads, all, gemm, relu, identity, stem, bn, simd, adam) runs each selected case with the
 * feature off and on side by side, alternating steps (see AB_FEATURES).
 * `--bn-ab` measures training-mode BatchNorm forward+backward over ResNet-18's BN shapes (64 px,
 * batch 32): tfjs ops (as autodiff or a hand gradient composes them) vs the fused kernels.
 * `--engines native,wasm` and/or `--peer torch` run each case once per engine (a child process
 * each: `BEN_NATIVE=1|0`) and in PyTorch (bench/peer-torch.py, when `python3 -c 'import torch'`
 * works), alternating over `--rounds N`, then print one summary line per case with every
 * engine's median images/s and the ratios to PyTorch, measured side by side.
 * `--conv-ops` times 3x3 convolution forward, input and filter gradients alone on ResNet-18 layer
 * shapes (64 px input, batch 32) on the active engine (`python3 bench/peer-torch.py --ops`: PyTorch).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { parseArgs } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { engineLabel, initBackend, type BackendInfo } from '../src/engine/backend.ts';
import { createThreadedWasmBackend } from '../src/engine/wasm-threads.ts';
import { batchNormTrain } from '../src/engine/ops/batch-norm-train.ts';
import { registerAdamUpdateKernels } from '../src/engine/kernels/adam-update.ts';
import { registerBatchNormTrainKernels } from '../src/engine/kernels/batch-norm-train.ts';
import { backbones } from '../src/models/index.ts';
import { Rng } from '../src/util/rng.ts';
import { setEngineFlags } from '../src/engine/flags.ts';
import { chooseOpenMpPolicy } from '../src/engine/openmp-policy.ts';
import { createOptimizer, type TrainOptimizer } from '../src/training/optimizers.ts';

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

/** The model's trainable variables, in the order the training loop's optimizer gets them. */
function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

/** One Adam(W) step (the training loop's optimizer) on softmax cross-entropy; returns the loss. */
function trainStep(model: tfl.LayersModel, opt: TrainOptimizer, params: tf.Variable[], x: tf.Tensor4D, y: tf.Tensor2D): number {
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor;
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  }, params);
  opt.apply(
    params.map((p) => grads[p.name]),
    1e-3,
  );
  const v = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return v;
}

/** Whether {@link makeOptimizer} uses the fused update kernel (switched by `--ab adam`). */
let fusedOptimizer = true;

/** Adam(W) as the trainer configures it by default (decay on kernels). */
function makeOptimizer(params: tf.Variable[]): TrainOptimizer {
  return createOptimizer({ name: 'adam', weightDecay: 1e-4, fused: fusedOptimizer }, params);
}

function inferStep(model: tfl.LayersModel, x: tf.Tensor4D): void {
  const out = model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor;
  out.dataSync();
  out.dispose();
}

async function runCase(c: BenchCase, steps: number, warmup: number, profile: boolean, info: BackendInfo) {
  const model = classifier(c);
  const params = trainableVariables(model);
  const opt = makeOptimizer(params);
  const { x, y } = batchData(c, new Rng(3));
  const step = c.phase === 'train' ? () => trainStep(model, opt, params, x, y) : () => inferStep(model, x);
  for (let i = 0; i < warmup; i++) step();
  const load1 = loadavg()[0];
  const times: number[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const ts = performance.now();
    step();
    times.push(performance.now() - ts);
  }
  const ms = (performance.now() - t0) / steps;
  const cu = process.cpuUsage(c0);
  console.log(
    JSON.stringify({
      case: c.name,
      backend: info.backend,
      native: info.native ? `${info.native.library} ${info.native.version} ${info.native.isa}` : undefined,
      threads: info.threads,
      phase: c.phase,
      batch: c.batch,
      imagesPerSec: +((1000 * c.batch) / ms).toFixed(2),
      msPerStep: +ms.toFixed(1),
      // Best step and process cpu time: less sensitive to other processes on a shared machine.
      bestImagesPerSec: +((1000 * c.batch) / Math.min(...times)).toFixed(2),
      cpuMsPerStep: +((cu.user + cu.system) / 1e3 / steps).toFixed(1),
      load1: +load1.toFixed(2),
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

/** Median milliseconds of `fn` over `reps` runs (after 2 warm-up runs). */
function medianMs(fn: () => tf.Tensor, reps: number): number {
  for (let i = 0; i < 2; i++) tf.dispose(fn());
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    const r = fn();
    r.dataSync();
    ts.push(performance.now() - t);
    r.dispose();
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(reps / 2)];
}

/**
 * Registers `wasm-1t`: the same threaded wasm build with a pool of 1 thread, with every wasm
 * kernel (ours included), so 1 and N threads can alternate inside one process.
 */
function registerOneThreadBackend(): void {
  if (tf.findBackendFactory('wasm-1t')) return;
  registerAdamUpdateKernels();
  registerBatchNormTrainKernels();
  for (const k of tf.getKernelsForBackend('wasm')) tf.registerKernel({ ...k, backendName: 'wasm-1t' });
  tf.registerBackend('wasm-1t', () => createThreadedWasmBackend(1));
}

/** 1 vs N threads, interleaved: matmul 1024^2, conv 3x3 on two ResNet shapes, and their backprops. */
async function threadsAB(threads: number, reps: number): Promise<void> {
  registerOneThreadBackend();
  const ops: { name: string; gflop: number; make: () => () => tf.Tensor }[] = [];
  const mm = () => {
    const a = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1);
    const b = tf.randomNormal([1024, 1024], 0, 1, 'float32', 2);
    return () => tf.matMul(a, b);
  };
  ops.push({ name: 'matmul-1024', gflop: 2 * 1024 ** 3 / 1e9, make: mm });
  for (const [hw, c] of [[16, 64], [4, 256]] as const) {
    const flop = 2 * 32 * hw * hw * c * c * 9 / 1e9;
    const mk = (kind: 'fwd' | 'dx' | 'dw') => () => {
      const x = tf.randomNormal([32, hw, hw, c], 0, 1, 'float32', 3) as tf.Tensor4D;
      const f = tf.randomNormal([3, 3, c, c], 0, 1, 'float32', 4) as tf.Tensor4D;
      const dy = tf.randomNormal([32, hw, hw, c], 0, 1, 'float32', 5) as tf.Tensor4D;
      if (kind === 'fwd') return () => tf.conv2d(x, f, 1, 'same');
      // The kernels alone (tf.grads would run the forward conv and both backprops every time).
      if (kind === 'dx') {
        return () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: x.shape }) as tf.Tensor;
      }
      return () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: f.shape }) as tf.Tensor;
    };
    for (const kind of ['fwd', 'dx', 'dw'] as const) ops.push({ name: `conv3x3-${c}ch-${hw}px-b32-${kind}`, gflop: flop, make: mk(kind) });
  }
  const backends = [
    { name: 'wasm-1t', threads: 1 },
    { name: 'wasm', threads },
  ];
  for (const op of ops) {
    const res: Record<string, number[]> = { 'wasm-1t': [], wasm: [] };
    for (let round = 0; round < 3; round++) {
      for (const b of backends) {
        await tf.setBackend(b.name);
        const fn = op.make();
        res[b.name].push(medianMs(fn, reps));
      }
    }
    const best = (n: string) => Math.min(...res[n]);
    for (const b of backends) {
      const ms = best(b.name);
      console.log(JSON.stringify({ case: op.name, backend: 'wasm', threads: b.threads, phase: 'op', gflops: +(op.gflop / ms * 1e3).toFixed(1), ms: +ms.toFixed(1) }));
    }
    console.error(`${op.name}: speed-up ${threads} vs 1 thread = ${(best('wasm-1t') / best('wasm')).toFixed(2)}x`);
  }
}

/** `--conv-ops`: the dominant kernels alone, best of `reps` after warm-up (see the top). */
function convOps(reps: number, info: BackendInfo): void {
  for (const [hw, c] of [[16, 64], [8, 128], [4, 256], [2, 512]] as const) {
    const x = tf.randomNormal([32, hw, hw, c], 0, 1, 'float32', 3) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, c, c], 0, 1, 'float32', 4) as tf.Tensor4D;
    const dy = tf.randomNormal([32, hw, hw, c], 0, 1, 'float32', 5) as tf.Tensor4D;
    const conv = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC' } as const;
    const ops: Record<string, () => tf.Tensor> = {
      fwd: () => tf.conv2d(x, f, 1, 'same'),
      dx: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...conv, inputShape: x.shape }) as tf.Tensor,
      dw: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...conv, filterShape: f.shape }) as tf.Tensor,
    };
    const ms: Record<string, number> = {};
    for (const [k, fn] of Object.entries(ops)) {
      for (let i = 0; i < 2; i++) tf.dispose(fn());
      const ts: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t = performance.now();
        const r = fn();
        r.dataSync();
        ts.push(performance.now() - t);
        r.dispose();
      }
      ms[k] = +Math.min(...ts).toFixed(2);
    }
    const engine = info.native ? 'native' : info.backend;
    console.log(JSON.stringify({ case: `conv3x3-${c}ch-${hw}px-b32`, engine, threads: info.threads, phase: 'op', ms, load1: +loadavg()[0].toFixed(2) }));
    tf.dispose([x, f, dy]);
  }
}

/** Composite (tfjs ops) vs fused BatchNorm training, forward + backward, ResNet-18 shapes. */
function bnAB(reps: number): void {
  const shapes: number[][] = [[32, 32, 32, 64], ...Array(4).fill([32, 16, 16, 64]), ...Array(5).fill([32, 8, 8, 128]), ...Array(5).fill([32, 4, 4, 256]), ...Array(5).fill([32, 2, 2, 512])];
  const xs = shapes.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', i));
  const gs = shapes.map((s) => tf.ones([s[3]]) as tf.Tensor1D);
  const bs = shapes.map((s) => tf.zeros([s[3]]) as tf.Tensor1D);
  const composite = (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm(x, mean, variance, b, g, 1e-5);
  };
  const fused = (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => batchNormTrain(x, g, b, 1e-5).y;
  const run = (bn: typeof fused) => () =>
    tf.tidy(() => {
      const out: tf.Tensor[] = [];
      for (let i = 0; i < xs.length; i++) {
        const gr = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(bn(x, g as tf.Tensor1D, b as tf.Tensor1D))));
        out.push(...gr([xs[i], gs[i], bs[i]]));
      }
      return tf.addN(out.map((t) => tf.sum(t)));
    });
  const res = { composite: [] as number[], fused: [] as number[] };
  for (let r = 0; r < 3; r++) {
    res.composite.push(medianMs(run(composite), reps));
    res.fused.push(medianMs(run(fused), reps));
  }
  for (const [name, v] of Object.entries(res)) {
    console.log(JSON.stringify({ case: `batchnorm-train-resnet18-64px-b32-${name}`, backend: tf.getBackend(), phase: 'op', ms: +Math.min(...v).toFixed(1) }));
  }
  console.error(`BN fwd+bwd, fused vs tfjs ops: ${(Math.min(...res.composite) / Math.min(...res.fused)).toFixed(2)}x faster`);
  tf.dispose([...xs, ...gs, ...bs]);
}

/**
 * A speed-up under test: `set(on)` switches it (before a model is built and before each step),
 * so a baseline (off) and the change (on) run side by side in one process.
 */
interface AbFeature {
  what: string;
  set(on: boolean): void | Promise<void>;
}

/** Switches the wasm Identity kernel between ours (shares the buffer) and a copying one (tfjs's). */
function setSharingIdentity(on: boolean): void {
  const ours = (sharingIdentity ??= tf.getKernel('Identity', 'wasm')!);
  tf.unregisterKernel('Identity', 'wasm');
  if (on) {
    tf.registerKernel(ours);
    return;
  }
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as unknown as { makeOutput(s: number[], d: string): tf.TensorInfo; typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
      const x = inputs.x as tf.TensorInfo;
      const out = b.makeOutput(x.shape, x.dtype);
      b.typedArrayFromHeap(out).set(b.typedArrayFromHeap(x));
      return out;
    },
  });
}
let sharingIdentity: tf.KernelConfig | undefined;

const AB_FEATURES: Record<string, AbFeature> = {
  threads: {
    what: 'N wasm threads (on) vs 1 (off), two backends in one process',
    set: async (on) => {
      registerOneThreadBackend();
      await tf.setBackend(on ? 'wasm' : 'wasm-1t');
    },
  },
  all: {
    what: 'every switchable change of this engine work together (relu, identity, stem, bn, simd, adam, gemm)',
    set: async (on) => {
      for (const k of ['relu', 'identity', 'stem', 'bn', 'simd', 'adam', 'gemm']) await AB_FEATURES[k].set(on);
    },
  },
  gemm: { what: 'GEMM paths of the conv backprops for big filters over few pixels', set: (on) => void setEngineFlags({ gemm: on }) },
  relu: { what: 'one-pass ReLU gradient kernel (vs Step, Cast, Multiply)', set: (on) => void setEngineFlags({ fusedReluGrad: on }) },
  identity: { what: 'wasm Identity shares the buffer instead of copying', set: setSharingIdentity },
  bn: { what: 'fused BatchNorm training kernels in BenBatchNorm', set: (on) => void setEngineFlags({ fusedBatchNorm: on }) },
  stem: { what: 'no input gradient for the stem conv (LazyConv2D)', set: (on) => void setEngineFlags({ lazyStemConv: on }) },
  simd: { what: 'SIMD wasm loops in the BatchNorm (training and inference) and AdamW kernels (vs JS loops and the bundled FusedBatchNorm)', set: (on) => void setEngineFlags({ simd: on }) },
  adam: { what: 'fused single-pass AdamW update kernel', set: (on) => void (fusedOptimizer = on) },
};

/**
 * `--ab FEATURE`: trains the case twice side by side, one model with the feature off and one
 * with it on (same seeds and data), alternating single steps so that load from other processes
 * hits both alike; prints each variant's median step time and the ratio.
 */
async function abCase(c: BenchCase, feature: string, steps: number, warmup: number, info: { backend: string; threads: number }) {
  const f = AB_FEATURES[feature];
  if (!f) throw new Error(`unknown --ab feature "${feature}"; known: ${Object.keys(AB_FEATURES).join(', ')}`);
  const disposers: (() => void)[] = [];
  const variants: { on: boolean; model: tfl.LayersModel; opt: TrainOptimizer; step: () => number; ms: number[]; cpu: number[]; loss: number[] }[] = [];
  for (const on of [false, true]) {
    await f.set(on);
    const model = classifier(c);
    const params = trainableVariables(model);
    const opt = makeOptimizer(params);
    // Each variant's data lives on its own backend (the `threads` feature switches backends).
    const data = batchData(c, new Rng(3));
    const step = c.phase === 'train' ? () => trainStep(model, opt, params, data.x, data.y) : () => (inferStep(model, data.x), 0);
    variants.push({ on, model, opt, step, ms: [], cpu: [], loss: [] });
    disposers.push(() => tf.dispose([data.x, data.y]));
  }
  for (let i = 0; i < warmup + steps; i++) {
    // Alternate which variant goes first so neither always follows the other.
    const order = i % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      await f.set(v.on);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      v.loss.push(v.step());
      const ms = performance.now() - t0;
      const cu = process.cpuUsage(c0);
      if (i >= warmup) {
        v.ms.push(ms);
        v.cpu.push((cu.user + cu.system) / 1e3);
      }
    }
  }
  await f.set(true);
  const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  for (const v of variants) {
    const ms = median(v.ms);
    console.log(
      JSON.stringify({
        case: c.name,
        ab: feature,
        variant: v.on ? 'on' : 'off',
        backend: info.backend,
        threads: feature === 'threads' && !v.on ? 1 : info.threads,
        phase: c.phase,
        batch: c.batch,
        imagesPerSec: +((1000 * c.batch) / ms).toFixed(2),
        msPerStep: +ms.toFixed(1),
        minMsPerStep: +Math.min(...v.ms).toFixed(1),
        cpuMsPerStep: +median(v.cpu).toFixed(1),
        steps,
        lastLoss: +v.loss[v.loss.length - 1].toFixed(5),
      }),
    );
    v.opt.dispose();
    v.model.dispose();
  }
  const [off, on] = variants;
  console.error(
    `${c.name} ${c.phase} --ab ${feature} (${f.what}): on/off speed-up ${(median(off.ms) / median(on.ms)).toFixed(2)}x wall (median), ` +
      `${(Math.min(...off.ms) / Math.min(...on.ms)).toFixed(2)}x (best), ${(median(off.cpu) / median(on.cpu)).toFixed(2)}x cpu time`,
  );
  for (const d of disposers) d();
}

/** A Python that imports torch (Debian's python3-torch is for /usr/bin/python3), or undefined. */
export function torchPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (py.startsWith('/') && !existsSync(py)) continue;
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** Runs one case in a child process (an engine or the peer) and returns its JSON line. */
function runChild(cmd: string, args: string[], env: Record<string, string>): Record<string, unknown> | undefined {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    return undefined;
  }
  return JSON.parse(line) as Record<string, unknown>;
}

/** `--engines` / `--peer`: every engine and the peer on each case, side by side (see the top). */
async function sideBySide(engines: string[], peer: string | undefined, o: { steps: number; warmup: number; rounds: number; threads: number; cases: BenchCase[] }) {
  const py = peer === 'torch' ? torchPython() : undefined;
  if (peer && peer !== 'torch') throw new Error(`unknown --peer "${peer}" (only torch)`);
  if (peer && !py) console.error("notice: python3 -c 'import torch' fails (apt-get install python3-torch); no peer.");
  const peerScript = fileURLToPath(new URL('./peer-torch.py', import.meta.url));
  const common = ['--steps', String(o.steps), '--warmup', String(o.warmup), '--threads', String(o.threads)];
  // One OpenMP wait policy for every child, PyTorch's included, chosen once here as the engine
  // would choose it (or the user's own settings): the engines then wait between kernels alike.
  const omp = chooseOpenMpPolicy();
  console.error(`openmp: ${omp.describe}`);
  const runners: { name: string; run: (c: BenchCase) => Record<string, unknown> | undefined }[] = engines.map((e) => ({
    name: e,
    run: (c) =>
      runChild(process.execPath, [...process.execArgv, process.argv[1], 'engine', '--case', c.name, '--phase', c.phase, ...common], {
        ...omp.env,
        BEN_NATIVE: e === 'native' ? '1' : '0',
        BEN_BACKEND: 'wasm',
      }),
  }));
  if (py) runners.push({ name: 'torch', run: (c) => runChild(py, [peerScript, '--case', c.name, '--phase', c.phase, ...common], omp.env) });
  for (const c of o.cases) {
    const got: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const loads: number[] = [];
    for (let round = 0; round < o.rounds; round++) {
      // Alternate the order so that no runner always follows another.
      const order = round % 2 === 0 ? runners : [...runners].reverse();
      for (const r of order) {
        const res = r.run(c);
        if (!res) continue;
        if (r.name !== 'torch' && res.native === undefined && r.name === 'native') console.error('notice: the native engine did not load in the child');
        console.log(JSON.stringify({ ...res, engine: r.name, round }));
        (got[r.name] ??= []).push(res.imagesPerSec as number);
        (cpu[r.name] ??= []).push(res.cpuMsPerStep as number);
        loads.push(res.load1 as number);
      }
    }
    const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
    const ips = Object.fromEntries(Object.entries(got).map(([k, v]) => [k, median(v)]));
    // Process CPU time per step: less sensitive than wall time to other processes on the cores.
    const cpuMs = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)]));
    const ratioToTorch = ips.torch ? Object.fromEntries(Object.entries(ips).filter(([k]) => k !== 'torch').map(([k, v]) => [k, +(v / ips.torch).toFixed(3)])) : undefined;
    console.log(
      JSON.stringify({
        summary: true,
        case: c.name,
        phase: c.phase,
        batch: c.batch,
        threads: o.threads,
        imagesPerSec: ips,
        ratioToTorch,
        nativeVsWasm: ips.native && ips.wasm ? +(ips.native / ips.wasm).toFixed(3) : undefined,
        cpuMsPerStep: cpuMs,
        cpuRatioToTorch: cpuMs.torch
          ? Object.fromEntries(Object.entries(cpuMs).filter(([k]) => k !== 'torch').map(([k, v]) => [k, +(cpuMs.torch / v).toFixed(3)]))
          : undefined,
        load1: { min: Math.min(...loads), max: Math.max(...loads) },
        openmp: omp.describe,
        rounds: o.rounds,
        steps: o.steps,
      }),
    );
  }
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
      'threads-ab': { type: 'boolean', default: false },
      'bn-ab': { type: 'boolean', default: false },
      'conv-ops': { type: 'boolean', default: false },
      ab: { type: 'string' },
      engines: { type: 'string' },
      peer: { type: 'string' },
      rounds: { type: 'string', default: '1' },
    },
  });
  const selected = CASES.filter(
    (c) => (!values.case || values.case.some((s) => c.name.includes(s) || c.backbone === s)) && (!values.phase || values.phase === c.phase),
  );
  if (values.engines || values.peer) {
    const engines = (values.engines ?? 'native,wasm').split(',').filter(Boolean);
    const bad = engines.find((e) => e !== 'native' && e !== 'wasm');
    if (bad) throw new Error(`unknown engine "${bad}" in --engines (native, wasm)`);
    const threads = values.threads ? Number(values.threads) : availableParallelism();
    await sideBySide(engines, values.peer, { steps: Number(values.steps), warmup: Number(values.warmup), rounds: Number(values.rounds), threads, cases: selected });
    return;
  }
  const info = await initBackend({ backend: values.backend, threads: values.threads ? Number(values.threads) : undefined });
  for (const n of info.notices) console.error(`notice: ${n}`);
  console.error(`engine bench on ${engineLabel(info)}`);
  const steps = Number(values.steps);
  if (values['conv-ops']) {
    convOps(Math.max(3, steps), info);
    return;
  }
  if (values['bn-ab']) {
    bnAB(Math.max(3, steps));
    return;
  }
  if (values['threads-ab']) {
    if (info.backend !== 'wasm' || info.threads < 2) throw new Error('--threads-ab needs the multi-threaded wasm backend');
    await threadsAB(info.threads, Math.max(3, steps));
    return;
  }
  const warmup = Number(values.warmup);
  for (const c of selected) {
    if (values.ab) await abCase(c, values.ab, steps, warmup, info);
    else await runCase(c, steps, warmup, values.profile, info);
  }
}
