/**
 * BEN BatchNorm: BatchNorm whose inference statistics are chosen per run (Lin & Lu, "Incorporating
 * Batch Effects Normalization", MLCB 2022). In training it ALWAYS normalises with the statistics of
 * the current batch; the sampler decides what a batch is (one plate for BEN). At inference the
 * layer's `normalization` mode picks the statistics:
 *
 * - `running`: moving averages updated during training (the usual eval mode);
 * - `batch`: statistics of the current batch (the paper's inference: the sampler makes a batch one
 *   plate);
 * - `plate`: statistics of the whole plate, fitted in a first pass over all its images
 *   ({@link fitPlateStatistics}), then applied. Exact: the same result as one batch holding the whole
 *   plate, for plates of any size, whatever the batch size and order;
 * - `controls`: the same, fitted on the plate's negative-control images only.
 *
 * In `batch` mode call `model.predict(x, { batchSize: x.shape[0] })` (predict otherwise splits
 * into batches of 32, and each would be normalised on its own).
 *
 * Typical embedding code (one plate at a time):
 * ```ts
 * await fitPlateStatistics(model, () => batchesOfPlate(plate), { source: 'plate' });
 * setNormalization(model, 'plate');
 * for (const x of batchesOfPlate(plate)) embeddings.push(model.predict(x));
 * clearPlateStatistics(model);
 * ```
 *
 * Tensors are NHWC; statistics are per channel (last axis), reduced over batch, height and width.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTrain, batchNormTrainSupported } from '../engine/ops/batch-norm-train.ts';
import { engineFlags } from '../engine/flags.ts';

/** The inference modes: which statistics BEN BatchNorm normalises with (training always uses the batch). */
export const NORMALIZATION_MODES = ['running', 'batch', 'plate', 'controls'] as const;

/** Which statistics BEN BatchNorm normalises with at inference. */
export type NormalizationMode = (typeof NORMALIZATION_MODES)[number];

/** Where fitted statistics came from: all images of the plate or its negative controls. */
export type PlateStatsSource = 'plate' | 'controls';

/** Constructor arguments of {@link BenBatchNorm}. */
export interface BenBatchNormArgs {
  /** Layer name (unique in a model). */
  name?: string;
  /** Moving-average momentum of the `running` statistics: new = momentum * old + (1 - momentum) * batch.
   * Default 0.9 (PyTorch's 0.1 in its own convention). */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-5 (PyTorch). */
  epsilon?: number;
  /** Inference mode the layer starts in. Default `running`. */
  normalization?: NormalizationMode;
  /** Initialise gamma with zeros (the last BN of a residual branch, Goyal et al. 2017). Default false. */
  zeroGamma?: boolean;
  /** Whether gamma and beta are trained. Default true. */
  trainable?: boolean;
  /** Input shape when this is the first layer of a model. */
  inputShape?: tfl.Shape;
  /** Layer dtype (float32). */
  dtype?: tf.DataType;
}

/** Internal phase used while fitting plate statistics. */
type Phase = 'normal' | 'accumulate' | 'passthrough';

/** Running accumulator of per-channel count, mean and sum of squared deviations (Chan et al.). */
interface Accumulator {
  n: number;
  mean: Float64Array;
  m2: Float64Array;
}

/**
 * BatchNorm over the channel (last) axis with a selectable inference `normalization` mode.
 * Weights: `gamma`, `beta` (trainable), `moving_mean`, `moving_variance` (running statistics).
 * Input and output [B, H, W, C] (or [B, C]).
 */
export class BenBatchNorm extends tfl.layers.Layer {
  /** Serialization name; registered below so saved models load in a fresh process. */
  static className = 'BenBatchNorm';
  readonly momentum: number;
  readonly epsilon: number;
  readonly zeroGamma: boolean;
  /**
   * Whether training uses the engine's fused BatchNorm kernels where the backend has them (default
   * true); false forces the tf-ops path (A/B benchmarks, debugging). Same results either way.
   */
  static fused = true;
  /** The inference mode (ignored in training, which always uses batch statistics). */
  normalization: NormalizationMode;
  private gamma!: tfl.LayerVariable;
  private beta!: tfl.LayerVariable;
  private movingMean!: tfl.LayerVariable;
  private movingVariance!: tfl.LayerVariable;
  private phase: Phase = 'normal';
  private acc: Accumulator | undefined;
  private fitted: { source: PlateStatsSource; mean: tf.Tensor1D; variance: tf.Tensor1D; n: number } | undefined;

