import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { BenBatchNorm } from '../../src/models/ben-batchnorm.ts';
import { saveModel } from '../../src/models/io.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-cluster-'));
const dataDir = join(root, 'data');
const modelDir = join(root, 'model');
const BEN = `${process.execPath} --import tsx src/cli/main.ts`;

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env: { ...process.env, BEN_QUIET: '1', ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b) => (stdout += b));
    c.stderr.on('data', (b) => (stderr += b));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await generateSynthetic(resolveSynthConfig('tiny'), dataDir);
  const input = tfl.input({ shape: [32, 32, 3] });
  let x = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }).apply(input) as tfl.SymbolicTensor;
  x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  await saveModel(tfl.model({ inputs: input, outputs: out }), modelDir, { backbone: 'tiny-test', embeddingDim: 6 });
}, 120_000);

describe('Running on a cluster (docs/cluster)', () => {
  it('the Slurm array body, run per index with a faked SLURM_ARRAY_TASK_ID, then one evaluation, equals a single run', async () => {
    const out = join(root, 'emb');
    const env = { MODEL: modelDir, DATA: dataDir, OUT: out, SHARDS: '3', BEN, EMBED_ARGS: '--backend cpu --batch-size 5' };
    const single = join(root, 'single.parquet');
    const [one, ...shards] = await Promise.all([
      run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'embed', '--model', modelDir, '--data', dataDir, '--out', single, '--normalization', 'plate', '--quiet', '--backend', 'cpu', '--batch-size', '5'], {}),
      ...[0, 1, 2].map((i) => run('bash', ['docs/cluster/embed-shards.sbatch'], { ...env, SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_COUNT: '3' })),
    ]);
    for (const r of [one, ...shards]) expect(r.stderr).not.toMatch(/Error/), expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(join(root, 'emb', '_shards')).sort()).toEqual(['shard-0-of-3.json', 'shard-1-of-3.json', 'shard-2-of-3.json']);
    const evalArgs = '--null-size 500 --backend cpu';
    const [ev, ref] = await Promise.all([
      run('bash', ['docs/cluster/evaluate.sbatch'], { OUT: out, EVAL_OUT: join(root, 'eval'), BEN, EVAL_ARGS: evalArgs }),
      run('bash', ['-c', `${BEN} evaluate ${join(root, 'single.wells.parquet')} --plate PlateKey --replicate-by Label --control WellType=negative_control --metrics map,map-activity --json ${evalArgs}`], {}),
    ]);
    expect(ev.status).toBe(0);
    expect(ref.status).toBe(0);
    const a = JSON.parse(ev.stdout).metrics;
    const b = JSON.parse(ref.stdout).metrics;
    expect(JSON.parse(readFileSync(join(root, 'eval', 'summary.json'), 'utf8')).metrics.map.map).toBe(a.map.map);
    for (const m of ['map', 'map-activity']) {
      expect(a[m].profiles).toBeGreaterThan(10);
      for (const k of ['map', 'mean_ap', 'fraction_retrieved', 'groups', 'profiles']) expect(Math.abs(a[m][k] - b[m][k])).toBeLessThanOrEqual(1e-12);
    }
  }, 180_000);

  it('the Kubernetes manifests: an Indexed Job whose completions equal the shards, then one evaluation of its wells', () => {
    const [job] = parseAllDocuments(readFileSync('docs/cluster/embed-indexed-job.yaml', 'utf8')).map((d) => d.toJS());
    expect(job.spec.completionMode).toBe('Indexed');
    const cmd: string[] = job.spec.template.spec.containers[0].command;
    expect(cmd.slice(0, 2)).toEqual(['ben', 'embed']);
    expect(cmd[cmd.indexOf('--shard') + 1]).toBe(`auto/${job.spec.completions}`);
    const out = cmd[cmd.indexOf('--out') + 1];
    const [ev] = parseAllDocuments(readFileSync('docs/cluster/evaluate-job.yaml', 'utf8')).map((d) => d.toJS());
    const ecmd: string[] = ev.spec.template.spec.containers[0].command;
    expect(ecmd[2]).toBe(`${out.replace(/\/$/, '')}.wells`);
    // The README shows the same files.
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('docs/cluster/embed-shards.sbatch');
    expect(readme).toContain('docs/cluster/embed-indexed-job.yaml');
  });
});
