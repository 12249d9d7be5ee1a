/**
 * Benchmark suite `scale`: `ben evaluate` on a screen-sized partitioned dataset. Generates
 * synthetic well embeddings as a Hive-partitioned dataset (default 2,600 plates x 384 wells =
 * 998,400 rows x 384 float32 features: 16 DMSO wells per plate, the other wells compounds with 4
 * replicates on 4 different plates, half of them active, a plate effect on every well), then runs
 * `ben evaluate DIR` in a child process under `/usr/bin/time -v` for
 *   - activity mAP: each compound's replicates against the DMSO wells of the query's plate
 *     (`--map-preset activity --neg-sameby Plate`, copairs' JUMP configuration), and
 *   - replicate mAP: replicates on other plates against the other compounds of the query's plate
 *     (`--map-preset replicate --neg-sameby Plate`),
 * and prints one JSON line per run with wall time and peak RSS. Then it probes the presets as
 * defined (negatives from the whole screen) in-process for `--probe-seconds` each, and prints the
 * measured query rate and the time the full run would take.
 *
 *   npm run bench -- scale [--plates 2600] [--wells 384] [--controls 16] [--replicates 4] [--dim 384]
 *                          [--dir /tmp/ben-scale] [--null-size 10000] [--probe-seconds 60] [--skip-probe]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/util/rng.ts';
import { embeddingColumnNames, writeProfilesParquet } from '../src/tables/parquet.ts';
import { openDataset, partPath } from '../src/embedding/dataset-output.ts';
import type { ProfileTable } from '../src/tables/profile-table.ts';
import { readProfileDataset } from '../src/tables/partitioned-dataset.ts';
import { computeAveragePrecisionGrouped } from '../src/evaluation/map-grouped.ts';
import { applyRowFilters, withReferenceIndex } from '../src/evaluation/map-presets.ts';

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}
function sarg(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
}

interface Layout {
  plates: number;
  wells: number;
  controls: number;
  replicates: number;
  dim: number;
}

/** Writes the synthetic screen (skipped when `dir` already holds this layout). */
async function generate(dir: string, o: Layout): Promise<{ rows: number; seconds: number; reused: boolean }> {
  const stamp = join(dir, '_bench_layout.json');
  const want = JSON.stringify(o);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return { rows: o.plates * o.wells, seconds: 0, reused: true };
  const t0 = performance.now();
  await openDataset(dir, 'wells');
  const names = embeddingColumnNames(o.dim);
  const slots = o.wells - o.controls;
  const rng = new Rng(1);
  const effect = new Float32Array(slots * o.dim);
  for (let p = 0; p < o.plates; p++) {
    const block = Math.floor(p / o.replicates);
    if (p % o.replicates === 0) {
      // The compounds of this block of plates: one effect vector each, half of them inactive.
      const er = new Rng(1000 + block);
      for (let s = 0; s < slots; s++) {
        const active = (block * slots + s) % 2 === 0;
        for (let k = 0; k < o.dim; k++) effect[s * o.dim + k] = active ? 0.6 * er.normal() : 0;
      }
    }
    const plateFx = Float32Array.from({ length: o.dim }, () => 0.3 * rng.normal());
    const key = `Batch${p % 10}/P${String(p).padStart(5, '0')}`;
    const meta: Record<string, string[]> = { Metadata_Batch: [], Metadata_Plate: [], Metadata_PlateKey: [], Metadata_Well: [], Metadata_Compound: [] };
    const x = new Float32Array(o.wells * o.dim);
    for (let w = 0; w < o.wells; w++) {
      const ctl = w < o.controls;
      const s = w - o.controls;
      meta.Metadata_Batch.push(`Batch${p % 10}`);
      meta.Metadata_Plate.push(`P${String(p).padStart(5, '0')}`);
      meta.Metadata_PlateKey.push(key);
      meta.Metadata_Well.push(`${String.fromCharCode(65 + Math.floor(w / 24))}${String((w % 24) + 1).padStart(2, '0')}`);
      meta.Metadata_Compound.push(ctl ? 'DMSO' : `JCP${String(Math.floor(p / o.replicates) * slots + s).padStart(7, '0')}`);
      for (let k = 0; k < o.dim; k++) x[w * o.dim + k] = (ctl ? 0 : effect[s * o.dim + k]) + plateFx[k] + rng.normal();
    }
    const t: ProfileTable = { n: o.wells, d: o.dim, meta, featureNames: names, features: x, keyValue: { bench: 'scale' } };
    await writeProfilesParquet(partPath(dir, key, 0), t);
    if (p % 200 === 0) process.stderr.write(`generated ${p + 1}/${o.plates} plates\n`);
  }
  writeFileSync(stamp, want);
  return { rows: o.plates * o.wells, seconds: (performance.now() - t0) / 1000, reused: false };
}

