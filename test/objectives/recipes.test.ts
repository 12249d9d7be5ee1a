import { describe, expect, it } from 'vitest';
import { loadRecipe } from '../../src/recipe/load.ts';
import { createByol } from '../../src/objectives/byol.ts';
import { createSimclr } from '../../src/objectives/simclr.ts';

const create = { simclr: createSimclr, byol: createByol } as const;

describe('self-supervised recipes', () => {
  it.each(['simclr', 'byol'] as const)('%s: BEN and random recipes validate and differ only in batches and inference BN', (name) => {
    const ben = loadRecipe(`recipes/${name}-ben.yaml`);
    const random = loadRecipe(`recipes/${name}-random.yaml`);
    expect(ben.objective.name).toBe(name);
    expect([ben.sampler.type, ben.embedding.normalization]).toEqual(['plate', 'plate']);
    expect([random.sampler.type, random.embedding.normalization]).toEqual(['random', 'running']);
    const strip = (r: typeof ben) => ({ ...r, name: '', description: '', sampler: { ...r.sampler, type: '' }, embedding: { ...r.embedding, normalization: '' } });
    expect(strip(random)).toEqual(strip(ben));
    // The objective options are valid for the objective, and the augmentation makes its views.
    const obj = create[name](ben.objective.options);
    expect(ben.augment.views).toBe(obj.views);
  });
});
