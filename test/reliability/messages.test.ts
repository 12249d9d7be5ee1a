/**
 * Fault corpus, messages and exit codes: everything a user can cause gives one line naming the
 * file, field or value and what to do, with the documented exit code (2 user, 3 data, 4
 * numerical, 5 system), never a stack trace; results are never silently wrong.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ben, ENV, expectFailure, profileCsv, REPO, scratch, tinyRecipeFlags } from './helpers.ts';

const root = scratch('messages');
const data = join(root, 'tiny');
const table = join(root, 'two-plates.csv');

beforeAll(() => {
  expect(ben(['data', 'synth', '--preset', 'tiny', '--out', data, '--quiet']).status).toBe(0);
  writeFileSync(table, profileCsv(2));
}, 120_000);

/** A copy of the tiny data set whose first training image is damaged by `damage`. */
function damagedCopy(name: string, damage: (png: string) => void): { dir: string; file: string } {
  const dir = join(root, name);
  spawnSync('cp', ['-r', data, dir]);
  const meta = readFileSync(join(dir, 'metadata.csv'), 'utf8').split('\n')[1].split(',');
  const file = join(dir, 'images', meta[4], `Plate${meta[5]}`, `${meta[6]}_s${meta[7]}.png`);
  damage(file);
  return { dir, file };
}

