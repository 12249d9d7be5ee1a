/**
 * `npm run bench -- ben [--preset bench|small|tiny] [--alt] [--seeds 3] [--steps N] [--batch 32]
 * [--backbone small-convnet] [--lr 0.003] [--eval-plates N] [--out runs/bench-ben]`: the BEN paper's central claim
 * (Lin & Lu 2022) on the synthetic generator. Trains a supervised classifier on the training
 * experiments with random batches, experiment batches (WILDS default) and plate batches (BEN), and
 * reports ID-test and OOD-test (unseen experiments) accuracy for the five configurations:
 * 1 BN random/running, 2 BN experiment/running, 3 BEN batch (whole-plate batches), 4 BEN plate,
 * 5 BEN controls. Mean and sample SD over seeds; one JSON line per run and a summary line on stdout,
 * `ben-<preset>[-alt].md` + `.json` in --out (with wall minutes and load averages: the machine is
 * shared). `--alt` uses a second generator configuration with different batch-effect parameters.
 * `--eval-plates N` evaluates N plates per split, evenly spaced so every experiment is represented
 * (0, the default: all plates).
 */
import { parseArgs } from 'node:util';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { engineLabel, initBackend } from '../src/engine/backend.ts';
import type { SynthConfig } from '../src/data/synth/config.ts';
import { ensureRecipeData } from '../src/recipe/data.ts';
import { readDataset } from '../src/data/readers/index.ts';
import { trainSupervised } from '../src/training/supervised.ts';
import type { Batching } from '../src/data/batch-source.ts';
import type { NormalizationMode } from '../src/models/ben-batchnorm.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { mean, sd } from './stats.ts';

/** The second generator configuration: other batch-effect strengths and another world seed. */
export const ALT_OVERRIDES: Partial<SynthConfig> = {
  seed: 1,
  experimentShift: 0.4,
  plateShift: 0.15,
  gainShift: 0.6,
  plateGainShift: 0.3,
  offsetMax: 0.2,
  gammaShift: 0.4,
  illumination: 0.3,
  blurMax: 0.8,
  noiseMax: 0.1,
};

/** One row of the comparison: which training batches, which inference statistics. */
export interface BenConfig {
  id: number;
  name: string;
  batching: Batching;
  mode: NormalizationMode;
}

/** The five configurations: BN and BEN, training and inference statistics. */
export const CONFIGS: BenConfig[] = [
  { id: 1, name: 'BN, random batches, running', batching: 'random', mode: 'running' },
  { id: 2, name: 'BN, experiment batches, running', batching: 'experiment', mode: 'running' },
  { id: 3, name: 'BEN, plate batches, batch (whole plate)', batching: 'plate', mode: 'batch' },
  { id: 4, name: 'BEN, plate batches, plate', batching: 'plate', mode: 'plate' },
  { id: 5, name: 'BEN, plate batches, controls', batching: 'plate', mode: 'controls' },
];

/** The synthetic data set of `preset` (alt: {@link ALT_OVERRIDES}), generated once and cached by the recipe data stage. */
export async function ensureSynth(preset: string, alt: boolean, dataDir: string): Promise<string> {
  const params = alt ? (ALT_OVERRIDES as Record<string, unknown>) : {};
  return ensureRecipeData({ source: 'synthetic', preset, params, trainSplits: ['train'], evalSplits: ['test'], skipBad: false }, { dataRoot: dataDir, log: (l) => process.stderr.write(l + '\n') });
}


