/**
 * Fault corpus, run directories: one writer (a lock naming its PID; a dead owner's lock is taken
 * over with a notice), a second run refuses without --resume or --overwrite, run.json ends as
 * finished / failed (with the message) or is found killed, a resumed run cuts metrics.jsonl back
 * to its checkpoint, and plug-in names are checked before any output exists.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ben, deadPid, expectFailure, leftovers, scratch, snapshot, tinyRecipeFlags, userFolder } from './helpers.ts';

const root = scratch('rundir');
const data = join(root, 'tiny');
const pretrain = (runDir: string, extra: string[] = [], steps = 2) => ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(data, steps), ...extra, '--run-dir', runDir]);
const status = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { status: string; error?: { message: string; exitCode: number } };
const steps = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);

beforeAll(() => {
  expect(ben(['data', 'synth', '--preset', 'tiny', '--out', data, '--quiet']).status).toBe(0);
}, 120_000);

describe('one run per run directory', () => {
  const dir = join(root, 'run-a');
  beforeAll(() => {
    const r = pretrain(dir);
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);

  it('run.json ends as finished, and no lock is left', () => {
    expect(status(dir).status).toBe('finished');
    expect(existsSync(join(dir, '.lock'))).toBe(false);
  });

  it('a second run without --resume or --overwrite refuses and changes nothing', () => {
    const before = snapshot(dir);
    expectFailure(pretrain(dir), 2, /--run-dir .*run-a holds an earlier run \(status finished.*Pass --resume to continue it, --overwrite to replace it/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('--overwrite replaces the earlier run and leaves no aside copy', () => {
    const r = pretrain(dir, ['--overwrite'], 3);
    expect(r.status, r.stderr).toBe(0);
    expect(steps(dir)).toEqual([0, 1, 2]);
    expect(leftovers(root).filter((l) => l.includes('run-a'))).toEqual([]);
  });

  it('--resume and --overwrite together are refused', () => {
    expectFailure(pretrain(dir, ['--resume', '--overwrite']), 2, /mutually exclusive|resume.*overwrite/i);
  });

  it('a non-empty folder that is not a run directory is refused, even with --overwrite', () => {
    const { dir: user, before } = userFolder(join(root, 'user-run'));
    expectFailure(pretrain(user, ['--overwrite']), 2, /user-run is not empty and is not a ben run directory \(no run\.json\)/);
    expect(snapshot(user)).toEqual(before);
  });

  it('a --run-dir that is a file is refused', () => {
    writeFileSync(join(root, 'a-file'), 'x');
    expectFailure(pretrain(join(root, 'a-file')), 2, /--run-dir .*a-file is a file, not a folder/);
    expect(readFileSync(join(root, 'a-file'), 'utf8')).toBe('x');
  });
});

describe('the lock', () => {
  it('a live writer makes a second run refuse, naming its PID', async () => {
    const dir = join(root, 'locked');
    mkdirSync(dir);
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), command: 'ben pretrain', startedAt: 'now' }));
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ status: 'running', pid: sleeper.pid }));
      expectFailure(pretrain(dir, ['--resume']), 2, new RegExp(`locked is in use by another ben process \\(pid ${sleeper.pid}`));
    } finally {
      sleeper.kill();
    }
  });

  it("a dead writer's lock is taken over with a notice; its run is reported killed", () => {
    const dir = join(root, 'stale');
    expect(pretrain(dir, [], 2).status).toBe(0);
    const pid = deadPid();
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid, host: hostname(), command: 'ben pretrain', startedAt: 'earlier' }));
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...run, status: 'running', pid }));
    // What the killed process left half-written.
    writeFileSync(join(dir, `.run.json.${pid}.0badc0de.tmp`), '{"partial');
    mkdirSync(join(dir, `.model.${pid}.1234abcd.tmp`));
    // Without --resume: refused, and the message says how the earlier run ended.
    expectFailure(pretrain(dir), 2, /holds an earlier run \(status killed/);
    const r = pretrain(dir, ['--resume'], 3);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`took over the lock of a run that no longer runs \\(pid ${pid}`));
    expect(r.stderr).toMatch(/was killed/);
    expect(leftovers(dir)).toEqual([]);
    expect(status(dir).status).toBe('finished');
  });
});

describe('failed runs and resume', () => {
  it('a numerical stop exits 4, marks run.json failed with the message, and keeps a finite checkpoint', () => {
    const dir = join(root, 'nan');
    const r = pretrain(dir, ['--set', 'optimizer.name=sgd', '--set', 'optimizer.lr=1e8', '--set', 'training.warmupSteps=0'], 10);
    expectFailure(r, 4, /Training stopped: the (loss|weights) became (NaN|Inf|NaN\/Inf).*last good checkpoint \(step \d+\) is kept in .*checkpoint.*--resume --set optimizer\.lr=/s);
    const s = status(dir);
    expect(s.status).toBe('failed');
    expect(s.error!.exitCode).toBe(4);
    expect(s.error!.message).toMatch(/Training stopped/);
    const ck = readFileSync(join(dir, 'checkpoint', 'tensors.bin'));
    const f = new Float32Array(ck.buffer, ck.byteOffset, ck.byteLength / 4);
    expect(f.every(Number.isFinite)).toBe(true);
  });

  it('--resume may lower optimizer.lr (the way out the message names), and says so', () => {
    const dir = join(root, 'lr');
    expect(pretrain(dir, [], 4).status).toBe(0);
    // Unfinish it: resume from the same checkpoint with more steps and a lower rate.
    const r = pretrain(dir, ['--resume', '--set', 'optimizer.lr=0.0001'], 6);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/optimizer\.lr changed from 0\.001 to 0\.0001/);
    expect(r.stderr).toMatch(/resuming from step 4/);
  });

  it('after a resume metrics.jsonl holds each step once', () => {
    const dir = join(root, 'dupes');
    expect(pretrain(dir, [], 5).status).toBe(0);
    // Pretend the process died after step 4 was logged but the last checkpoint was at step 3.
    const ck = join(dir, 'checkpoint', 'checkpoint.json');
    const j = JSON.parse(readFileSync(ck, 'utf8'));
    expect(j.state.step).toBe(5);
    writeFileSync(join(dir, 'metrics.jsonl'), readFileSync(join(dir, 'metrics.jsonl'), 'utf8') + '{"step": 7, "loss": 1}\n{"step": 8, "lo');
    const r = pretrain(dir, ['--resume'], 6);
    expect(r.status, r.stderr).toBe(0);
    expect(steps(dir)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('names are checked before any output', () => {
  const cases: [string, string[], RegExp][] = [
    ['objective', ['--set', 'objective.name=simclrr'], /objective\.name: unknown objective "simclrr"; choose one of: byol, simclr, supervised/],
    ['backbone', ['--set', 'backbone.name=resnet19'], /backbone\.name: unknown backbone "resnet19"; choose one of: .*resnet18/],
    ['optimizer', ['--set', 'optimizer.name=adamw2'], /optimizer\.name: unknown optimizer "adamw2"; choose one of: adam, lars, sgd/],
    ['sampler', ['--set', 'sampler.type=plates'], /sampler\.type: unknown sampler "plates"; choose one of: plate, random/],
    ['objective option', ['--set', 'objective.options.temprature=0.1'], /objective\.options: .*temprature/],
    ['batch of one', ['--set', 'sampler.batchSize=1'], /sampler\.batchSize: 1 image per batch: BatchNorm needs at least 2 images/],
    ['--set value that is not YAML', ['--set', 'training.steps=[1, 2'], /--set "training\.steps=\[1, 2": the value is not valid YAML/],
  ];
  for (const [what, flags, message] of cases) {
    it(`an unknown or invalid ${what} exits 2 and writes nothing`, () => {
      const dir = join(root, `names-${what.replace(/\W+/g, '-')}`);
      expectFailure(pretrain(dir, flags), 2, message);
      expect(existsSync(dir)).toBe(false);
    });
  }

  it('a bad variant override of ben run fails before the data stage', () => {
    const dir = join(root, 'names-variant');
    const recipe = join(root, 'bad-variant.yaml');
    writeFileSync(recipe, `name: bad-variant\ndata: { source: synthetic, preset: tiny, path: ${data} }\nvariants:\n  ok: {}\n  typo: { backbone.name: resnet19 }\n`);
    expectFailure(ben(['run', recipe, '--run-dir', dir]), 2, /bad-variant \(variant typo\):\n\s+backbone\.name: unknown backbone "resnet19"/);
    expect(existsSync(dir)).toBe(false);
  });
});
