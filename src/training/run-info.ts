/**
 * What every run records next to its outputs: the resolved recipe (`resolved-recipe.yaml`)
 * and `run.json` with the git revision, the compute backend, Node version and timings, so a result
 * can be traced to the code and machine that produced it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { BackendInfo } from '../engine/backend.ts';
import { asidePathFor, ensureDir, isInside, pidAlive, recoverOutput, sweepDeadWriters, writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { acquireRunLock, LOCK_FILE } from '../util/run-lock.ts';
import { RUN_LAYOUT } from './run-layout.ts';

/** File names in a run directory. */

/** The git revision of the working tree (`unknown` outside a git checkout) and whether it has local changes. */
export function gitRevision(cwd = process.cwd()): { revision: string; dirty: boolean | null } {
  try {
    const revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    let dirty: boolean | null = null;
    try {
      dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    } catch {
      dirty = null;
    }
    return { revision, dirty };
  } catch {
    return { revision: 'unknown', dirty: null };
  }
}

/** The environment part of `run.json`. */
export interface RunEnvironment {
  git: { revision: string; dirty: boolean | null };
  backend: { name: string; provider: string; threads: number; wasm?: { simd: boolean; threaded: boolean } };
  /** The native engine when it ran the kernels (library, ISA, threads and how they waited: speed depends on it). */
  native?: { library: string; version: string; isa: string; threads: number; waitPolicy: string };
  node: string;
  platform: string;
  cpus: number;
  /** The writer's process (a run.json saying `running` whose process is gone was killed). */
  pid: number;
}

/** The environment of this process on `backend`. */
export async function runEnvironment(backend: BackendInfo): Promise<RunEnvironment> {
  const os = await import('node:os');
  return {
    git: gitRevision(),
    backend: { name: backend.backend, provider: backend.provider, threads: backend.threads, wasm: backend.wasm },
    ...(backend.native ? { native: { library: backend.native.library, version: backend.native.version, isa: backend.native.isa, threads: backend.native.threads, waitPolicy: backend.native.waitPolicy } } : {}),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.cpus().length,
    pid: process.pid,
  };
}

/** Writes `<dir>/resolved-recipe.yaml` (atomically). */
export async function writeResolvedRecipe(dir: string, recipe: unknown, notes: readonly string[] = []): Promise<void> {
  await writeFileAtomic(join(dir, RUN_LAYOUT.recipe), `# Resolved recipe: every default filled in and every --set applied.\n${notes.map((n) => `# ${n}\n`).join('')}${toYaml(recipe)}`);
}

/** Writes `<dir>/run.json` (atomically). */
export async function writeRunJson(dir: string, info: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(join(dir, RUN_LAYOUT.info), JSON.stringify(info, null, 2) + '\n');
}

/** Options of {@link claimRunDir}. */
export interface ClaimRunDirOptions {
  /** Continue the run in the directory (its checkpoint, its metrics). */
  resume?: boolean;
  /** Replace an earlier run in the directory (moved aside, removed once this run ends). */
  overwrite?: boolean;
  /** Paths the run reads: none may lie inside a directory that is replaced. */
  inputs?: readonly string[];
  /** The flag that named the directory, for messages. */
  flag?: string;
  log?: (line: string) => void;
}

/** A run directory held by this process: its lock, and the end of its run.json. */
export interface RunDirClaim {
  dir: string;
  /** The earlier run's status as found (`killed` when run.json said running and its process is gone). */
  previousStatus?: string;
  /** Marks run.json `failed` with the error's message and exit code (keeping its other fields). */
  fail(error: unknown, info?: Record<string, unknown>): Promise<void>;
  /** Releases the lock and removes the replaced run, if any. Idempotent. */
  release(): Promise<void>;
}

/**
 * Marks `<dir>/run.json` `failed` with the error's message and exit code, keeping its other
 * fields; a failure to write it (the disk that failed the run) is not allowed to hide the error.
 */
export async function markRunFailed(dir: string, error: unknown, info: Record<string, unknown> = {}): Promise<void> {
  if (!existsSync(dir)) return;
  const before = readRunStatus(dir) ?? {};
  const e = error as { message?: string; exitCode?: number };
  try {
    await writeRunJson(dir, { ...before, ...info, status: 'failed', finishedAt: new Date().toISOString(), error: { message: String(e?.message ?? error), exitCode: e?.exitCode ?? 1 } });
  } catch {
    // The original error is what the user must see.
  }
}

/** The status recorded in `<dir>/run.json`, undefined when there is none. */
export function readRunStatus(dir: string): { status?: string; pid?: number; startedAt?: string } | undefined {
  const p = join(dir, RUN_LAYOUT.info);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as { status?: string; pid?: number; startedAt?: string };
  } catch {
    return { status: 'unreadable' };
  }
}

/**
 * Takes run directory `dir` for one run: refuses a path that is a file, a non-empty folder that is
 * not a ben run directory (no run.json), and an earlier run unless `resume` or `overwrite` is
 * given; takes the directory's lock (one writer); cleans up what dead writers left.
 */
export async function claimRunDir(dir: string, opts: ClaimRunDirOptions = {}): Promise<RunDirClaim> {
  const flag = opts.flag ?? '--run-dir';
  for (const n of recoverOutput(dir)) opts.log?.(n);
  let aside: string | undefined;
  let previousStatus: string | undefined;
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new UserError(`${flag} ${dir} is a file, not a folder. Choose a folder for the run's outputs.`);
    const entries = readdirSync(dir).filter((n) => n !== LOCK_FILE);
    if (entries.length > 0) {
      const prev = readRunStatus(dir);
      if (!prev) throw new UserError(`${flag} ${dir} is not empty and is not a ben run directory (no ${RUN_LAYOUT.info}); it is left untouched. Choose a new run directory.`);
      previousStatus = prev.status === 'running' && !(prev.pid && pidAlive(prev.pid) && prev.pid !== process.pid) ? 'killed' : prev.status;
      if (opts.overwrite) {
        for (const input of opts.inputs ?? []) {
          if (input && isInside(input, dir)) throw new UserError(`--overwrite would replace ${dir}, which holds ${input} that this run reads. Choose another run directory.`);
        }
        const lockNow = acquireRunLock(dir); // a live writer makes --overwrite refuse too
        lockNow.release();
        aside = asidePathFor(dir);
        await rm(aside, { recursive: true, force: true });
        await rename(dir, aside);
        opts.log?.(`--overwrite: the earlier run (status ${previousStatus}) moved aside to ${aside}; it is removed when this run ends`);
      } else if (!opts.resume) {
        throw new UserError(`${flag} ${dir} holds an earlier run (status ${previousStatus ?? 'unknown'}${prev.startedAt ? `, started ${prev.startedAt}` : ''}). Pass --resume to continue it, --overwrite to replace it, or choose another run directory.`);
      }
    }
  }
  await ensureDir(dir);
  const lock = acquireRunLock(dir);
  for (const n of sweepDeadWriters(dir)) opts.log?.(n);
  if (lock.tookOver) opts.log?.(`took over the lock of a run that no longer runs (pid ${lock.tookOver.pid}, started ${lock.tookOver.startedAt || 'unknown'}): it was killed`);
  if (previousStatus === 'killed' && opts.resume) opts.log?.(`the earlier run in ${dir} was killed (its run.json said running); resuming it`);
  let released = false;
  return {
    dir,
    previousStatus,
    fail: (error: unknown, info?: Record<string, unknown>) => markRunFailed(dir, error, info),
    async release() {
      if (released) return;
      released = true;
      lock.release();
      if (aside) await rm(aside, { recursive: true, force: true });
    },
  };
}
