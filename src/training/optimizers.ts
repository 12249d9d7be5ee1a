/**
 * Optimizers of the training loop, written on tf ops (Adam: the engine's fused single-pass
 * update kernel where the backend has one) so that (a) the learning rate comes from a
 * pure schedule each step, (b) weight decay skips BatchNorm parameters and biases, (c) the state
 * (moment/momentum slots, step count) is saved in checkpoints and restored exactly.
 *
 * - `adam`: Adam with decoupled weight decay (AdamW, Loshchilov & Hutter 2019).
 * - `sgd`: SGD with (heavy-ball) momentum and L2 weight decay added to the gradient (as PyTorch).
 * - `lars`: LARS (You et al. 2017) as used by SimCLR/BYOL: L2 decay, then the update is scaled by
 *   the trust ratio `eta * ||w|| / ||g + wd w||`, then momentum; BN parameters and biases get
 *   neither decay nor trust ratio.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Registry } from '../util/registry.ts';
import { adamUpdate, adamUpdateSupported } from '../engine/ops/adam-update.ts';

/** Typed optimizer settings (validated at the entry point). */
export interface OptimizerConfig {
  /** Registry name ({@link optimizers}). */
  name: string;
  /** Weight decay coefficient (0 for none); never applied to BN parameters and biases. */
  weightDecay?: number;
  /** Momentum of sgd/lars (default 0.9). */
  momentum?: number;
  /** Adam beta1 / beta2 (default 0.9 / 0.999). */
  beta1?: number;
  beta2?: number;
  /** Adam epsilon (default 1e-8). */
  epsilon?: number;
  /** LARS trust coefficient (default 0.001, as in SimCLR). */
  eta?: number;
  /**
   * Use the engine's fused single-pass update kernel where the backend has one (wasm, cpu; Adam).
   * Default true; false runs the same rule as tf ops (other backends always do). Same results.
   */
  fused?: boolean;
}

/**
 * Whether a variable gets weight decay (and LARS adaptation). BatchNorm gamma/beta and biases are
 * the rank-1 variables of our networks; kernels have rank >= 2. (The rule SimCLR/BYOL code uses.)
 */
export function decays(v: tf.Variable): boolean {
  return v.rank >= 2;
}

/** An optimizer bound to an ordered list of variables. */
export interface TrainOptimizer {
  readonly name: string;
  /** Number of updates applied so far. */
  readonly iterations: number;
  /** Applies one update with learning rate `lr`; `grads[i]` belongs to `params[i]`. Does not dispose grads. */
  apply(grads: tf.Tensor[], lr: number): void;
  /** State to checkpoint: slot tensors in a fixed order (aligned with the parameters) and the step count. */
  getState(): { iterations: number; slots: tf.Tensor[] };
  /** Restores {@link getState} (copies the tensors; shapes must match). */
  setState(state: { iterations: number; slots: tf.Tensor[] }): void;
  dispose(): void;
}

abstract class SlotOptimizer implements TrainOptimizer {
  abstract readonly name: string;
  iterations = 0;
  protected readonly slots: tf.Variable[][];
  protected readonly decayMask: boolean[];
  protected readonly wd: number;
  /** Per-parameter learning-rate multipliers (1 for every parameter unless given). */
  protected readonly lrScales: number[];

  constructor(
    protected readonly params: tf.Variable[],
    config: OptimizerConfig,
    slotsPerParam: number,
    lrScales?: readonly number[],
  ) {
    this.wd = config.weightDecay ?? 0;
    if (!(this.wd >= 0)) throw new Error(`weightDecay must be >= 0, got ${this.wd}`);
    if (lrScales && lrScales.length !== params.length) throw new Error(`optimizer: ${lrScales.length} lr multipliers for ${params.length} parameters`);
    if (lrScales?.some((m) => !(m >= 0 && Number.isFinite(m)))) throw new Error('optimizer: lr multipliers must be finite and >= 0');
    this.lrScales = lrScales ? [...lrScales] : params.map(() => 1);
    this.decayMask = params.map(decays);
    this.slots = params.map((p) => Array.from({ length: slotsPerParam }, () => tf.variable(tf.zerosLike(p), false)));
  }

  apply(grads: tf.Tensor[], lr: number): void {
    if (grads.length !== this.params.length) throw new Error(`optimizer: ${grads.length} gradients for ${this.params.length} parameters`);
    this.iterations++;
    for (let i = 0; i < this.params.length; i++) {
      tf.tidy(() => this.update(i, grads[i], lr * this.lrScales[i]));
    }
  }

  protected abstract update(i: number, g: tf.Tensor, lr: number): void;

  getState() {
    return { iterations: this.iterations, slots: this.slots.flat() };
  }

  setState(state: { iterations: number; slots: tf.Tensor[] }): void {
    const flat = this.slots.flat();
    if (state.slots.length !== flat.length) throw new Error(`optimizer state has ${state.slots.length} slots, expected ${flat.length}`);
    flat.forEach((s, i) => {
      if (!tf.util.arraysEqual(s.shape, state.slots[i].shape)) throw new Error(`optimizer slot ${i}: shape ${state.slots[i].shape} != ${s.shape}`);
      s.assign(state.slots[i]);
    });
    this.iterations = state.iterations;
  }

