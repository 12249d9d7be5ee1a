import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BenBatchNorm, setNormalization } from '../../src/models/ben-batchnorm.ts';
import { loadModel, readModelMetadata, saveModel } from '../../src/models/io.ts';
import { isUserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function tinyNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 2] });
  let h = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.heNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  h = new BenBatchNorm({ name: 'bn1', normalization: 'batch' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.reLU().apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const rng = new Rng(1);
const xData = Float32Array.from({ length: 5 * 6 * 6 * 2 }, () => rng.normal(1, 2));

describe('saveModel / loadModel', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ben-io-')), 'model');
  const model = tinyNet();
  const x = tf.tensor4d(xData, [5, 6, 6, 2]);

  it('round-trips weights, config and metadata in process', async () => {
    // One training-mode call so the running statistics differ from their initial values.
    tf.tidy(() => void model.apply(x, { training: true }));
    await saveModel(model, dir, { backbone: 'tiny', embeddingDim: 3 });
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await loadModel(dir);
    expect(loaded.getLayer('bn1')).toBeInstanceOf(BenBatchNorm);
    expect((loaded.getLayer('bn1') as BenBatchNorm).normalization).toBe('batch');
    for (const mode of ['running', 'batch'] as const) {
      setNormalization(model, mode);
      setNormalization(loaded, mode);
      const a = (model.predict(x, { batchSize: 5 }) as tf.Tensor).dataSync();
      const b = (loaded.predict(x, { batchSize: 5 }) as tf.Tensor).dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    expect(await readModelMetadata(dir)).toEqual({ backbone: 'tiny', embeddingDim: 3 });
  });

  it('loads in a fresh process with the custom layer registered', async () => {
    setNormalization(model, 'running');
    const expected = Array.from((model.predict(x) as tf.Tensor).dataSync());
    const work = mkdtempSync(join(tmpdir(), 'ben-io-child-'));
    const script = join(work, 'load.mts');
    const ioUrl = pathToFileURL(resolve('src/models/io.ts')).href;
    const bnUrl = pathToFileURL(resolve('src/models/ben-batchnorm.ts')).href;
    writeFileSync(join(work, 'x.json'), JSON.stringify(Array.from(xData)));
    writeFileSync(
      script,
      `import * as tf from '${import.meta.resolve('@tensorflow/tfjs-core')}';
import '${import.meta.resolve('@tensorflow/tfjs-backend-cpu')}';
import { readFileSync } from 'node:fs';
import { loadModel } from '${ioUrl}';
import { setNormalization } from '${bnUrl}';
await tf.setBackend('cpu');
const m = await loadModel(${JSON.stringify(dir)});
setNormalization(m, 'running');
const x = tf.tensor4d(JSON.parse(readFileSync(${JSON.stringify(join(work, 'x.json'))}, 'utf8')), [5, 6, 6, 2]);
console.log(JSON.stringify(Array.from(m.predict(x).dataSync())));
`,
    );
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: resolve('.'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const got = JSON.parse(out.trim().split('\n').at(-1)!) as number[];
    expect(got).toEqual(expected);
  }, 60_000);

  it('leaves the previous save intact when a save fails', async () => {
    const before = readFileSync(join(dir, 'weights.bin'));
    const broken = tinyNet();
    broken.save = async () => {
      throw new Error('disk full');
    };
    await expect(saveModel(broken, dir)).rejects.toThrow('disk full');
    expect(readFileSync(join(dir, 'weights.bin')).equals(before)).toBe(true);
    expect(readdirSync(join(dir, '..'))).toEqual(['model']);
  });

  it('names the missing file in a UserError', async () => {
    const err = await loadModel(join(dir, 'nope')).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/model\.json is missing/);
  });
});
