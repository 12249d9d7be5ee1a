/**
 * The shared training loop (solo-learn's base-class machinery, lightly's visible loop): runs an
 * {@link Objective} on batches from a {@link BatchSource} with an optimizer and a warmup-cosine
 * schedule; checkpoints every N steps and at the end (atomically), resumes a killed run exactly,
 * stops on a NaN/inf loss keeping the last good checkpoint, shows progress and logs every metric
 * to `metrics.jsonl`, and calls an optional monitor (e.g. online kNN on a held-out plate).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { join } from 'node:path';
import type { Objective, ObjectiveBatch } from '../objectives/objective.ts';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.ts';
import { NumericalError, UserError } from '../util/errors.ts';
import { createProgress, JsonlLogger } from '../util/progress.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { createOptimizer, type OptimizerConfig, type TrainOptimizer } from './optimizers.ts';
import { warmupCosine } from '../util/schedule.ts';
import { RUN_LAYOUT } from './run-layout.ts';

/**
 * Where training batches come from: a sampler (which images, one plate per batch for BEN) plus the
 * augmentation pipeline (views as [B, H, W, C] tensors). Its state (sampler position, RNG states)
 * is checkpointed so a resumed run draws the same batches.
 */
export interface BatchSource {
  /** The next batch. The trainer disposes its tensors after the step. */
  next(): ObjectiveBatch | Promise<ObjectiveBatch>;
  /** JSON-serialisable state: sampler position and every RNG state. */
  getState(): unknown;
  /** Restores {@link getState}. */
  setState(state: unknown): void;
}

/** Schedule settings: linear warmup then cosine decay to `finalLr`. */
export interface ScheduleConfig {
  /** Peak learning rate. */
  baseLr: number;
  /** Warmup steps (default 0). */
  warmupSteps?: number;
  /** Learning rate at the end (default 0). */
  finalLr?: number;
}

/** A periodic evaluation during training (online kNN on a held-out plate...). */
export interface TrainMonitor {
  /** Run every `every` steps (and after the last step). */
  every: number;
  /** Returns named numbers, logged as `monitor/<name>`. Must not leak tensors. */
  run(step: number): Promise<Record<string, number>>;
}

/** One step's record (also a line of metrics.jsonl). */
export interface StepRecord {
  step: number;
  lr: number;
  loss: number;
  imagesPerSec: number;
  metrics: Record<string, number>;
}

/** Options of {@link Trainer}. */
export interface TrainerOptions {
  /** The backbone (its weights, including BN running statistics, are checkpointed). */
  backbone: tfl.LayersModel;
  /** The objective, already built around the backbone. */
  objective: Objective;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  /** Total optimizer steps. */
  steps: number;
  /** Run directory: `checkpoint/` and `metrics.jsonl` go here. Without it nothing is written. */
  runDir?: string;
  /** Checkpoint every N steps (0: only at the end). Default 0. */
  checkpointEvery?: number;
  /** Extra JSON stored in checkpoints (the resolved config), checked on resume. */
  config?: Record<string, unknown>;
  monitor?: TrainMonitor;
  /** Show a progress bar. Default true. */
  progress?: boolean;
  /** Label of the progress bar. */
  label?: string;
  /** Called after every step (tests, benchmarks). */
  onStep?: (r: StepRecord) => void;
  /** Stop after this many steps of THIS call (simulates a kill in tests). */
  stopAfter?: number;
  /** Notices, one line each (`resuming from step N`). */
  log?: (line: string) => void;
}

/** What {@link Trainer.fit} returns. */
export interface TrainResult {
  /** Steps completed in total (including those before a resume). */
  step: number;
  /** Losses of the steps run in this call. */
  losses: number[];
  /** Last monitor values. */
  monitor?: Record<string, number>;
}

/** The trainer's fields in a checkpoint. */
export interface TrainerState {
  step: number;
  totalSteps: number;
  optimizer: { name: string; iterations: number };
  source: unknown;
  objective: string;
  config?: Record<string, unknown>;
}

/** Runs an objective's training loop; see the module comment. */
export class Trainer {
  private readonly params: tf.Variable[];
  private readonly stateVars: tf.Variable[];
  private readonly optimizer: TrainOptimizer;
  private step = 0;
  /** Step of the last checkpoint written or restored (-1: none). */
  private checkpointStep = -1;

  constructor(private readonly o: TrainerOptions) {
    if (!(Number.isInteger(o.steps) && o.steps > 0)) throw new UserError(`training steps must be a positive integer, got ${o.steps}`);
    this.params = o.objective.trainableVariables();
    // Everything to checkpoint: the trainable variables plus the backbone's other weights (BN running stats).
    const seen = new Set(this.params);
    this.stateVars = [...this.params];
    for (const w of o.backbone.weights) {
      const v = (w as unknown as { read(): tf.Variable }).read();
      if (!seen.has(v)) {
        seen.add(v);
        this.stateVars.push(v);
      }
    }
    this.optimizer = createOptimizer(o.optimizer, this.params, o.objective.lrScales?.());
  }