  dispose(): void {
    for (const s of this.slots.flat()) s.dispose();
  }
}

class Adam extends SlotOptimizer {
  readonly name = 'adam';
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly fused: boolean;
  constructor(params: tf.Variable[], c: OptimizerConfig, lrScales?: readonly number[]) {
    super(params, c, 2, lrScales);
    this.b1 = c.beta1 ?? 0.9;
    this.b2 = c.beta2 ?? 0.999;
    this.eps = c.epsilon ?? 1e-8;
    this.fused = c.fused ?? true;
  }
  protected update(i: number, g: tf.Tensor, lr: number): void {
    const p = this.params[i];
    const [m, v] = this.slots[i];
    const t = this.iterations;
    if (this.fused && adamUpdateSupported()) {
      // One pass over p, g, m, v instead of ~10 elementwise ops.
      const [p1, m1, v1] = adamUpdate(p, g, m, v, {
        beta1: this.b1,
        beta2: this.b2,
        stepSize: (lr * Math.sqrt(1 - this.b2 ** t)) / (1 - this.b1 ** t),
        epsHat: this.eps * Math.sqrt(1 - this.b2 ** t),
        decay: this.wd > 0 && this.decayMask[i] ? lr * this.wd : 0,
      });
      m.assign(m1);
      v.assign(v1);
      p.assign(p1);
      return;
    }
    const m1 = tf.add(tf.mul(m, this.b1), tf.mul(g, 1 - this.b1));
    const v1 = tf.add(tf.mul(v, this.b2), tf.mul(tf.square(g), 1 - this.b2));
    m.assign(m1);
    v.assign(v1);
    const stepSize = (lr * Math.sqrt(1 - this.b2 ** t)) / (1 - this.b1 ** t);
    // eps scaled so the update equals m_hat / (sqrt(v_hat) + eps) exactly.
    let delta = tf.div(tf.mul(m1, stepSize), tf.add(tf.sqrt(v1), this.eps * Math.sqrt(1 - this.b2 ** t)));
    if (this.wd > 0 && this.decayMask[i]) delta = tf.add(delta, tf.mul(p, lr * this.wd));
    p.assign(tf.sub(p, delta));
  }
}

class Sgd extends SlotOptimizer {
  readonly name = 'sgd';
  private readonly mu: number;
  constructor(params: tf.Variable[], c: OptimizerConfig, lrScales?: readonly number[]) {
    super(params, c, 1, lrScales);
    this.mu = c.momentum ?? 0.9;
  }
  protected update(i: number, g: tf.Tensor, lr: number): void {
    const p = this.params[i];
    const [buf] = this.slots[i];
    const gd = this.wd > 0 && this.decayMask[i] ? tf.add(g, tf.mul(p, this.wd)) : g;
    const b1 = tf.add(tf.mul(buf, this.mu), gd);
    buf.assign(b1);
    p.assign(tf.sub(p, tf.mul(b1, lr)));
  }
}

class Lars extends SlotOptimizer {
  readonly name = 'lars';
  private readonly mu: number;
  private readonly eta: number;
  constructor(params: tf.Variable[], c: OptimizerConfig, lrScales?: readonly number[]) {
    super(params, c, 1, lrScales);
    this.mu = c.momentum ?? 0.9;
    this.eta = c.eta ?? 0.001;
  }
  protected update(i: number, g: tf.Tensor, lr: number): void {
    const p = this.params[i];
    const [buf] = this.slots[i];
    let gd = g;
    if (this.decayMask[i]) {
      if (this.wd > 0) gd = tf.add(g, tf.mul(p, this.wd));
      const pn = tf.norm(p);
      const gn = tf.norm(gd);
      // trust ratio eta * ||w|| / ||g + wd w||, 1 when either norm is zero.
      const ok = tf.logicalAnd(tf.greater(pn, 0), tf.greater(gn, 0));
      const trust = tf.where(ok, tf.div(tf.mul(pn, this.eta), tf.maximum(gn, 1e-30)), tf.onesLike(pn));
      gd = tf.mul(gd, trust);
    }
    const b1 = tf.add(tf.mul(buf, this.mu), gd);
    buf.assign(b1);
    p.assign(tf.sub(p, tf.mul(b1, lr)));
  }
}

/** Registry of optimizers by name; a new one is a class plus one line. */
export const optimizers = new Registry<(params: tf.Variable[], c: OptimizerConfig, lrScales?: readonly number[]) => TrainOptimizer>('optimizer');
optimizers.register('adam', (p, c, m) => new Adam(p, c, m));
optimizers.register('sgd', (p, c, m) => new Sgd(p, c, m));
optimizers.register('lars', (p, c, m) => new Lars(p, c, m));

/**
 * Creates the optimizer `config.name` over `params` (order matters for checkpoints).
 * `lrScales[i]` multiplies the scheduled learning rate of `params[i]` (and so its decoupled weight
 * decay under Adam): e.g. a predictor trained faster than the backbone. Default 1 everywhere.
 */
export function createOptimizer(config: OptimizerConfig, params: tf.Variable[], lrScales?: readonly number[]): TrainOptimizer {
  return optimizers.get(config.name)(params, config, lrScales);
}
