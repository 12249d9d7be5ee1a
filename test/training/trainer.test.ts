import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, type TrainerOptions } from '../../src/training/trainer.ts';
import { loadCheckpoint } from '../../src/training/checkpoint.ts';
import { Supervised } from '../../src/objectives/supervised.ts';
import { createByol } from '../../src/objectives/byol.ts';
import { isUserError } from '../../src/util/errors.ts';
import { tinyBackbone, ToySource } from './helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function setup(runDir: string | undefined, extra: Partial<TrainerOptions> = {}) {
  const backbone = tinyBackbone(3);
  const objective = new Supervised();
  objective.build({ backbone, embeddingDim: 8, numClasses: 3, seed: 4 });
  const trainer = new Trainer({
    backbone,
    objective,
    optimizer: { name: 'sgd', momentum: 0.9, weightDecay: 1e-3 },
    schedule: { baseLr: 0.05, warmupSteps: 2 },
    steps: 8,
    runDir,
    checkpointEvery: 3,
    progress: false,
    ...extra,
  });
  return { backbone, objective, trainer };
}

describe('Trainer', () => {
  it('resume after a kill gives the same next losses as the uninterrupted run', async () => {
    const full = setup(join(mkdtempSync(join(tmpdir(), 'ben-tr-')), 'run'));
    const ref = await full.trainer.fit(new ToySource(7));
    expect(ref.losses.length).toBe(8);

    const dir = join(mkdtempSync(join(tmpdir(), 'ben-tr-')), 'run');
    // "Killed" after 4 steps: the last checkpoint is the one of step 3.
    const first = setup(dir, { stopAfter: 4 });
    await first.trainer.fit(new ToySource(7));
    const ck = await loadCheckpoint<{ step: number }>(join(dir, 'checkpoint'));
    expect(ck.state.step).toBe(3);
    for (const t of Object.values(ck.tensors)) t.dispose();

    // A fresh model, objective and source (different seeds: everything must come from the checkpoint).
    const backbone = tinyBackbone(99);
    const objective = new Supervised();
    objective.build({ backbone, embeddingDim: 8, numClasses: 3, seed: 98 });
    const resumed = new Trainer({
      backbone,
      objective,
      optimizer: { name: 'sgd', momentum: 0.9, weightDecay: 1e-3 },
      schedule: { baseLr: 0.05, warmupSteps: 2 },
      steps: 8,
      runDir: dir,
      checkpointEvery: 3,
      progress: false,
    });
    const rest = await resumed.fit(new ToySource(12345), { resume: true });
    expect(rest.losses).toEqual(ref.losses.slice(3));
    expect(rest.step).toBe(8);
    const log = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number });
    expect(log.at(-1)!.step).toBe(7);
    expect(log.at(-1)!.loss).toBe(ref.losses[7]);
  });

  it('loss decreases on a learnable toy task (adam)', async () => {
    const { trainer } = setup(undefined, { optimizer: { name: 'adam', weightDecay: 1e-4 }, schedule: { baseLr: 0.02 }, steps: 30 });
    const r = await trainer.fit(new ToySource(1, 12));
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(r.losses.slice(-5))).toBeLessThan(mean(r.losses.slice(0, 5)) - 0.2);
  });

  it('stops with a UserError on a NaN loss and keeps the last good checkpoint', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ben-tr-')), 'run');
    const { trainer } = setup(dir, { checkpointEvery: 2 });
    const err = await trainer.fit(new ToySource(7, 6, 5)).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/loss became NaN at step 5.*last good checkpoint/);
    const ck = await loadCheckpoint<{ step: number }>(join(dir, 'checkpoint'));
    expect(ck.state.step).toBe(4);
    for (const t of Object.values(ck.tensors)) {
      expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
      t.dispose();
    }
  });

  it('does not leak tensors across steps', async () => {
    const counts: number[] = [];
    const { trainer } = setup(undefined, { steps: 6, onStep: () => counts.push(tf.memory().numTensors) });
    await trainer.fit(new ToySource(2));
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(counts[0]).toBe(counts[5]);
  });

  it('checkpointing a BYOL run (extraState copies of the target) does not leak tensors', async () => {
    const backbone = tinyBackbone(3);
    const objective = createByol({ hiddenDim: 8, projectionDim: 4 });
    objective.build({ backbone, embeddingDim: 8, seed: 4, buildBackbone: () => tinyBackbone(5) });
    const counts: number[] = [];
    const trainer = new Trainer({
      backbone,
      objective,
      optimizer: { name: 'adam' },
      schedule: { baseLr: 0.01 },
      steps: 5,
      runDir: join(mkdtempSync(join(tmpdir(), 'ben-tr-')), 'run'),
      checkpointEvery: 1,
      progress: false,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    const toy = new ToySource(3);
    // BYOL takes two views: the toy image and a noisy copy.
    const twoViews = {
      next: () => {
        const b = toy.next();
        const noisy = tf.tidy(() => tf.add(b.views[0], tf.randomNormal(b.views[0].shape, 0, 0.1, 'float32', 1)) as tf.Tensor4D);
        b.labels?.dispose();
        return { views: [b.views[0], noisy], group: b.group };
      },
      getState: () => toy.getState(),
      setState: (s: unknown) => toy.setState(s),
    };
    await trainer.fit(twoViews);
    const after = tf.memory().numTensors;
    // onStep runs before each step's checkpoint: constant counts mean every checkpoint freed its copies.
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(after).toBe(counts[4]);
    trainer.dispose();
  });

  it('refuses --resume without a checkpoint', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ben-tr-')), 'run');
    const { trainer } = setup(dir);
    const err = await trainer.fit(new ToySource(1), { resume: true }).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect(existsSync(join(dir, 'checkpoint'))).toBe(false);
  });
});
