/**
 * Fault corpus, kill -9: a training run is killed at 30 points spread over its checkpoint saves
 * (half of them the moment a new checkpoint is being written, half at random instants), each
 * time resumed; the finished run logs every step once with exactly the losses of an uninterrupted
 * run. An export killed while writing its Parquet file leaves nothing at the output path, and the
 * next export cleans up and succeeds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetricsJsonl } from '../../src/report/run-dir.ts';
import { ben, benAsync, leftovers, scratch, tinyRecipeFlags } from './helpers.ts';

const root = scratch('kill');
const data = join(root, 'tiny');
const STEPS = 45;
const KILLS = 30;
const args = (runDir: string, extra: string[] = []) => ['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(data, STEPS, ['augment.cropSize=16']), '--run-dir', runDir, '--quiet', ...extra];

function losses(runDir: string): { step: number; loss: number }[] {
  return parseMetricsJsonl(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8'))
    .filter((r) => typeof r.loss === 'number')
    .map((r) => ({ step: r.step as number, loss: r.loss as number }));
}

const savingNow = (runDir: string) => readdirSync(runDir).some((n) => /^\.checkpoint\.\d+\.[0-9a-f]+\.tmp$|^\.checkpoint\.\d+\.old$/.test(n));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logged = (runDir: string) => (existsSync(join(runDir, 'metrics.jsonl')) ? readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').split('\n').length : 0);

beforeAll(() => {
  expect(ben(['data', 'synth', '--preset', 'tiny', '--out', data, '--quiet']).status).toBe(0);
}, 120_000);

describe('kill -9 during training', () => {
  it(`${KILLS} kills over the checkpoint saves, each resumed: same losses as an uninterrupted run`, async () => {
    const ref = join(root, 'ref');
    const r = ben(args(ref));
    expect(r.status, r.stderr).toBe(0);
    const want = losses(ref);
    expect(want.map((x) => x.step)).toEqual([...Array(STEPS).keys()]);

    const dir = join(root, 'killed');
    let kills = 0;
    let inSave = 0;
    let first = true;
    let finished = false;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    while (!finished) {
      const child = benAsync(args(dir, first ? [] : ['--resume']));
      let stderr = '';
      child.stderr.on('data', (b) => (stderr += b));
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
      let done: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      void exit.then((e) => (done = e));
      if (kills < KILLS) {
        // Let the run make progress (a step logged after its start; the first run: its first
        // checkpoint, without which there is nothing to resume), then pick the instant.
        const start = logged(dir);
        while (!done && (logged(dir) <= start || !existsSync(join(dir, 'checkpoint', 'checkpoint.json')))) await sleep(2);
        const wantSave = kills % 2 === 0;
        const deadline = Date.now() + 30 + 120 * rand();
        while (!done && (wantSave ? !savingNow(dir) : Date.now() < deadline)) await sleep(wantSave ? 0 : 2);
        if (!done) {
          if (wantSave && savingNow(dir)) inSave++;
          process.kill(-child.pid!, 'SIGKILL');
          kills++;
        }
      }
      const e = await exit;
      if (e.signal !== 'SIGKILL') {
        expect(e.code, stderr).toBe(0);
        finished = true;
      }
      first = false;
      // At every instant a complete checkpoint exists: the next --resume finds it (or the run finished).
    }
    expect(kills).toBe(KILLS);
    expect(inSave).toBeGreaterThanOrEqual(10);
    const got = losses(dir);
    expect(got.map((x) => x.step)).toEqual(want.map((x) => x.step));
    expect(got.map((x) => x.loss)).toEqual(want.map((x) => x.loss));
    expect(leftovers(dir)).toEqual([]);
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).status).toBe('finished');
  }, 900_000);
});

describe('kill -9 during an export', () => {
  it('leaves no file at the output path, and the next export cleans up and succeeds', async () => {
    const pre = join(root, 'pre');
    expect(ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(data, 1), '--run-dir', pre, '--quiet']).status).toBe(0);
    const outDir = join(root, 'export');
    const out = join(outDir, 'e.parquet');
    const embedArgs = ['embed', '--model', join(pre, 'model'), '--data', data, '--out', out, '--quiet'];
    let killedInWrite = false;
    for (let attempt = 0; attempt < 5 && !killedInWrite; attempt++) {
      const child = benAsync(embedArgs);
      const exit = new Promise((res) => child.on('exit', res));
      let exited = false;
      void exit.then(() => (exited = true));
      while (!exited && !(existsSync(outDir) && readdirSync(outDir).some((n) => n.endsWith('.tmp')))) await sleep(0);
      if (!exited) {
        process.kill(-child.pid!, 'SIGKILL');
        killedInWrite = true;
      }
      await exit;
    }
    expect(killedInWrite).toBe(true);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(outDir, 'e.wells.parquet'))).toBe(false);
    const r = ben(embedArgs);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(outDir).sort()).toEqual(['e.parquet', 'e.wells.parquet']);
  }, 300_000);
});
