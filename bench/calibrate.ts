/**
 * `npm run bench -- calibrate [--dir ../shared/data/peers/cytominergallery] [--preset bench]`:
 * how large real batch effects are next to treatment effects, and whether the synthetic
 * generator's biological shifts match. On the raw BBBC021 per-well CellProfiler means (55 plates,
 * 10 weeks = experiments, 6 DMSO wells per plate) it computes, per log-scale feature, the SDs of
 * the week shift, the plate shift, the well noise and the treatment effect
 * (src/evaluation/variance-components.ts), then the median ratio to the treatment effect over
 * morphology features (shape, texture, neighbours, counts) and over intensity features.
 * The generator's `experimentShift / treatmentEffect` and `plateShift / treatmentEffect` act on
 * morphology (its technical effects are separate), so they compare with the morphology ratios.
 * Prints one JSON line per feature group and one with the generator's ratios.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBbbc021Gallery } from '../src/datasets/bbbc021.ts';
import { cellProfilerFeatureKind, medianRatios, varianceComponents } from '../src/evaluation/variance-components.ts';
import { resolveSynthConfig } from '../src/data/synth/config.ts';

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: join('..', 'shared', 'data', 'peers', 'cytominergallery') },
      preset: { type: 'string', default: 'bench' },
    },
  });
  const { table } = await loadBbbc021Gallery(values.dir!);
  const comp = table.meta.Metadata_Compound;
  const rows = varianceComponents(table, {
    batchCol: 'Metadata_Batch',
    plateCol: 'Metadata_Plate',
    treatmentCol: 'Metadata_Treatment',
    isControl: (i) => comp[i] === 'DMSO',
    log: true,
  });
  const round = (v: number) => Math.round(v * 1000) / 1000;
  const groups: [string, (f: string) => boolean][] = [
    ['morphology', (f) => cellProfilerFeatureKind(f) === 'morphology'],
    ['intensity', (f) => cellProfilerFeatureKind(f) === 'intensity'],
    ['all', () => true],
  ];
  const out: Record<string, ReturnType<typeof medianRatios>> = {};
  for (const [name, keep] of groups) {
    const r = medianRatios(rows.filter((x) => keep(x.feature)));
    out[name] = r;
    console.log(JSON.stringify({ suite: 'calibrate', data: 'BBBC021 (log per-well means)', group: name, features: r.features, batchToTreatment: round(r.batch), plateToTreatment: round(r.plate), wellToTreatment: round(r.well) }));
  }
  const cfg = resolveSynthConfig(values.preset!);
  const m = out.morphology;
  console.log(JSON.stringify({
    suite: 'calibrate',
    generator: values.preset,
    experimentShift: cfg.experimentShift,
    plateShift: cfg.plateShift,
    treatmentEffect: cfg.treatmentEffect,
    batchToTreatment: round(cfg.experimentShift / cfg.treatmentEffect),
    plateToTreatment: round(cfg.plateShift / cfg.treatmentEffect),
    bbbc021MorphologyGives: { experimentShift: round(m.batch * cfg.treatmentEffect), plateShift: round(m.plate * cfg.treatmentEffect) },
  }));
}
