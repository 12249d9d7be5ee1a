/**
 * The import flow of src/: a module may import from its own folder and from folders below it,
 * never from a later stage. The order is the data flow (util and engine under everything, recipe
 * and cli over everything); CONTRIBUTING.md explains it.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SRC = join(import.meta.dirname, '../../src');
const ORDER = ['util', 'tables', 'engine', 'data', 'profiles', 'models', 'objectives', 'training', 'embedding', 'evaluation', 'report', 'datasets', 'recipe', 'cli'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('import flow', () => {
  it('every folder of src/ has a place in the order', () => {
    const folders = readdirSync(SRC).filter((f) => statSync(join(SRC, f)).isDirectory());
    expect(folders.filter((f) => !ORDER.includes(f))).toEqual([]);
  });

  it('no module imports from a later stage (type imports included)', () => {
    const against: string[] = [];
    for (const file of files(SRC)) {
      const rel = relative(SRC, file);
      const from = rel.split('/')[0];
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = normalize(join(dirname(rel), m[1])).split('/')[0];
        if (ORDER.indexOf(target) > ORDER.indexOf(from) && ORDER.includes(from)) against.push(`${rel} -> ${m[1]}`);
      }
    }
    expect(against).toEqual([]);
  });
});