  constructor(args: BenBatchNormArgs = {}) {
    super(args as ConstructorParameters<typeof tfl.layers.Layer>[0]);
    this.momentum = args.momentum ?? 0.9;
    this.epsilon = args.epsilon ?? 1e-5;
    this.zeroGamma = args.zeroGamma ?? false;
    this.normalization = args.normalization ?? 'running';
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new Error(`BenBatchNorm momentum must be in [0, 1), got ${this.momentum}`);
    if (!(this.epsilon > 0)) throw new Error(`BenBatchNorm epsilon must be > 0, got ${this.epsilon}`);
    assertMode(this.normalization);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const c = shape[shape.length - 1];
    if (c == null) throw new Error(`BenBatchNorm "${this.name}" needs a known channel count, got shape ${JSON.stringify(shape)}`);
    const ones = tfl.initializers.ones();
    const zeros = tfl.initializers.zeros();
    this.gamma = this.addWeight('gamma', [c], 'float32', this.zeroGamma ? zeros : ones, undefined, true);
    this.beta = this.addWeight('beta', [c], 'float32', zeros, undefined, true);
    this.movingMean = this.addWeight('moving_mean', [c], 'float32', zeros, undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [c], 'float32', ones, undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (kwargs['training'] === true) return this.trainForward(x);
    if (this.phase === 'passthrough') return tf.clone(x);
    if (this.phase === 'accumulate') {
      this.accumulate(x);
      return tf.clone(x);
    }
    return tf.tidy(() => {
      const gamma = this.gamma.read();
      const beta = this.beta.read();
      switch (this.normalization) {
        case 'running':
          return tf.batchNorm(x, this.movingMean.read(), this.movingVariance.read(), beta, gamma, this.epsilon);
        case 'batch': {
          const { mean, variance } = tf.moments(x, reductionAxes(x.rank));
          return tf.batchNorm(x, mean, variance, beta, gamma, this.epsilon);
        }
        case 'plate':
        case 'controls': {
          const f = this.fitted;
          if (!f) {
            throw new Error(
              `BenBatchNorm "${this.name}": normalization "${this.normalization}" needs plate statistics; call fitPlateStatistics(model, ...) for the plate first`,
            );
          }
          if (f.source !== this.normalization) {
            throw new Error(`BenBatchNorm "${this.name}": normalization "${this.normalization}" but the fitted statistics come from "${f.source}"`);
          }
          return tf.batchNorm(x, f.mean, f.variance, beta, gamma, this.epsilon);
        }
      }
    });
  }

  /**
   * Training forward pass with batch statistics, plus the moving-average update. Uses the engine's
   * fused kernel pair ({@link batchNormTrain}: one pass family each way) where the backend has it
   * (wasm, cpu) and the `fusedBatchNorm` engine flag is on; otherwise tf ops with a hand-written gradient.
   */
  private trainForward(x: tf.Tensor): tf.Tensor {
    const count = x.size / x.shape[x.rank - 1];
    if (engineFlags().fusedBatchNorm && batchNormTrainSupported()) {
      const { y, mean, variance } = batchNormTrain(x, this.gamma.read() as tf.Tensor1D, this.beta.read() as tf.Tensor1D, this.epsilon);
      this.updateMoving(mean, variance, count);
      tf.dispose([mean, variance]);
      return y;
    }
    return this.trainForwardOps(x, count);
  }

  /**
   * Training forward pass on tf ops with a hand-written gradient (one composite pass each way
   * instead of autodiff through moments + batchNorm); the fallback of {@link trainForward}.
   */
  private trainForwardOps(x: tf.Tensor, count: number): tf.Tensor {
    const axes = reductionAxes(x.rank);
    const eps = this.epsilon;
    const onStats = (mean: tf.Tensor, variance: tf.Tensor) => this.updateMoving(mean, variance, count);
    const f = tf.customGrad(((xi: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
      const mean = tf.mean(xi, axes);
      const xc = tf.sub(xi, mean);
      const variance = tf.mean(tf.square(xc), axes);
      const inv = tf.rsqrt(tf.add(variance, eps));
      const xhat = tf.mul(xc, inv);
      const value = tf.add(tf.mul(xhat, gamma), beta);
      onStats(mean, variance);
      save([xhat, inv, gamma]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sxhat, sinv, sgamma] = saved;
          // dx = gamma * inv / N * (N dy - sum(dy) - xhat * sum(dy * xhat))
          const dbeta = tf.sum(dy, axes);
          const dgamma = tf.sum(tf.mul(dy, sxhat), axes);
          const scale = tf.mul(sgamma, sinv);
          const inner = tf.sub(tf.sub(dy, tf.div(dbeta, count)), tf.mul(sxhat, tf.div(dgamma, count)));
          return [tf.mul(inner, scale), dgamma, dbeta];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return f(x, this.gamma.read(), this.beta.read());
  }

  /** new = momentum * old + (1 - momentum) * batch; the variance is the unbiased one (as PyTorch). */
  private updateMoving(mean: tf.Tensor, variance: tf.Tensor, count: number): void {
    const m = this.momentum;
    const unbias = count > 1 ? count / (count - 1) : 1;
    tf.tidy(() => {
      this.movingMean.write(tf.add(tf.mul(this.movingMean.read(), m), tf.mul(mean, 1 - m)));
      this.movingVariance.write(tf.add(tf.mul(this.movingVariance.read(), m), tf.mul(variance, (1 - m) * unbias)));
    });
  }

  /** Merges the statistics of `x` into the accumulator (Chan's parallel update, float64). */
  private accumulate(x: tf.Tensor): void {
    const c = x.shape[x.rank - 1];
    const nb = x.size / c;
    if (nb === 0) return;
    const [bm, bv] = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, reductionAxes(x.rank));
      return [mean, variance];
    });
    const bmean = bm.dataSync();
    const bvar = bv.dataSync();
    bm.dispose();
    bv.dispose();
    if (!this.acc) this.acc = { n: 0, mean: new Float64Array(c), m2: new Float64Array(c) };
    const a = this.acc;
    const n = a.n + nb;
    for (let i = 0; i < c; i++) {
      const delta = bmean[i] - a.mean[i];
      a.mean[i] += (delta * nb) / n;
      a.m2[i] += bvar[i] * nb + (delta * delta * a.n * nb) / n;
    }
    a.n = n;
  }

  /** @internal Used by {@link PlateStatsSession}: sets the fitting phase. */
  setPhase(phase: Phase): void {
    this.phase = phase;
    if (phase === 'accumulate') this.acc = undefined;
  }

  /** @internal Used by {@link PlateStatsSession}: turns the accumulator into fitted statistics. */
  finishAccumulation(source: PlateStatsSource): void {
    const a = this.acc;
    if (!a || a.n === 0) throw new Error(`BenBatchNorm "${this.name}": no images were accumulated for the plate statistics`);
    this.clearFitted();
    const variance = Float32Array.from(a.m2, (v) => v / a.n);
    this.fitted = {
      source,
      n: a.n,
      mean: tf.keep(tf.tensor1d(Float32Array.from(a.mean))),
      variance: tf.keep(tf.tensor1d(variance)),
    };
    this.acc = undefined;
    this.phase = 'normal';
  }

  /**
   * @internal Sets fitted statistics directly (tests, caches). `mean`/`variance` have length C.
   * The layer takes copies.
   */
  setFittedStatistics(source: PlateStatsSource, mean: ArrayLike<number>, variance: ArrayLike<number>, n: number): void {
    this.clearFitted();
    this.fitted = {
      source,
      n,
      mean: tf.keep(tf.tensor1d(Float32Array.from(mean))),
      variance: tf.keep(tf.tensor1d(Float32Array.from(variance))),
    };
  }

  /** Fitted plate statistics (copies), or undefined when none are fitted. */
  getFittedStatistics(): { source: PlateStatsSource; mean: Float32Array; variance: Float32Array; n: number } | undefined {
    const f = this.fitted;
    if (!f) return undefined;
    return { source: f.source, n: f.n, mean: f.mean.dataSync() as Float32Array, variance: f.variance.dataSync() as Float32Array };
  }

  /** Forgets fitted plate statistics (frees their tensors). */
  clearFitted(): void {
    if (this.fitted) {
      this.fitted.mean.dispose();
      this.fitted.variance.dispose();
      this.fitted = undefined;
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      momentum: this.momentum,
      epsilon: this.epsilon,
      zeroGamma: this.zeroGamma,
      normalization: this.normalization,
    };
  }
}
tf.serialization.registerClass(BenBatchNorm);

/** Factory in the style of `tf.layers.batchNormalization`. */
export function benBatchNorm(args: BenBatchNormArgs = {}): BenBatchNorm {
  return new BenBatchNorm(args);
}

function reductionAxes(rank: number): number[] {
  return Array.from({ length: rank - 1 }, (_, i) => i);
}

function assertMode(mode: string): asserts mode is NormalizationMode {
  if (!(NORMALIZATION_MODES as readonly string[]).includes(mode)) {
    throw new Error(`Unknown normalization mode "${mode}". Choose one of: ${NORMALIZATION_MODES.join(', ')}.`);
  }
}

/** True when `mode` names a normalization mode. */
export function isNormalizationMode(mode: string): mode is NormalizationMode {
  return (NORMALIZATION_MODES as readonly string[]).includes(mode);
}

/** Every BEN BatchNorm layer of `model`, nested models included, in topological order. */
export function benLayers(model: tfl.LayersModel): BenBatchNorm[] {
  const out: BenBatchNorm[] = [];
  const visit = (layers: tfl.layers.Layer[]) => {
    for (const l of layers) {
      if (l instanceof BenBatchNorm) out.push(l);
      else if (l instanceof tfl.LayersModel) visit(l.layers);
    }
  };
  visit(model.layers);
  return out;
}

/**
 * Sets the inference normalization mode of every BEN BatchNorm layer of `model` (nested models
 * included). Training calls (`apply(x, {training: true})`) always use batch statistics.
 * Returns the number of layers changed; 0 means the model has no BEN layers.
 */
export function setNormalization(model: tfl.LayersModel, mode: NormalizationMode): number {
  assertMode(mode);
  const layers = benLayers(model);
  for (const l of layers) l.normalization = mode;
  return layers.length;
}

/** The shared mode of the model's BEN layers (`mixed` if they differ, undefined if none). */
export function getNormalization(model: tfl.LayersModel): NormalizationMode | 'mixed' | undefined {
  const modes = new Set(benLayers(model).map((l) => l.normalization));
  if (modes.size === 0) return undefined;
  return modes.size === 1 ? [...modes][0] : 'mixed';
}

/** Forgets the fitted plate statistics of every BEN layer of `model`. */
export function clearPlateStatistics(model: tfl.LayersModel): void {
  for (const l of benLayers(model)) l.clearFitted();
}

/**
 * BN depth of each BEN layer: the largest number of BEN layers on any path from the model input to
 * the layer's input. Layers of equal depth do not feed each other, so their plate statistics can be
 * accumulated in the same pass.
 */
export function benDepths(model: tfl.LayersModel): Map<BenBatchNorm, number> {
  const out = new Map<BenBatchNorm, number>();
  walkDepths(model, 0, out);
  return out;
}

function walkDepths(model: tfl.LayersModel, inDepth: number, out: Map<BenBatchNorm, number>): number {
  const depth = new Map<tfl.layers.Layer, number>();
  for (const layer of model.layers) {
    const parents = layer.inboundNodes[0]?.inboundLayers ?? [];
    let d = inDepth;
    for (const p of parents) d = Math.max(d, depth.get(p) ?? inDepth);
    if (layer instanceof BenBatchNorm) {
      out.set(layer, d);
      depth.set(layer, d + 1);
    } else if (layer instanceof tfl.LayersModel) {
      depth.set(layer, walkDepths(layer, d, out));
    } else {
      depth.set(layer, d);
    }
  }
  let outDepth = inDepth;
  for (const l of model.outputLayers) outDepth = Math.max(outDepth, depth.get(l) ?? inDepth);
  return outDepth;
}

/**
 * Low-level, exact fitting of plate statistics. A BN layer's input depends on the statistics of
 * the BN layers before it, so the statistics are fitted in `rounds` passes over the plate's
 * images: pass r accumulates (float64, Chan's merge) the input statistics of the BN layers of depth
 * r while those of smaller depth already apply their fitted plate statistics. The result equals
 * one forward pass with the whole plate as a single batch, whatever the batch size and order.
 *
 * ```ts
 * const s = beginPlateStats(model, 'plate');
 * for (let r = 0; r < s.rounds; r++) {
 *   for (const x of batches()) s.accumulate(x);   // x: [B, H, W, C] images of the plate
 *   s.endRound();
 * }
 * setNormalization(model, 'plate');
 * ```
 * Prefer {@link fitPlateStatistics}, which does exactly this.
 */
export class PlateStatsSession {
  /** Number of passes over the plate's images. */
  readonly rounds: number;
  private round = 0;
  private readonly byDepth: BenBatchNorm[][];
  private readonly savedModes: Map<BenBatchNorm, NormalizationMode>;