/** `ben evaluate` in a child under /usr/bin/time -v: wall time, peak RSS, the mAP summary. */
function evaluateChild(dir: string, extra: string[]): Record<string, unknown> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'evaluate', dir, '--plate', 'PlateKey', '--replicate-by', 'Compound', '--control', 'Compound=DMSO', '--metrics', 'map', '--json', ...extra];
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, BEN_QUIET: '1' } });
  const wall = (performance.now() - t0) / 1000;
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? NaN);
  const userS = Number(/User time \(seconds\): ([\d.]+)/.exec(r.stderr)?.[1] ?? NaN);
  const sysS = Number(/System time \(seconds\): ([\d.]+)/.exec(r.stderr)?.[1] ?? NaN);
  if (r.status !== 0) {
    process.stderr.write(r.stderr.slice(-4000));
    return { status: r.status, wall_s: wall, peak_rss_gb: rssKb / 2 ** 20 };
  }
  const out = JSON.parse(r.stdout) as { metrics: { map: Record<string, unknown> }; input: { n: number; d: number } };
  const m = out.metrics.map;
  const stderrLines = r.stderr.split('\n').filter((l) => /^map: /.test(l));
  return {
    status: 0,
    rows: out.input.n,
    dim: out.input.d,
    map: m.map,
    mean_ap: m.mean_ap,
    fraction_retrieved: m.fraction_retrieved,
    groups: m.groups,
    profiles: m.profiles,
    metric_seconds: m.seconds,
    wall_s: +wall.toFixed(1),
    cpu_s: +(userS + sysS).toFixed(1),
    peak_rss_gb: +(rssKb / 2 ** 20).toFixed(2),
    under_8gb: rssKb < 8 * 2 ** 20,
    log: stderrLines.join('; '),
  };
}

/** Runs the grouped AP for `seconds`, returns the measured query rate and the extrapolated total. */
function probe(t: ProfileTable, lists: { pos: [string[], string[]]; neg: [string[], string[]] }, seconds: number) {
  const t0 = performance.now();
  let done = 0;
  let total = 0;
  const stop = new Error('probe time is up');
  try {
    computeAveragePrecisionGrouped(t, {
      pos: { sameby: lists.pos[0], diffby: lists.pos[1] },
      neg: { sameby: lists.neg[0], diffby: lists.neg[1] },
      nullSize: 100,
      onProgress: (d, n) => {
        done = d;
        total = n;
        if ((performance.now() - t0) / 1000 > seconds) throw stop;
      },
    });
  } catch (e) {
    if (e !== stop) throw e;
  }
  const s = (performance.now() - t0) / 1000;
  return { queries_done: done, queries_total: total, seconds: +s.toFixed(1), queries_per_s: +(done / s).toFixed(2), extrapolated_hours: +((total / Math.max(done / s, 1e-9)) / 3600).toFixed(1) };
}

export async function run(args: string[]): Promise<void> {
  const o: Layout = { plates: arg(args, 'plates', 2600), wells: arg(args, 'wells', 384), controls: arg(args, 'controls', 16), replicates: arg(args, 'replicates', 4), dim: arg(args, 'dim', 384) };
  const dir = sarg(args, 'dir', '/tmp/ben-scale');
  const nullSize = String(arg(args, 'null-size', 10000));
  const env = { cpus: availableParallelism(), load1: +loadavg()[0].toFixed(1) };
  const g = await generate(dir, o);
  console.log(JSON.stringify({ case: 'generate', ...o, rows: g.rows, seconds: +g.seconds.toFixed(1), reused: g.reused, dir, ...env }));
  const neg = ['--neg-sameby', 'Plate'];
  console.log(JSON.stringify({ case: 'evaluate activity (controls of the query plate)', ...evaluateChild(dir, ['--map-preset', 'activity', ...neg, '--null-size', nullSize]), load1: +loadavg()[0].toFixed(1) }));
  console.log(JSON.stringify({ case: 'evaluate replicate (other compounds of the query plate)', ...evaluateChild(dir, ['--map-preset', 'replicate', ...neg, '--null-size', nullSize]), load1: +loadavg()[0].toFixed(1) }));
  if (args.includes('--skip-probe')) return;
  const seconds = arg(args, 'probe-seconds', 60);
  const { table } = await readProfileDataset(dir, { dropConstant: true, dropNaN: true });
  const ctl = { column: 'Metadata_Compound', value: 'DMSO' };
  const act = withReferenceIndex(table, ctl);
  const rep = applyRowFilters(table, [], [ctl]);
  const keys = ['Metadata_Compound', 'Metadata_reference_index'];
  console.log(JSON.stringify({ case: 'probe: activity preset as defined (every DMSO well of the screen a negative)', ...probe(act, { pos: [keys, []], neg: [[], keys] }, seconds), load1: +loadavg()[0].toFixed(1) }));
  console.log(JSON.stringify({ case: 'probe: replicate preset as defined (every other compound of the screen a negative)', ...probe(rep, { pos: [['Metadata_Compound'], ['Metadata_Plate']], neg: [[], ['Metadata_Compound']] }, seconds), load1: +loadavg()[0].toFixed(1) }));
}