export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: 'string', default: 'bench' },
      alt: { type: 'boolean', default: false },
      seeds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '600' },
      batch: { type: 'string', default: '32' },
      backbone: { type: 'string', default: 'small-convnet' },
      lr: { type: 'string', default: '0.003' },
      'weight-decay': { type: 'string', default: '0.0001' },
      data: { type: 'string', default: 'data/synthetic' },
      out: { type: 'string', default: 'runs/bench-ben' },
      backend: { type: 'string' },
      'eval-plates': { type: 'string', default: '0' },
    },
  });
  const info = await initBackend(values.backend);
  const dir = await ensureSynth(values.preset!, values.alt!, values.data!);
  const data = await readDataset(dir);
  await data.load();
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);
  const steps = Number(values.steps);
  const batchSize = Number(values.batch);
  const results: Record<number, { seed: number; idAcc: number; oodAcc: number; idLoss: number; oodLoss: number }[]> = {};
  // The machine is shared: record the load average with the timings.
  const loadStart = loadavg();
  const t0 = performance.now();
  for (const seed of seeds) {
    for (const batching of ['random', 'experiment', 'plate'] as const) {
      const cfgs = CONFIGS.filter((c) => c.batching === batching);
      const r = await trainSupervised({
        data,
        backbone: values.backbone!,
        batching,
        batchSize,
        steps,
        seed,
        optimizer: { name: 'adam', weightDecay: Number(values['weight-decay']) },
        schedule: { baseLr: Number(values.lr), warmupSteps: Math.round(steps / 20) },
        evalModes: cfgs.map((c) => c.mode),
        evalSplits: ['id_test', 'test'],
        maxEvalPlates: Number(values['eval-plates']),
        progress: true,
      });
      for (const c of cfgs) {
        const id = r.eval['id_test'][c.mode]!;
        const ood = r.eval['test'][c.mode]!;
        const row = { seed, idAcc: id.accuracy, oodAcc: ood.accuracy, idLoss: id.loss, oodLoss: ood.loss };
        (results[c.id] ??= []).push(row);
        console.log(JSON.stringify({ suite: 'ben', preset: values.preset, alt: values.alt, config: c.id, name: c.name, ...row, steps, trainSeconds: r.seconds, imagesPerSec: r.imagesPerSec, finalTrainLoss: r.finalLoss }));
      }
    }
  }
  const minutes = (performance.now() - t0) / 60000;
  const loadEnd = loadavg();
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const summary = CONFIGS.map((c) => {
    const rs = results[c.id] ?? [];
    const f = (k: 'idAcc' | 'oodAcc' | 'oodLoss') => ({ mean: mean(rs.map((r) => r[k])), sd: sd(rs.map((r) => r[k])) });
    return { config: c.id, name: c.name, seeds: rs.length, idAcc: f('idAcc'), oodAcc: f('oodAcc'), oodLoss: f('oodLoss') };
  });
  const pct = (x: { mean: number; sd: number }) => `${(100 * x.mean).toFixed(1)} ± ${(100 * x.sd).toFixed(1)}`;
  const md = [
    `BEN vs BN, supervised, synthetic preset \`${values.preset}\`${values.alt ? ' (alt batch effects)' : ''}, ${values.backbone}, ${steps} steps x ${batchSize}, ${seeds.length} seed(s), ${Number(values['eval-plates']) || 'all'} eval plates per split, engine ${engineLabel(info)}, ${minutes.toFixed(1)} min (load average ${la(loadStart)} at start, ${la(loadEnd)} at end); mean ± sample SD over seeds`,
    '',
    '| # | configuration | ID-test acc (%) | OOD-test acc (%) | OOD-test loss |',
    '|---|---|---|---|---|',
    ...summary.map((s) => `| ${s.config} | ${s.name} | ${pct(s.idAcc)} | ${pct(s.oodAcc)} | ${s.oodLoss.mean.toFixed(3)} ± ${s.oodLoss.sd.toFixed(3)} |`),
    '',
  ].join('\n');
  await mkdir(values.out!, { recursive: true });
  const tag = `${values.preset}${values.alt ? '-alt' : ''}`;
  await writeFileAtomic(join(values.out!, `ben-${tag}.md`), md);
  await writeFileAtomic(join(values.out!, `ben-${tag}.json`), JSON.stringify({ preset: values.preset, alt: values.alt, steps, batchSize, seeds, backend: info.backend, engine: engineLabel(info), minutes, loadavgStart: loadStart, loadavgEnd: loadEnd, evalPlates: Number(values['eval-plates']), summary, runs: results }, null, 2));
  process.stderr.write(md + '\n');
  console.log(JSON.stringify({ suite: 'ben', summary: true, preset: values.preset, alt: values.alt, minutes, configs: summary }));
}
