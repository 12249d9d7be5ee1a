/**
 * Fault corpus, the environment: a full disk (a small tmpfs, mounted where the test runs as root)
 * and a read-only file system give one message naming the path and exit 5, and leave no partial
 * output. Skipped with a message where mounting is not allowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ben, expectFailure, scratch, tinyRecipeFlags } from './helpers.ts';

const root = scratch('disk');
const data = join(root, 'tiny');
const full = join(root, 'full');
const ro = join(root, 'ro');

function mount(dir: string, opts: string): boolean {
  mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]).status === 0;
}
const canMount = process.getuid?.() === 0 && mount(full, 'size=96k') && mount(ro, 'ro,size=16k');
if (!canMount) console.warn('disk.test.ts: skipped, mounting a tmpfs needs root (the disk-full and read-only cases run in CI as root)');

beforeAll(() => {
  if (canMount) expect(ben(['data', 'synth', '--preset', 'tiny', '--out', data, '--quiet']).status).toBe(0);
}, 120_000);
afterAll(() => {
  if (!canMount) return;
  spawnSync('umount', [full]);
  spawnSync('umount', [ro]);
});

describe.skipIf(!canMount)('disk full and read-only', () => {
  let model = '';
  beforeAll(() => {
    const r = ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(data, 1), '--run-dir', join(root, 'pre'), '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    model = join(root, 'pre', 'model');
  }, 120_000);

  it('embed on a full disk: exit 5, ENOSPC named, neither Parquet file nor a temporary left', () => {
    // 144 images x 512 floats do not fit in 96 kB.
    const r = ben(['embed', '--model', model, '--data', data, '--out', join(full, 'e.parquet'), '--quiet']);
    expectFailure(r, 5, /full\/e\.parquet: no space left on the device; free space or write to another disk \(ENOSPC\)/);
    expect(readdirSync(full)).toEqual([]);
  });

  it('pretrain on a full disk: exit 5, ENOSPC named', () => {
    const r = ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(data, 2), '--set', 'backbone.name=resnet-small', '--run-dir', join(full, 'run'), '--quiet']);
    expectFailure(r, 5, /full\/run\/\S+: no space left on the device.*\(ENOSPC\)/);
    expect(readdirSync(full).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('pretrain into a read-only folder: exit 5, EROFS named (not ENOENT)', () => {
    const r = ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(data, 1), '--run-dir', join(ro, 'run'), '--quiet']);
    expectFailure(r, 5, /ro\/run.*read-only.*\(EROFS\)/);
  });

  it('evaluate --out into a read-only folder: exit 5', () => {
    const r = ben(['evaluate', join(root, 'pre', 'metrics.jsonl'), '--out', join(ro, 'ev')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(ro, 'ev'))).toBe(false);
  });
});
