/**
 * One front door: src/index.ts takes every name from an area's index.ts, and a user's script
 * that imports the package by name (package.json `exports`) gets a working API.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

describe('public API', () => {
  it('src/index.ts reaches each area only through its front door, and every export path exists', () => {
    const index = readFileSync(join(ROOT, 'src/index.ts'), 'utf8');
    const from = [...index.matchAll(/from '(\.[^']+)'/g)].map((m) => m[1]);
    expect(from.length).toBeGreaterThan(5);
    expect(from.filter((p) => !/^\.\/[a-z]+\/index\.ts$/.test(p))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string> };
    for (const [sub, path] of Object.entries(pkg.exports)) expect(readFileSync(join(ROOT, path), 'utf8').length, sub).toBeGreaterThan(0);
  });

  it("a user's script imports ben-ssl by name and computes with it", () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/layout/user-script.ts')], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    // Each treatment's two replicates sit on different plates; a's and b's are each other's nearest.
    expect(out.aps).toHaveLength(6);
    expect(out.map).toBeGreaterThan(0.5);
    expect(out).toMatchObject({ wells: 3, treatments: ['a', 'b', 'c'], hasMetrics: true, backbones: true, modes: ['running', 'batch', 'plate', 'controls'] });
    expect(out.objectives).toEqual(expect.arrayContaining(['simclr', 'byol', 'vicreg', 'supervised']));
    expect(out.samplers).toEqual(expect.arrayContaining(['plate', 'random']));
  });
});
