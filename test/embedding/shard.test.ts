import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { BenBatchNorm } from '../../src/models/ben-batchnorm.ts';
import { saveModel } from '../../src/models/io.ts';
import { assignShards, parsePlateList, parseShard, selectPlates } from '../../src/embedding/shard.ts';
import { decodePartitionValue, encodePartitionValue, partPath } from '../../src/embedding/dataset-output.ts';
import { isUserError } from '../../src/util/errors.ts';
import { embedToParquet } from '../../src/embedding/run.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-shard-'));
const dataDir = join(root, 'data');
const modelDir = join(root, 'model');

describe('--shard and --plates parsing', () => {
  const err = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(isUserError(e)).toBe(true);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  it('parses i/n and reads the job array index for auto', () => {
    expect(parseShard('2/8', {})).toEqual({ index: 2, count: 8 });
    expect(parseShard('auto', { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 3, count: 4 });
    // Re-running task 3 of 8 alone (sbatch --array=3): the shard stays 3 of the count given.
    expect(parseShard('auto/8', { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '3', SLURM_ARRAY_TASK_COUNT: '1' })).toEqual({ index: 3, count: 8 });
    // A 1-based array (--array=1-4) is caught at its last task.
    expect(() => parseShard('auto', { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(/out of range/);
    expect(parseShard('auto/5', { JOB_COMPLETION_INDEX: '4' })).toEqual({ index: 4, count: 5 });
  });
  it('refuses out-of-range indices, n < 1 and auto without a job array, naming --shard', () => {
    expect(err(() => parseShard('4/4', {}))).toMatch(/--shard "4\/4".*out of range; shards are numbered 0 to 3/);
    expect(err(() => parseShard('0/0', {}))).toMatch(/--shard "0\/0".*at least 1/);
    expect(err(() => parseShard('auto', {}))).toMatch(/--shard auto: none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX/);
    expect(err(() => parseShard('auto', { JOB_COMPLETION_INDEX: '1' }))).toMatch(/--shard auto .*JOB_COMPLETION_INDEX=1.*auto\/n/);
    expect(err(() => parseShard('auto/2', { JOB_COMPLETION_INDEX: '2' }))).toMatch(/out of range/);
    expect(err(() => parseShard('1-4', {}))).toMatch(/--shard "1-4": write i\/n/);
    expect(err(() => parseShard('3', {}))).toMatch(/as i\/n/);
  });
  it('takes plate keys or a file of them', () => {
    const f = join(root, 'plates.txt');
    writeFileSync(f, '# plates to redo\nEXP/1\n\nEXP/2  # flaky\n');
    expect(parsePlateList([f, 'EXP/3,EXP/1'])).toEqual(['EXP/1', 'EXP/2', 'EXP/3']);
    expect(err(() => selectPlates([{ key: 'A/1', images: 3 }], { plates: ['A/2'] }))).toMatch(/--plates: A\/2 not in the data set.*e\.g\. A\/1/);
  });
});

describe('shard assignment', () => {
  it('is greedy LPT over whole plates: balanced, deterministic, independent of input order', () => {
    const plates = Array.from({ length: 37 }, (_, i) => ({ key: `E${i % 3}/P${String(i).padStart(2, '0')}`, images: 10 + ((i * 7919) % 23) }));
    const a = assignShards(plates, 4);
    const b = assignShards([...plates].reverse(), 4);
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
    const load = [0, 0, 0, 0];
    for (const p of plates) load[a.get(p.key)!] += p.images;
    // LPT bound: max load <= mean + largest plate.
    const total = load.reduce((s, x) => s + x, 0);
    expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(Math.max(...plates.map((p) => p.images)));
    expect(Math.max(...load)).toBeLessThanOrEqual(total / 4 + 32);
    // Every plate in exactly one shard; the selection is the union of the shards.
    const shards = [0, 1, 2, 3].map((index) => selectPlates(plates, { shard: { index, count: 4 } }));
    expect(shards.flat().sort()).toEqual(plates.map((p) => p.key).sort());
    // Equal plates go round-robin in key order.
    const eq = assignShards(['c', 'a', 'b', 'd'].map((key) => ({ key, images: 5 })), 2);
    expect(Object.fromEntries(eq)).toEqual({ a: 0, b: 1, c: 0, d: 1 });
  });
  it('encodes plate keys as safe Hive partition folders that DuckDB decodes to the same key', async () => {
    const keys = ['EXP-1/P1', 'a=b%c d', '.hidden', 'Ω/plaque', ''];
    for (const k of keys) {
      const e = encodePartitionValue(k);
      expect(e).toMatch(/^[A-Za-z0-9_.%-]+$/);
      expect(e.startsWith('.')).toBe(false);
      expect(decodePartitionValue(e)).toBe(k);
    }
    expect(partPath('/x', 'EXP-1/P1', 3)).toBe('/x/plate=EXP-1%2FP1/part-3.parquet');
    const inst = await DuckDBInstance.create(':memory:');
    const con = await inst.connect();
    const dir = join(root, 'hive');
    for (const k of keys.slice(0, 4)) {
      const p = partPath(dir, k, 0);
      mkdirSync(join(p, '..'), { recursive: true });
      await con.run(`COPY (SELECT '${k.replaceAll("'", "''")}' AS Metadata_PlateKey) TO '${p.replaceAll("'", "''")}' (FORMAT parquet)`);
    }
    const rows = (await con.runAndReadAll(`SELECT plate, Metadata_PlateKey FROM read_parquet('${dir}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)`)).getRows();
    expect(rows.length).toBe(4);
    for (const [plate, key] of rows) expect(plate).toBe(key);
    con.closeSync();
    inst.closeSync();
  });
});

function benAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--backend', 'cpu'], { env: { ...process.env, BEN_QUIET: '1', ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b) => (stdout += b));
    c.stderr.on('data', (b) => (stderr += b));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Rows of a Parquet file or dataset glob as `plate|well|site` -> float32 bytes of the features. */
async function readRows(glob: string): Promise<Map<string, Buffer>> {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  try {
    const r = await con.runAndReadAll(`SELECT * FROM read_parquet('${glob}', hive_partitioning = false)`);
    const names = r.columnNames();
    const emb = names.map((n, i) => [n, i] as const).filter(([n]) => n.startsWith('emb_')).map(([, i]) => i);
    const [pk, w, s] = ['Metadata_PlateKey', 'Metadata_Well', 'Metadata_Site'].map((c) => names.indexOf(c));
    const out = new Map<string, Buffer>();
    for (const row of r.getRows()) {
      const key = `${row[pk]}|${row[w]}|${s >= 0 ? row[s] : ''}`;
      expect(out.has(key)).toBe(false);
      out.set(key, Buffer.from(Float32Array.from(emb.map((i) => row[i] as number)).buffer));
    }
    return out;
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

describe('ben embed --shard', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    await generateSynthetic(resolveSynthConfig('tiny'), dataDir);
    const input = tfl.input({ shape: [32, 32, 3] });
    let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
    x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
    const out = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
    await saveModel(tfl.model({ inputs: input, outputs: out }), modelDir, { backbone: 'tiny-test', embeddingDim: 4 });
  }, 120_000);

  it('4 shard processes in parallel write the same float32 values as one run, plate by plate', async () => {
    const single = join(root, 'single.parquet');
    const ds = join(root, 'ds');
    const common = ['--model', modelDir, '--data', dataDir, '--normalization', 'plate', '--batch-size', '5', '--json', '--quiet'];
    const [one, ...shards] = await Promise.all([
      benAsync(['embed', ...common, '--out', single]),
      ...[0, 1, 2, 3].map((i) => benAsync(['embed', ...common, '--out', `${ds}/`, '--shard', `${i}/4`])),
    ]);
    for (const r of [one, ...shards]) {
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
    }
    const summaries = shards.map((r) => JSON.parse(r.stdout));
    // Whole plates, each in one shard, balanced (8 equal plates: 2 each).
    expect(summaries.map((s) => s.plates)).toEqual([2, 2, 2, 2]);
    const allPlates = summaries.flatMap((s) => s.plateKeys).sort();
    expect(new Set(allPlates).size).toBe(8);
    expect(summaries.reduce((s, x) => s + x.images, 0)).toBe(JSON.parse(one.stdout).images);
    // Hive layout: one folder per plate, the owner's part only; logs per shard.
    const plateDirs = readdirSync(ds).filter((n) => n.startsWith('plate=')).sort();
    expect(plateDirs.length).toBe(8);
    for (const [i, s] of summaries.entries()) {
      for (const k of s.plateKeys) expect(existsSync(partPath(ds, k, i))).toBe(true);
      expect(JSON.parse(readFileSync(join(ds, '_shards', `shard-${i}-of-4.json`), 'utf8'))).toMatchObject({ status: 'done', shard: i, shards: 4, plates: s.plateKeys });
    }
    expect(existsSync(join(ds, '_ben_dataset.json'))).toBe(true);
    // Bit for bit, per (plate, well, site), sites and wells.
    for (const [a, b] of [[single, `${ds}/**/*.parquet`], [join(root, 'single.wells.parquet'), `${ds}.wells/**/*.parquet`]]) {
      const ra = await readRows(a);
      const rb = await readRows(b);
      expect(rb.size).toBe(ra.size);
      expect(ra.size).toBeGreaterThan(0);
      for (const [k, v] of ra) expect(rb.get(k)?.equals(v), k).toBe(true);
    }
    // A re-run of one shard replaces its own parts only.
    const before = Object.fromEntries(plateDirs.map((d) => [d, readdirSync(join(ds, d))]));
    const otherPart = partPath(ds, summaries[1].plateKeys[0], 1);
    const mtime = statSync(otherPart).mtimeMs;
    const again = await benAsync(['embed', ...common, '--out', ds, '--shard', 'auto'], { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' });
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout).plateKeys).toEqual(summaries[2].plateKeys);
    expect(Object.fromEntries(plateDirs.map((d) => [d, readdirSync(join(ds, d))]))).toEqual(before);
    expect(statSync(otherPart).mtimeMs).toBe(mtime);
  }, 120_000);

  it('refuses --shard with a single-file --out and a folder that is not ours, before any work', async () => {
    const refusal = (o: Partial<Parameters<typeof embedToParquet>[0]>) =>
      embedToParquet({ modelDir, dataPath: dataDir, out: '', normalization: 'plate', ...o }).then(
        () => 'no error',
        (e) => (isUserError(e) ? (e as Error).message : `not a UserError: ${String(e)}`),
      );
    expect(await refusal({ out: join(root, 'x.parquet'), shard: { index: 0, count: 2 } })).toMatch(/--shard 0\/2 writes a partitioned dataset: give --out a folder/);
    const mine = join(root, 'users-folder');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep');
    expect(await refusal({ out: mine, shard: { index: 0, count: 2 } })).toMatch(/--out .*users-folder exists and is not an output of ben-ssl \(it has no _ben_dataset.json\)/);
    expect(readdirSync(mine)).toEqual(['notes.txt']);
    expect(await refusal({ out: `${root}/`, shard: { index: 0, count: 2 } })).toMatch(/--out .* would replace .*data, which this command reads/);
  });
});

