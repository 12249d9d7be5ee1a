import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = (...args: string[]) => spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });

describe('ben data', () => {
  it('synth writes the preset with overrides and synth.json; info --skip-bad counts bad sites; errors have no stack trace', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ben-cli-data-')), 'd');
    const r = cli('data', 'synth', '--preset', 'tiny', '--out', dir, '--seed', '5', '--treatments', '2', '--height', '24', '--width', '24', '--quiet');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ images: 112, plates: 8 });
    const rec = JSON.parse(readFileSync(join(dir, 'synth.json'), 'utf8'));
    expect(rec).toMatchObject({ preset: 'tiny', config: { seed: 5, treatments: 2, height: 24, width: 24 } });
    const line = readFileSync(join(dir, 'metadata.csv'), 'utf8').split('\n')[1].split(',');
    rmSync(join(dir, 'images', line[4], `Plate${line[5]}`, `${line[6]}_s${line[7]}.png`));
    const bad = cli('data', 'info', dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^error: Image .* does not exist\. .*--skip-bad/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const info = cli('data', 'info', dir, '--skip-bad', '--json');
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ images: 111, skipped: 1, plates: 8, height: 24 });
    const inval = cli('data', 'synth', '--preset', 'tiny', '--out', dir, '--treatments', '0');
    expect(inval.status).toBe(2);
    expect(inval.stderr).toMatch(/treatments/);
  });
});