  /** Directory of the checkpoint (undefined without a run directory). */
  get checkpointDir(): string | undefined {
    return this.o.runDir ? join(this.o.runDir, RUN_LAYOUT.checkpoint) : undefined;
  }

  /** Learning rate at `step` (pure function of the step). */
  lrAt(step: number): number {
    const s = this.o.schedule;
    return warmupCosine(step, { baseLr: s.baseLr, warmupSteps: s.warmupSteps ?? 0, totalSteps: this.o.steps, finalLr: s.finalLr ?? 0 });
  }

  /** Writes a checkpoint of the current state (atomically). */
  async saveCheckpoint(source: BatchSource): Promise<void> {
    const dir = this.checkpointDir;
    if (!dir) return;
    const tensors: Record<string, tf.Tensor> = {};
    this.stateVars.forEach((v, i) => (tensors[`var/${i}`] = v));
    const opt = this.optimizer.getState();
    opt.slots.forEach((t, i) => (tensors[`opt/${i}`] = t));
    // extraState() hands out fresh copies (e.g. BYOL's target weights): they are ours to dispose.
    const extra = this.o.objective.extraState?.() ?? {};
    try {
      for (const [k, t] of Object.entries(extra)) tensors[`extra/${k}`] = t;
      const state: TrainerState = {
        step: this.step,
        totalSteps: this.o.steps,
        optimizer: { name: this.optimizer.name, iterations: opt.iterations },
        source: source.getState(),
        objective: this.o.objective.name,
        config: this.o.config,
      };
      await saveCheckpoint(dir, state, tensors);
      this.checkpointStep = this.step;
    } catch (e) {
      // saveCheckpoint refuses non-finite tensors; say which weight, and the way out.
      if (!(e instanceof NumericalError)) throw e;
      const m = /tensor (\w+)\/(\d+)/.exec(e.message);
      const name = m?.[1] === 'var' ? this.stateVars[Number(m[2])]?.name : m ? `${m[1]}/${m[2]}` : 'unknown';
      throw new NumericalError(
        `Training stopped: the weights became NaN/Inf by step ${this.step} (variable ${name}); ${this.keptCheckpoint()}. Lower optimizer.lr (or raise training.warmupSteps) and resume with --resume --set optimizer.lr=<lower>, or restart.`,
      );
    } finally {
      for (const t of Object.values(extra)) t.dispose();
    }
  }

