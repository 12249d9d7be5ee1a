import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecipe, resolveVariant, validateRecipe } from '../../src/recipe/load.ts';
import { augmentSpecs, viewAugmentSpecs } from '../../src/recipe/wire.ts';

function writeTmp(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'recipe-'));
  const p = join(dir, 'r.yaml');
  writeFileSync(p, text);
  return p;
}

describe('recipes', () => {
  it('fills defaults and applies --set overrides parsed as YAML', () => {
    const p = writeTmp('name: t\ntraining:\n  epochs: 3\n');
    const r = loadRecipe(p, ['training.epochs=7', 'sampler.groupBy=[experiment]', 'objective.options.temperature=0.5']);
    expect(r.training.epochs).toBe(7);
    expect(r.sampler.groupBy).toEqual(['experiment']);
    expect(r.sampler.type).toBe('plate');
    expect(r.objective.options).toEqual({ temperature: 0.5 });
  });

  it('the SimCLR training levers are recipe options (defaults off; bad values name the field)', () => {
    const base = loadRecipe('recipes/simclr-ben.yaml');
    expect(base.objective.options).not.toHaveProperty('crossGroupNegatives');
    const r = loadRecipe('recipes/simclr-ben.yaml', [
      'sampler.groupsPerBatch=4',
      'sampler.perGroupStatistics=true',
      'sampler.batchSize=whole-group',
      'sampler.unit=well',
      'objective.options.temperature=0.05',
      'objective.options.crossGroupNegatives=detached',
      'objective.options.previousBatchNegatives=true',
      'objective.options.splitViewGroups=true',
    ]);
    expect(r.sampler).toMatchObject({ groupsPerBatch: 4, perGroupStatistics: true, batchSize: 'whole-group', unit: 'well' });
    expect(r.objective.options).toMatchObject({ temperature: 0.05, crossGroupNegatives: 'detached', previousBatchNegatives: true, splitViewGroups: true });
    const p = writeTmp('name: t\nobjective:\n  name: simclr\n  options:\n    crossGroupNegatives: excluded\n    splitViewGroups: true\n');
    expect(loadRecipe(p).objective.options).toEqual({ crossGroupNegatives: 'excluded', splitViewGroups: true });
    expect(() => loadRecipe('recipes/simclr-ben.yaml', ['objective.options.crossGroupNegatives=stop'])).toThrow(/objective\.options.*crossGroupNegatives/s);
    expect(() => loadRecipe('recipes/simclr-ben.yaml', ['objective.options.previousBatchNegatives=7'])).toThrow(/previousBatchNegatives/);
  });

  it('augment.perView: one chain per view, each the shared settings with its overrides', () => {
    const p = writeTmp('name: t\naugment:\n  views: 2\n  cropSize: 32\n  blurProb: 0.5\n');
    const r = loadRecipe(p, ['augment.perView=[{blurProb: 1}, {blurProb: 0.1, intensityJitter: 0}]']);
    const chains = viewAugmentSpecs(r.augment, 64)!;
    expect(chains).toHaveLength(2);
    expect(chains[0].find((s) => s.name === 'gaussian-blur')).toMatchObject({ p: 1 });
    expect(chains[1].find((s) => s.name === 'gaussian-blur')).toMatchObject({ p: 0.1 });
    expect(chains[0].some((s) => s.name === 'intensity-jitter')).toBe(true);
    expect(chains[1].some((s) => s.name === 'intensity-jitter')).toBe(false);
    // Everything not overridden is the shared chain.
    expect(chains[0].filter((s) => s.name !== 'gaussian-blur')).toEqual(augmentSpecs(r.augment, 64).filter((s) => s.name !== 'gaussian-blur'));
    expect(viewAugmentSpecs(loadRecipe(p).augment, 64)).toBeUndefined();
    // Crop size is shared (views are stacked): a per-view one names the field.
    expect(() => loadRecipe(p, ['augment.perView=[{cropSize: 16}, {}]'])).toThrow(/augment\.perView/);
  });

  it('names the bad field and the allowed values', () => {
    expect(() => validateRecipe({ name: 't', sampler: { type: 'plates' } }, 'x.yaml')).toThrow(/sampler\.type: unknown sampler "plates"; choose one of: plate, random/);
    expect(() => validateRecipe({ name: 't', training: { epochs: 'five' } }, 'x.yaml')).toThrow(/training\.epochs/);
    expect(() => validateRecipe({ name: 't', trainig: {} }, 'x.yaml')).toThrow(/trainig/);
  });

  it('reports a missing file and bad YAML clearly', () => {
    expect(() => loadRecipe('/nonexistent/r.yaml')).toThrow(/Recipe file not found: \/nonexistent\/r.yaml/);
    expect(() => loadRecipe(writeTmp('name: [unclosed'))).toThrow(/not valid YAML/);
    expect(() => loadRecipe(writeTmp('name: t'), ['novalue'])).toThrow(/field\.path=value/);
  });

  it('resolves variants as overrides on the base recipe', () => {
    const r = validateRecipe({
      name: 'q',
      variants: { baseline: { 'sampler.type': 'random', 'embedding.normalization': 'running' }, ben: {} },
    });
    const b = resolveVariant(r, 'baseline');
    expect(b.sampler.type).toBe('random');
    expect(b.embedding.normalization).toBe('running');
    expect(resolveVariant(r, 'ben').sampler.type).toBe('plate');
    expect(() => resolveVariant(r, 'nope')).toThrow(/no variant "nope"/);
  });
});

describe('model.variant', () => {
  it('names an earlier variant that trains; anything else is one clear error before any work', async () => {
    const { checkModelVariants } = await import('../../src/recipe/run.ts');
    const base = { name: 'mv', data: { preset: 'tiny' } };
    const ok = validateRecipe({ ...base, variants: { baseline: { 'sampler.type': 'random' }, stats: { 'model.variant': 'baseline', 'embedding.normalization': 'plate' } } });
    expect(() => checkModelVariants(ok)).not.toThrow();
    const later = validateRecipe({ ...base, variants: { stats: { 'model.variant': 'baseline' }, baseline: {} } });
    expect(() => checkModelVariants(later)).toThrow(/variants\.stats: model\.variant "baseline" is not an earlier variant .*before it: none/);
    const chained = validateRecipe({ ...base, variants: { a: {}, b: { 'model.variant': 'a' }, c: { 'model.variant': 'b' } } });
    expect(() => checkModelVariants(chained)).toThrow(/variants\.c: .*name the variant that trains it \("a"\)/);
  });
});
