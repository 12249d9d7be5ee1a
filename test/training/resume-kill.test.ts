/**
 * Resume after a real kill: `ben pretrain` on the `small` synthetic preset is killed
 * with SIGKILL right after its first checkpoint, then continued with `--resume`; every step after
 * the checkpoint has bit-identical losses to an uninterrupted run of the same recipe. (The
 * in-process variant with `stopAfter` lives in pretrain.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMetricsJsonl } from '../../src/report/run-dir.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-resume-kill-'));
const STEPS = 30;
const EVERY = 4;
const args = (runDir: string, extra: string[] = []) => [
  'tsx',
  'src/cli/main.ts',
  'pretrain',
  '--recipe',
  'recipes/simclr-ben.yaml',
  '--set',
  'data.preset=small',
  `data.path=${join(root, 'small')}`,
  `training.steps=${STEPS}`,
  'training.warmupSteps=2',
  `training.checkpointEvery=${EVERY}`,
  'training.logEvery=1',
  'sampler.batchSize=8',
  'augment.cropSize=16',
  'backbone.name=small-convnet',
  'objective.options.projectorHiddenDim=16',
  'objective.options.projectorOutDim=8',
  '--run-dir',
  runDir,
  '--quiet',
  ...extra,
];
const env = { ...process.env, BEN_QUIET: '1', BEN_THREADS: '1' };

/** Loss per step from metrics.jsonl; a step logged twice (run again after the kill) keeps its last record. */
function losses(runDir: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of parseMetricsJsonl(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8'))) {
    if (typeof r.step === 'number' && typeof r.loss === 'number') m.set(r.step, r.loss);
  }
  return m;
}

const checkpointStep = (runDir: string): number | undefined => {
  const p = join(runDir, 'checkpoint', 'checkpoint.json');
  if (!existsSync(p)) return undefined;
  try {
    return (JSON.parse(readFileSync(p, 'utf8')) as { state: { step: number } }).state.step;
  } catch {
    return undefined; // being renamed into place
  }
};

describe('resume after SIGKILL (small preset)', () => {
  it('the resumed run gives the same losses as an uninterrupted one', async () => {
    const ref = join(root, 'ref');
    const r = spawnSync('npx', args(ref), { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    const want = losses(ref);
    expect(want.size).toBe(STEPS);

    const dir = join(root, 'killed');
    const child = spawn('npx', args(dir), { env, stdio: 'ignore', detached: true });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    let killedAt: number | undefined;
    for (let i = 0; i < 6000 && killedAt === undefined; i++) {
      const s = checkpointStep(dir);
      // Kill the whole process group (npx -> tsx -> node) as soon as the first checkpoint exists.
      if (s !== undefined) {
        process.kill(-child.pid!, 'SIGKILL');
        killedAt = s;
      } else await new Promise((res) => setTimeout(res, 20));
    }
    expect(await exited).toBe('SIGKILL');
    expect(killedAt).toBeDefined();
    const before = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { status: string };
    expect(before.status).toBe('running'); // really killed mid-run, not finished
    const resumeFrom = checkpointStep(dir)!;
    expect(resumeFrom).toBeLessThan(STEPS);

    const again = spawnSync('npx', args(dir, ['--resume']), { encoding: 'utf8', env });
    expect(again.status, again.stderr).toBe(0);
    const got = losses(dir);
    expect(got.size).toBe(STEPS);
    // Steps from the checkpoint on were (re)computed by the resumed process: bit-identical.
    for (let s = resumeFrom; s < STEPS; s++) expect(got.get(s), `step ${s}`).toBe(want.get(s));
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'))).toMatchObject({ status: 'finished' });
  }, 240_000);
});
