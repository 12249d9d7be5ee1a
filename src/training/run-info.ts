/**
 * What every run records next to its outputs (issue 7): the resolved recipe (`resolved-recipe.yaml`)
 * and `run.json` with the git revision, the compute backend, Node version and timings, so a result
 * can be traced to the code and machine that produced it.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { BackendInfo } from '../engine/backend.ts';
import { writeFileAtomic } from '../util/atomic.ts';

/** File names in a run directory. */
export const RUN_INFO_FILES = { recipe: 'resolved-recipe.yaml', info: 'run.json' } as const;

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
  node: string;
  platform: string;
  cpus: number;
}

/** The environment of this process on `backend`. */
export async function runEnvironment(backend: BackendInfo): Promise<RunEnvironment> {
  const os = await import('node:os');
  return {
    git: gitRevision(),
    backend: { name: backend.backend, provider: backend.provider, threads: backend.threads, wasm: backend.wasm },
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.cpus().length,
  };
}

/** Writes `<dir>/resolved-recipe.yaml` (atomically). */
export async function writeResolvedRecipe(dir: string, recipe: unknown): Promise<void> {
  await writeFileAtomic(join(dir, RUN_INFO_FILES.recipe), `# Resolved recipe: every default filled in and every --set applied.\n${toYaml(recipe)}`);
}

/** Writes `<dir>/run.json` (atomically). */
export async function writeRunJson(dir: string, info: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(join(dir, RUN_INFO_FILES.info), JSON.stringify(info, null, 2) + '\n');
}
