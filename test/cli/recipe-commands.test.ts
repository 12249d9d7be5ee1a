/**
 * The recipe commands as a user runs them: `ben pretrain --recipe`, `ben train --recipe`,
 * `ben run <recipe>` with `--set` overrides (tiny synthetic preset generated into a temp dir),
 * their outputs, and their errors (exit code 2, the field named, no stack trace).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWithDuckDB } from '../embedding/helpers.ts';

const cli = (...args: string[]) => spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
const root = mkdtempSync(join(tmpdir(), 'ben-cli-recipes-'));
const tiny = ['--set', `data.preset=tiny`, `data.path=${join(root, 'tiny')}`, 'training.steps=2', 'training.warmupSteps=1', 'sampler.batchSize=8', 'augment.cropSize=16', 'backbone.name=small-convnet'];

describe('ben pretrain / train / run with recipes', () => {
  it('ben pretrain --recipe writes model/, checkpoint, metrics.jsonl, resolved recipe and run.json; --resume of a finished run is a no-op', () => {
    const runDir = join(root, 'pretrain');
    const r = cli('pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tiny, 'objective.options.projectorHiddenDim=16', '--run-dir', runDir, '--quiet', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ steps: 2, totalSteps: 2, inputSize: 16 });
    for (const f of ['model/model.json', 'checkpoint/checkpoint.json', 'metrics.jsonl', 'resolved-recipe.yaml', 'run.json']) expect(existsSync(join(runDir, f)), f).toBe(true);
    expect(readFileSync(join(runDir, 'resolved-recipe.yaml'), 'utf8')).toMatch(/preset: tiny/);
    expect(JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8'))).toMatchObject({ status: 'finished', backend: { name: expect.any(String) }, git: { revision: expect.any(String) } });
    const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
    const again = cli('pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tiny, 'objective.options.projectorHiddenDim=16', '--run-dir', runDir, '--resume', '--quiet', '--json');
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).steps).toBe(2);
    // Nothing retrained: no new step records.
    expect(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBe(lines);
  }, 120_000);

  it('errors name the field and the fix, without a stack trace', () => {
    const bad = cli('pretrain', '--recipe', 'recipes/simclr-ben.yaml', '--set', 'sampler.type=plates');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/sampler\.type: unknown sampler "plates"; choose one of: plate, random/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const ssl = cli('train', '--recipe', 'recipes/simclr-ben.yaml');
    expect(ssl.status).toBe(2);
    expect(ssl.stderr).toMatch(/ben pretrain --recipe recipes\/simclr-ben\.yaml/);
    const missing = cli('run', 'recipes/rxrx1-wilds.yaml', '--set', `data.path=${join(root, 'nowhere')}`, '--run-dir', join(root, 'rx-run'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/data\.path: .*nowhere does not exist/);
  }, 120_000);

  it('ben train --recipe trains the supervised recipe and reports accuracy', () => {
    const runDir = join(root, 'supervised');
    const r = cli('train', '--recipe', 'recipes/supervised-ben.yaml', ...tiny, '--run-dir', runDir, '--quiet', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.eval.test.images).toBeGreaterThan(0);
    expect(out.eval.test.accuracy).toBeGreaterThanOrEqual(0);
    expect(existsSync(join(runDir, 'results.json'))).toBe(true);
  }, 120_000);

  it('ben run <recipe> runs the stages and prints the headline numbers; ben embed writes the same embeddings with the same metadata', async () => {
    const runDir = join(root, 'run');
    const r = cli('run', 'recipes/quickstart.yaml', ...tiny, 'stages=[data,train,embed,evaluate]', 'evaluation.mapNullSize=50', 'training.knnMonitorEvery=0', '--run-dir', runDir, '--quiet');
    expect(r.status, r.stderr).toBe(0);
    // The paper's metric first, then kNN; the third variant embeds the baseline's model.
    expect(r.stdout).toMatch(/ben \(plate batches, plate inference\): linear probe \(well level\) [\d.]+% \(chance [\d.]+%(, not converged)?\), kNN cross-plate [\d.]+%/);
    expect(r.stdout).toMatch(/baseline \(random batches, running inference\): linear probe \(well level\) [\d.]+%.*kNN cross-plate [\d.]+%/);
    expect(r.stdout).toMatch(/baseline-plate-stats \(random batches, plate inference\): linear probe \(well level\) [\d.]+%/);
    for (const v of ['ben', 'baseline']) for (const f of ['embeddings.parquet', 'metrics.jsonl', 'eval.json']) expect(existsSync(join(runDir, v, f)), `${v}/${f}`).toBe(true);

    // One embed stage: `ben embed` on the same model and split writes what the recipe wrote, with the
    // same key-value metadata; the recipe adds only its provenance (recipe, variant).
    const out = join(root, 'embed', 'emb.parquet');
    const e = cli('embed', '--model', join(runDir, 'ben', 'model'), '--data', join(root, 'tiny'), '--split', 'test', '--normalization', 'plate', '--out', out, '--quiet');
    expect(e.status, e.stderr).toBe(0);
    const [fromRun, fromEmbed] = await Promise.all([readWithDuckDB(join(runDir, 'ben', 'embeddings.parquet')), readWithDuckDB(out)]);
    const keys = (kv: Record<string, string>) => Object.keys(kv).sort();
    expect(keys(fromRun.kv)).toEqual([...keys(fromEmbed.kv), 'recipe', 'variant'].sort());
    expect(keys(fromEmbed.kv)).toEqual(expect.arrayContaining(['model', 'model_metadata', 'data', 'data_layout', 'splits', 'normalization']));
    expect(fromRun.rows).toEqual(fromEmbed.rows);
    const [wellsRun, wellsEmbed] = await Promise.all([readWithDuckDB(join(runDir, 'ben', 'embeddings.wells.parquet')), readWithDuckDB(join(root, 'embed', 'emb.wells.parquet'))]);
    expect(keys(wellsRun.kv)).toEqual([...keys(wellsEmbed.kv), 'recipe', 'variant'].sort());
  }, 240_000);

  it('--resume with fewer steps is refused naming training.steps, and nothing is rewritten; more steps continue training; the resolved recipes agree', () => {
    const runDir = join(root, 'resume-steps');
    const args = ['run', 'recipes/quickstart.yaml', ...tiny, 'stages=[data,train]', 'training.knnMonitorEvery=0', '--run-dir', runDir, '--quiet'];
    const steps = (f: string) => Number(/steps: (\d+)/.exec(readFileSync(f, 'utf8'))?.[1]);
    const first = cli(...args);
    expect(first.status, first.stderr).toBe(0);
    const top = join(runDir, 'resolved-recipe.yaml');
    const ben = join(runDir, 'ben', 'resolved-recipe.yaml');
    expect([steps(top), steps(ben)]).toEqual([2, 2]);

    const fewer = cli(...args, '--resume', '--set', 'training.steps=1');
    expect(fewer.status).toBe(2);
    expect(fewer.stderr).toMatch(/--resume: variant "ben" .* finished 2 steps with training.steps 2; the recipe now says training.steps 1, which resume cannot honour/);
    expect(fewer.stderr).not.toMatch(/at .*\.ts:/);
    expect([steps(top), steps(ben)]).toEqual([2, 2]);

    const more = cli(...args, '--resume', '--set', 'training.steps=3');
    expect(more.status, more.stderr).toBe(0);
    expect([steps(top), steps(ben), steps(join(runDir, 'baseline', 'resolved-recipe.yaml'))]).toEqual([3, 3, 3]);
    expect(JSON.parse(readFileSync(join(runDir, 'ben', 'run.json'), 'utf8')).result.steps).toBe(3);
    expect(readFileSync(join(runDir, 'ben', 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBe(3);
  }, 240_000);
});
