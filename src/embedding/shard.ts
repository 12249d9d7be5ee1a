/**
 * Plate selection and sharding for `ben embed`: a job array (Slurm, Kubernetes Indexed Job, AWS
 * Batch) runs n copies of one command, each embedding a deterministic, balanced subset of whole
 * plates (BEN statistics are per plate, so a plate is never split). Every node computes the same
 * assignment from the same data set, so no coordination is needed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { UserError } from '../util/errors.ts';

/** One shard of a job array: `index` in [0, count). */
export interface ShardSpec {
  index: number;
  count: number;
}

/**
 * Environment variables that carry a job array's task index, in the order they are read:
 * Slurm (`SLURM_ARRAY_TASK_ID`, of an array declared from 0: `--array=0-7`),
 * Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX`), AWS Batch array jobs (`AWS_BATCH_JOB_ARRAY_INDEX`).
 */
export const SHARD_INDEX_VARS = ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;

const int = (s: string | undefined) => (s !== undefined && /^\s*\d+\s*$/.test(s) ? Number(s) : undefined);

/**
 * Parses `--shard`: `i/n` (0-based index), `auto/n` (index from the job array's environment) or
 * `auto` (index and count from Slurm's `SLURM_ARRAY_TASK_ID` / `SLURM_ARRAY_TASK_COUNT`).
 * Throws a {@link UserError} naming the flag for anything else or out of range.
 */
export function parseShard(spec: string, env: NodeJS.ProcessEnv = process.env): ShardSpec {
  const m = /^\s*(auto|\d+)\s*(?:\/\s*(\d+)\s*)?$/.exec(spec);
  if (!m) throw new UserError(`--shard "${spec}": write i/n (0-based, e.g. --shard 2/8), auto/n or auto (the index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX).`);
  let count = m[2] !== undefined ? Number(m[2]) : undefined;
  let index: number | undefined;
  let from = '';
  if (m[1] === 'auto') {
    for (const v of SHARD_INDEX_VARS) {
      const raw = int(env[v]);
      if (raw === undefined) continue;
      // The task id is the shard (arrays are declared 0-based, --array=0-7): re-running task 3
      // alone (--array=3) must stay shard 3, so the array's own min and count are not used for it.
      index = raw;
      if (v === 'SLURM_ARRAY_TASK_ID') count ??= int(env.SLURM_ARRAY_TASK_COUNT);
      from = ` (from ${v}=${env[v]})`;
      break;
    }
    if (index === undefined) {
      throw new UserError(`--shard auto: none of ${SHARD_INDEX_VARS.join(', ')} is set; run inside a job array, or give the shard as --shard i/n.`);
    }
    if (count === undefined) throw new UserError(`--shard auto${from}: the number of shards is unknown; write --shard auto/n (n = the array size, e.g. the Indexed Job's completions).`);
  } else {
    index = Number(m[1]);
    if (count === undefined) throw new UserError(`--shard "${spec}": give the number of shards too, as i/n (e.g. --shard ${index}/8).`);
  }
  if (!Number.isInteger(count) || count < 1) throw new UserError(`--shard "${spec}": the number of shards must be at least 1, got ${count}.`);
  if (index < 0 || index >= count) throw new UserError(`--shard "${spec}"${from}: shard index ${index} is out of range; shards are numbered 0 to ${count - 1}.`);
  return { index, count };
}

/** A plate and its work (images), for {@link assignShards}. */
export interface PlateLoad {
  key: string;
  images: number;
}

/**
 * Shard of every plate: greedy longest-processing-time over the plates sorted by image count
 * (descending), then by key, each going to the least-loaded shard (lowest index on a tie). Depends
 * only on the keys and counts, so every node of a job array computes the same assignment.
 * Returns the shard index per plate key.
 */
export function assignShards(plates: readonly PlateLoad[], count: number): Map<string, number> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`shard count must be a positive integer, got ${count}`);
  const order = [...plates].sort((a, b) => b.images - a.images || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const load = new Float64Array(count);
  const out = new Map<string, number>();
  for (const p of order) {
    if (out.has(p.key)) throw new Error(`plate ${p.key} listed twice`);
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s] < load[best]) best = s;
    load[best] += p.images;
    out.set(p.key, best);
  }
  return out;
}

/**
 * Parses `--plates`: plate keys (`experiment/plate`, as `Metadata_PlateKey`), comma-separated or
 * repeated, or the path of a text file with one key per line (`#` comments and blank lines
 * ignored). An entry naming an existing file is read as such.
 */
export function parsePlateList(values: readonly string[]): string[] {
  const keys: string[] = [];
  for (const v of values) {
    if (existsSync(v) && statSync(v).isFile()) {
      for (const line of readFileSync(v, 'utf8').split(/\r?\n/)) {
        const k = line.replace(/#.*$/, '').trim();
        if (k) keys.push(k);
      }
    } else keys.push(...v.split(',').map((s) => s.trim()).filter(Boolean));
  }
  if (keys.length === 0) throw new UserError(`--plates ${values.join(' ')}: names no plate; give plate keys (experiment/plate, e.g. EXP-1/P1) or a file with one per line.`);
  return [...new Set(keys)];
}

/**
 * The plates to embed: `plates` (or every plate) checked against the data set's keys, then the
 * shard's part of them. Returns the selected keys, sorted.
 */
export function selectPlates(loads: readonly PlateLoad[], opts: { plates?: readonly string[]; shard?: ShardSpec }): string[] {
  const known = new Set(loads.map((p) => p.key));
  let chosen = loads;
  if (opts.plates) {
    const missing = opts.plates.filter((k) => !known.has(k));
    if (missing.length) {
      const some = [...known].sort().slice(0, 5).join(', ');
      throw new UserError(`--plates: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} not in the data set; plate keys are experiment/plate (Metadata_PlateKey), e.g. ${some}.`);
    }
    const want = new Set(opts.plates);
    chosen = loads.filter((p) => want.has(p.key));
  }
  if (opts.shard) {
    const of = assignShards(chosen, opts.shard.count);
    chosen = chosen.filter((p) => of.get(p.key) === opts.shard!.index);
  }
  return chosen.map((p) => p.key).sort();
}