describe('ben evaluate', () => {
  it('unknown metric: exit 2 naming it and the known ones, before reading the table', () => {
    expectFailure(ben(['evaluate', join(root, 'missing.csv'), '--metrics', 'mapp']), 2, /Unknown metric "mapp"\. Known: .*map/);
  });

  it('unknown similarity: exit 2', () => {
    expectFailure(ben(['evaluate', table, '--similarity', 'cosin']), 2, /--similarity: unknown similarity "cosin"; choose one of: .*cosine/);
  });

  it('a folder as the table: exit 2 naming it', () => {
    expectFailure(ben(['evaluate', root]), 2, /Profile table ".*messages.*" is a folder; pass a CSV, CSV\.gz or Parquet file inside it/);
  });

  it('a missing table: exit 2 naming it', () => {
    expectFailure(ben(['evaluate', join(root, 'nope.csv')]), 2, /Profile table ".*nope\.csv" does not exist/);
  });

  it('Latin-1 metadata is an error naming file and line (two labels would merge), and reads with --encoding latin1', () => {
    const p = join(root, 'latin1.csv');
    const text = profileCsv(2).replace(/T1,/g, 'Caf\u00e9,').replace(/T2,/g, 'Caf\u00e8,');
    writeFileSync(p, Buffer.from(text, 'latin1'));
    const line = text.split('\n').findIndex((l) => l.includes('Caf')) + 1;
    expectFailure(ben(['evaluate', p, '--plate', 'Metadata_Plate', '--replicate-by', 'Metadata_Label', '--metrics', 'map']), 3, new RegExp(`latin1\\.csv line ${line} is not valid UTF-8 .*--encoding latin1`));
    const ok = ben(['evaluate', p, '--plate', 'Metadata_Plate', '--replicate-by', 'Metadata_Label', '--metrics', 'map', '--encoding', 'latin1', '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).metrics.map.groups).toBe(4);
  });

  it('cross-plate metrics on one plate say why instead of NaN, and exit 3 when nothing can be computed', () => {
    const p = join(root, 'one-plate.csv');
    writeFileSync(p, profileCsv(1));
    const some = ben(['evaluate', p, '--plate', 'Metadata_Plate', '--replicate-by', 'Metadata_Label', '--metrics', 'map,precision-recall', '--json']);
    expect(some.status, some.stderr).toBe(0);
    expect(some.stderr).toMatch(/map: not computed: needs profiles from 2 or more plates, and the table has 1 \(Metadata_Plate = P1\)/);
    const j = JSON.parse(some.stdout);
    expect(j.metrics.map.not_computed).toMatch(/2 or more plates/);
    expect(j.metrics.map.map).toBeUndefined();
    expect(j.metrics['precision-recall'].precision_at_1).toBeGreaterThan(0.9);
    expectFailure(ben(['evaluate', p, '--plate', 'Metadata_Plate', '--replicate-by', 'Metadata_Label', '--metrics', 'map']), 3, /No metric could be computed on .*one-plate\.csv:\n\s+map: needs profiles from 2 or more plates/);
  });

  it('dropped feature columns are named', () => {
    const p = join(root, 'nan-cols.csv');
    const lines = profileCsv(2).split('\n');
    lines[0] += ',Cells_AreaShape_Area,Nuclei_Texture_X';
    for (let i = 1; i < lines.length - 1; i++) lines[i] += i === 3 ? ',,1' : ',1.5,NaN';
    writeFileSync(p, lines.join('\n'));
    const r = ben(['evaluate', p, '--plate', 'Metadata_Plate', '--replicate-by', 'Metadata_Label', '--metrics', 'map']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/dropped 2 feature column\(s\) with missing values: Cells_AreaShape_Area, Nuclei_Texture_X/);
  });
});

describe('images and data sets', () => {
  it('a corrupt image in pretrain is an error (exit 3) naming the file and the recipe switch', () => {
    const { dir, file } = damagedCopy('corrupt', (f) => writeFileSync(f, 'not a png'));
    const r = ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(dir, 2), '--run-dir', join(root, 'corrupt-run')]);
    expectFailure(r, 3, new RegExp(`Image ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} .*is corrupt or truncated.*data\\.skipBad: true`));
  });

  it('data.skipBad: true skips a corrupt image in pretrain and says how many', () => {
    const { dir } = damagedCopy('corrupt-skip', (f) => writeFileSync(f, 'not a png'));
    const r = ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(dir, 2, ['data.skipBad=true']), '--run-dir', join(root, 'corrupt-skip-run')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/data: 1 unreadable images skipped \(data\.skipBad\)/);
  });

  it('ben data info decodes every image, so a truncated one is found (exit 3), and --skip-bad counts it', () => {
    const { dir, file } = damagedCopy('truncated', (f) => truncateSync(f, Math.floor(readFileSync(f).length / 2)));
    expectFailure(ben(['data', 'info', dir]), 3, new RegExp(`${file.split('/').pop()!.replace('.', '\\.')}.*corrupt or truncated`));
    const r = ben(['data', 'info', dir, '--skip-bad']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/skipped 1 bad site/);
    expect(r.stdout).toMatch(/every image decoded and checked/);
  });

  it('EPIPE: `ben data info | head -1` ends quietly with exit 0', () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; node ${join(REPO, 'bin', 'ben.js')} data info ${data} --no-check --json | head -1`], { encoding: 'utf8', env: ENV });
    expect(r.stdout.trim()).toBe('{');
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(r.status).toBe(0);
  });

  it('Latin-1 bytes in a data set\'s metadata are an error naming the file and line', () => {
    const dir = join(root, 'latin1-data');
    spawnSync('cp', ['-r', data, dir]);
    const lines = readFileSync(join(dir, 'metadata.csv'), 'latin1').split('\n');
    lines[3] = lines[3].replace('siRNA', 'siRN\u00c4');
    writeFileSync(join(dir, 'metadata.csv'), Buffer.from(lines.join('\n'), 'latin1'));
    expectFailure(ben(['data', 'info', dir, '--no-check']), 3, /metadata\.csv line 4 is not valid UTF-8/);
  });

  it('a missing data folder names the path', () => {
    expectFailure(ben(['data', 'info', join(root, 'no-such-folder')]), 2, /no-such-folder/);
  });
});

describe('models and backends', () => {
  it('a corrupt model.json: exit 3 naming the file', () => {
    const m = join(root, 'bad-model');
    mkdirSync(m);
    writeFileSync(join(m, 'model.json'), '{"modelTopology": ');
    writeFileSync(join(m, 'weights.bin'), '');
    expectFailure(ben(['embed', '--model', m, '--data', data, '--out', join(root, 'x.parquet')]), 3, /bad-model\/model\.json is not valid JSON/);
    expect(readdirSync(root).some((f) => f.startsWith('x.') || f.includes('.x.parquet'))).toBe(false);
  });

  it('--backend tensorflow when it is not installed says how to install it', () => {
    expectFailure(ben(['info', '--backend', 'tensorflow']), 2, /@tensorflow\/tfjs-node is not installed; install it with `npm install --no-save @tensorflow\/tfjs-node@4\.22\.0`/);
  });

  it('an unknown backend name: exit 2 listing the choices', () => {
    expectFailure(ben(['info', '--backend', 'cuda']), 2, /Unknown backend "cuda".*wasm/);
  });

  it('ben train with an unknown backbone fails before reading data', () => {
    expectFailure(ben(['train', '--data', join(root, 'nowhere'), '--backbone', 'resnet19', '--steps', '1']), 2, /Unknown backbone "resnet19"/);
  });
});

describe('recipes', () => {
  it('a missing real data path is named before a run directory exists', () => {
    const dir = join(root, 'rx-run');
    expectFailure(ben(['run', 'recipes/rxrx1-wilds.yaml', '--set', `data.path=${join(root, 'nowhere')}`, '--run-dir', dir]), 2, /data\.path: .*nowhere does not exist/);
    expect(() => readdirSync(dir)).toThrow();
  });

  it('a recipe that is not YAML names the file', () => {
    const p = join(root, 'broken.yaml');
    writeFileSync(p, 'name: x\n  data: [\n');
    expectFailure(ben(['pretrain', '--recipe', p]), 2, /broken\.yaml is not valid YAML/);
  });

  it('a copy of a shipped recipe with an unknown field names it', () => {
    const p = join(root, 'typo.yaml');
    copyFileSync(join(REPO, 'recipes', 'simclr-ben.yaml'), p);
    writeFileSync(p, readFileSync(p, 'utf8') + '\ntrainign: { steps: 3 }\n');
    expectFailure(ben(['pretrain', '--recipe', p]), 2, /trainign/);
  });
});