  constructor(
    readonly model: tfl.LayersModel,
    readonly source: PlateStatsSource,
  ) {
    const depths = benDepths(model);
    const distinct = [...new Set(depths.values())].sort((a, b) => a - b);
    this.byDepth = distinct.map((d) => [...depths].filter(([, dd]) => dd === d).map(([l]) => l));
    this.rounds = this.byDepth.length;
    this.savedModes = new Map([...depths.keys()].map((l) => [l, l.normalization]));
    for (const l of depths.keys()) l.clearFitted();
    this.startRound();
  }

  private startRound(): void {
    this.byDepth.forEach((layers, i) => {
      for (const l of layers) {
        if (i < this.round) {
          l.setPhase('normal');
          l.normalization = this.source;
        } else {
          l.setPhase(i === this.round ? 'accumulate' : 'passthrough');
        }
      }
    });
  }

  /** Runs `images` [B, H, W, C] of the plate through the model to accumulate statistics. */
  accumulate(images: tf.Tensor): void {
    if (this.round >= this.rounds) throw new Error('PlateStatsSession: all rounds are done');
    tf.tidy(() => {
      this.model.predict(images, { batchSize: Math.max(1, images.shape[0]) });
    });
  }

  /** Ends the current pass; after the last one the statistics are fitted and modes restored. */
  endRound(): void {
    for (const l of this.byDepth[this.round]) l.finishAccumulation(this.source);
    this.round++;
    if (this.round < this.rounds) this.startRound();
    else this.restore();
  }

