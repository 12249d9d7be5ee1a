/**
 * The layout of a partitioned profile dataset, shared by its writer (`ben embed --shard`) and its
 * reader (DuckDB): the marker file, Hive partition folders `plate=<key>/part-<shard>.parquet` and
 * the per-shard logs in `_shards/`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A shard of a job array: task `index` of `count`. */
export interface ShardIndex {
  index: number;
  count: number;
}

/** The marker file of a profile dataset folder. */
export const DATASET_MARKER = '_ben_dataset.json';
/** The Hive partition key of a profile dataset (values: `Metadata_PlateKey`). */
export const PARTITION_KEY = 'plate';
/** The column whose value names a row's partition. */
export const PARTITION_COLUMN = 'Metadata_PlateKey';

/**
 * A partition value as a safe folder name, Hive style: every byte of its UTF-8 other than
 * `A-Z a-z 0-9 _ - .` as `%XX` (so `EXP-1/P1` -> `EXP-1%2FP1`), a leading `.` too (no hidden
 * folders). DuckDB, Spark and pyarrow decode it back to the key.
 */
export function encodePartitionValue(v: string): string {
  let out = '';
  for (const b of Buffer.from(v, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.-]/.test(c) && !(out === '' && c === '.') ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out === '' ? '%00' : out;
}

/** Inverse of {@link encodePartitionValue}. */
export function decodePartitionValue(s: string): string {
  return s === '%00' ? '' : decodeURIComponent(s);
}

/** Path of a plate's part written by shard `index`. */
export function partPath(dir: string, plateKey: string, index: number): string {
  return join(dir, `${PARTITION_KEY}=${encodePartitionValue(plateKey)}`, `part-${index}.parquet`);
}
/** A shard's log in `<dir>/_shards/`. */
export interface ShardLog {
  shard: number;
  shards: number;
  status: 'running' | 'done' | 'failed';
  host: string;
  pid: number;
  started: string;
  finished?: string;
  plates: string[];
  images?: number;
  seconds?: number;
  error?: string;
  files?: string[];
}

/** Path of shard `s`'s log. */
export function shardLogPath(dir: string, s: ShardIndex): string {
  return join(dir, '_shards', `shard-${s.index}-of-${s.count}.json`);
}

/**
 * Shards of the dataset that have not finished, from their logs: for every shard count seen, the
 * indices whose log is missing or not `done`. Empty when all are done (or no logs exist).
 */
export function unfinishedShards(dir: string): { shard: number; shards: number; status: string }[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, '_shards'));
  } catch {
    return [];
  }
  const logs = new Map<string, ShardLog>();
  const counts = new Set<number>();
  for (const n of names) {
    const m = /^shard-(\d+)-of-(\d+)\.json$/.exec(n);
    if (!m) continue;
    counts.add(Number(m[2]));
    try {
      logs.set(`${m[1]}/${m[2]}`, JSON.parse(readFileSync(join(dir, '_shards', n), 'utf8')) as ShardLog);
    } catch {
      logs.set(`${m[1]}/${m[2]}`, { status: 'unreadable' } as unknown as ShardLog);
    }
  }
  const out: { shard: number; shards: number; status: string }[] = [];
  for (const c of [...counts].sort((a, b) => a - b)) {
    for (let i = 0; i < c; i++) {
      const l = logs.get(`${i}/${c}`);
      if (!l || l.status !== 'done') out.push({ shard: i, shards: c, status: l?.status ?? 'missing' });
    }
  }
  return out;
}
