import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { BYOL } from '../../src/objectives/byol.ts';
import { objectives } from '../../src/objectives/index.ts';
import { SimCLR } from '../../src/objectives/simclr.ts';

describe('objective registry', () => {
  it('creates simclr and byol by name from recipe options', () => {
    expect(objectives.names()).toEqual(expect.arrayContaining(['byol', 'simclr']));
    const s = objectives.get('simclr')({ temperature: 0.5, views: 3 });
    expect(s).toBeInstanceOf(SimCLR);
    expect(s.views).toBe(3);
    expect(objectives.get('byol')({})).toBeInstanceOf(BYOL);
  });

  it('refuses a second registration under the same name', () => {
    expect(() => objectives.register('simclr', objectives.get('simclr'))).toThrow(/already registered/);
  });
});