  /** Aborts fitting: clears partial statistics and restores every layer's mode. */
  abort(): void {
    for (const layers of this.byDepth) for (const l of layers) l.clearFitted();
    this.restore();
  }

  private restore(): void {
    for (const [l, m] of this.savedModes) {
      l.setPhase('normal');
      l.normalization = m;
    }
  }
}

/** Starts a {@link PlateStatsSession} on `model` (statistics from `source`). */
export function beginPlateStats(model: tfl.LayersModel, source: PlateStatsSource = 'plate'): PlateStatsSession {
  return new PlateStatsSession(model, source);
}

/** A plate's images in batches: an (async) iterable of [B, H, W, C] tensors. */
export type PlateBatches = Iterable<tf.Tensor> | AsyncIterable<tf.Tensor>;

/** Options of {@link fitPlateStatistics}. */
export interface FitPlateStatisticsOptions {
  /** `plate`: all the plate's images; `controls`: the caller passes only negative-control images. Default `plate`. */
  source?: PlateStatsSource;
  /** Dispose each batch after use (when the iterator creates fresh tensors). Default false. */
  disposeBatches?: boolean;
}

/**
 * Fits the `plate` (or `controls`) statistics of every BEN layer of `model` from all the images
 * of one plate, exactly (see {@link PlateStatsSession}). `batches` is called once per pass
 * (`session.rounds` times, the BN depth of the network) and must yield the same images each time,
 * in any batch size and order. Afterwards call `setNormalization(model, 'plate' | 'controls')` and
 * embed the plate; fit again for the next plate. Cost: `rounds` forward passes over the plate.
 */
export async function fitPlateStatistics(
  model: tfl.LayersModel,
  batches: () => PlateBatches,
  options: FitPlateStatisticsOptions = {},
): Promise<void> {
  const session = beginPlateStats(model, options.source ?? 'plate');
  try {
    for (let r = 0; r < session.rounds; r++) {
      for await (const x of batches()) {
        session.accumulate(x);
        if (options.disposeBatches) x.dispose();
      }
      session.endRound();
    }
  } catch (e) {
    session.abort();
    throw e;
  }
}