  /** Restores the state from the run directory's checkpoint into the model, optimizer and source. */
  async restore(source: BatchSource): Promise<void> {
    const dir = this.checkpointDir;
    if (!dir) throw new UserError('resume needs a run directory');
    const { state, tensors } = await loadCheckpoint<TrainerState>(dir);
    try {
      if (state.objective !== this.o.objective.name) throw new UserError(`${dir} was written by objective "${state.objective}", not "${this.o.objective.name}"; resume with the same recipe.`);
      if (state.optimizer.name !== this.optimizer.name) throw new UserError(`${dir} was written with optimizer "${state.optimizer.name}", not "${this.optimizer.name}"; resume with the same recipe.`);
      this.stateVars.forEach((v, i) => {
        const t = tensors[`var/${i}`];
        if (!t || !tf.util.arraysEqual(t.shape, v.shape)) throw new UserError(`${dir}: variable ${i} (${v.name}) is missing or has another shape; the checkpoint belongs to a different model.`);
        v.assign(t);
      });
      const slots = Object.keys(tensors).filter((k) => k.startsWith('opt/')).sort((a, b) => Number(a.slice(4)) - Number(b.slice(4))).map((k) => tensors[k]);
      this.optimizer.setState({ iterations: state.optimizer.iterations, slots });
      const extra: Record<string, tf.Tensor> = {};
      for (const [k, t] of Object.entries(tensors)) if (k.startsWith('extra/')) extra[k.slice(6)] = t;
      if (Object.keys(extra).length) this.o.objective.loadExtraState?.(extra);
      source.setState(state.source);
      this.step = state.step;
      this.checkpointStep = state.step;
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  /**
   * Trains until `steps` (or `stopAfter` steps of this call). With `resume` and a checkpoint in the
   * run directory, continues from it and draws the same batches as the uninterrupted run.
   */
  async fit(source: BatchSource, opts: { resume?: boolean } = {}): Promise<TrainResult> {
    const o = this.o;
    if (opts.resume && this.checkpointDir && hasCheckpoint(this.checkpointDir)) {
      await this.restore(source);
      o.log?.(`resuming from step ${this.step}`);
    } else if (opts.resume) throw new UserError(`--resume: no checkpoint in ${this.checkpointDir ?? '(no run directory)'} (the run stopped before its first save); start it again with --overwrite instead of --resume.`);
    // The log holds exactly the steps before the checkpoint's (a resumed run logs the rest again).
    if (o.runDir) await truncateMetrics(join(o.runDir, RUN_LAYOUT.metrics), this.step);
    const logger = o.runDir ? new JsonlLogger(join(o.runDir, RUN_LAYOUT.metrics)) : undefined;
    const remaining = o.steps - this.step;
    const bar = createProgress({ label: o.label ?? `train ${o.objective.name}`, total: Math.max(remaining, 1), unit: 'step', quiet: o.progress === false });
    const losses: number[] = [];
    let monitor: Record<string, number> | undefined;
    const every = o.checkpointEvery ?? 0;
    let ran = 0;
    try {
      while (this.step < o.steps && (o.stopAfter === undefined || ran < o.stopAfter)) {
        const t0 = performance.now();
        const batch = await source.next();
        const lr = this.lrAt(this.step);
        const { loss, metrics } = this.trainStep(batch, lr);
        if (!Number.isFinite(loss)) {
          throw new NumericalError(
            `Training stopped: the loss became ${loss} at step ${this.step} (lr ${lr.toPrecision(3)}); ${this.keptCheckpoint()}. Lower optimizer.lr (or raise training.warmupSteps), check the input images for NaN/constant channels, then resume with --resume --set optimizer.lr=<lower>, or restart.`,
          );
        }
        o.objective.afterStep?.(this.step, o.steps);
        const imagesPerSec = (batch.views[0].shape[0] * batch.views.length) / ((performance.now() - t0) / 1000);
        const rec: StepRecord = { step: this.step, lr, loss, imagesPerSec, metrics };
        this.step++;
        ran++;
        losses.push(loss);
        logger?.log({ step: rec.step, lr, loss, imagesPerSec, ...metrics });
        o.onStep?.(rec);
        bar.tick(1, { loss, 'img/s': imagesPerSec });
        if (o.monitor && (this.step % o.monitor.every === 0 || this.step === o.steps)) {
          monitor = await o.monitor.run(this.step);
          logger?.log({ step: rec.step, ...Object.fromEntries(Object.entries(monitor).map(([k, v]) => [`monitor/${k}`, v])) });
        }
        if ((every > 0 && this.step % every === 0) || this.step === o.steps) await this.saveCheckpoint(source);
      }
    } finally {
      bar.stop();
    }
    return { step: this.step, losses, monitor };
  }

  /** One optimizer step on `batch` (whose tensors it disposes); returns the loss and metrics. */
  private trainStep(batch: ObjectiveBatch, lr: number): { loss: number; metrics: Record<string, number> } {
    let metricTensors: Record<string, tf.Scalar> = {};
    try {
      const { value, grads } = tf.variableGrads(() => {
        const out = this.o.objective.loss(batch);
        metricTensors = out.metrics;
        for (const m of Object.values(metricTensors)) tf.keep(m);
        return out.loss;
      }, this.params);
      const loss = value.dataSync()[0];
      const metrics: Record<string, number> = {};
      for (const [k, m] of Object.entries(metricTensors)) metrics[k] = m.dataSync()[0];
      if (Number.isFinite(loss)) {
        const gs = this.params.map((p) => grads[p.name] ?? tf.zerosLike(p));
        this.optimizer.apply(gs, lr);
        gs.forEach((g, i) => grads[this.params[i].name] === undefined && g.dispose());
      }
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
      return { loss, metrics };
    } finally {
      for (const m of Object.values(metricTensors)) m.dispose();
      for (const v of batch.views) v.dispose();
      batch.labels?.dispose();
    }
  }

  /** Which checkpoint survives a numerical stop, for its message. */
  private keptCheckpoint(): string {
    return this.checkpointStep >= 0 ? `the last good checkpoint (step ${this.checkpointStep}) is kept in ${this.checkpointDir}` : 'no checkpoint was written yet';
  }

  /** Frees the optimizer state. */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/**
 * Cuts `metrics.jsonl` back to the records of steps before `step` (all of it when `step` is 0), so
 * a resumed run does not log the steps after its checkpoint twice; a torn last line (a kill inside
 * an append) goes too.
 */
export async function truncateMetrics(path: string, step: number): Promise<void> {
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const keep: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let rec: { step?: unknown };
    try {
      rec = JSON.parse(line) as { step?: unknown };
    } catch {
      continue;
    }
    if (typeof rec.step === 'number' && rec.step < step) keep.push(line);
  }
  const next = keep.length ? keep.join('\n') + '\n' : '';
  if (next !== text) await writeFileAtomic(path, next);
}
