/**
 * The fault corpus's tools: run the `ben` CLI in a child process as a user would, hash a folder
 * before and after (nothing outside a command's own output may change), and find leftovers
 * (temporary or aside copies) a command must not leave.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { expect } from 'vitest';

export const REPO = resolve(import.meta.dirname, '..', '..');
const BIN = join(REPO, 'bin', 'ben.js');
export const ENV = { ...process.env, BEN_THREADS: '1', BEN_QUIET: '1', NO_COLOR: '1' };

/** A new temporary folder for one test file. */
export function scratch(name: string): string {
  return mkdtempSync(join(tmpdir(), `ben-rel-${name}-`));
}

/** Runs `ben args...` to completion (cwd: the repository). */
export function ben(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO, env: opts.env ?? ENV, encoding: 'utf8', timeout: opts.timeout ?? 120_000 });
}

/** Starts `ben args...` in its own process group (for kill tests). */
export function benAsync(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO, env: opts.env ?? ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
}

/**
 * Asserts a failure as the corpus wants it: the exit code, one message matching `message` (which
 * names the file or field), and no stack trace.
 */
export function expectFailure(r: SpawnSyncReturns<string>, code: number, message: RegExp): void {
  // BEN_CORPUS_LOG=file.jsonl collects (case, exit code, first line) for the corpus listing.
  if (process.env.BEN_CORPUS_LOG) {
    const first = r.stderr.split('\n').find((l) => l.startsWith('error:')) ?? r.stderr.split('\n')[0];
    appendFileSync(process.env.BEN_CORPUS_LOG, JSON.stringify({ case: expect.getState().currentTestName, exit: r.status, message: first }) + '\n');
  }
  expect(r.status, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at [\w.<>]+ \(|\n\s+at file:/);
}

/** sha256 of every file below `dir` (hidden ones too), by relative path; folders as entries. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${relative(dir, p)}/`] = 'dir';
        walk(p);
      } else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** A user's folder with a few files of their own (a "sentinel"), returned with its snapshot. */
export function userFolder(dir: string, files: Record<string, string> = { 'notes.txt': 'my notes\n', 'data/plate1.csv': 'a,b\n1,2\n', '.hidden': 'x' }): { dir: string; before: Record<string, string> } {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return { dir, before: snapshot(dir) };
}

/** Temporary (`.x.<pid>.<hex>.tmp`) and aside (`.x.<pid>.old`) copies below `dir`. */
export function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (/\.\d+\.[0-9a-f]+\.tmp$|\.\d+\.old$/.test(n)) out.push(relative(dir, p));
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** A PID that is not running (a child that has exited). */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

/** Flags that make a recipe tiny: 32-px synthetic `tiny` preset cached in `dataDir`, a few steps. */
export function tinyRecipeFlags(dataDir: string, steps = 3, extra: string[] = []): string[] {
  return [
    '--set',
    'data.preset=tiny',
    `data.path=${dataDir}`,
    `training.steps=${steps}`,
    'training.warmupSteps=1',
    'training.checkpointEvery=1',
    'sampler.batchSize=8',
    'augment.cropSize=32',
    'backbone.name=small-convnet',
    'objective.options.projectorHiddenDim=16',
    'objective.options.projectorOutDim=8',
    ...extra,
  ];
}

/** A small profile table (CSV text): `plates` plates x 12 wells, 4 treatments, 6 features. */
export function profileCsv(plates = 2, seed = 1): string {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  const lines = ['Metadata_Plate,Metadata_Well,Metadata_Label,Metadata_Type,f0,f1,f2,f3,f4,f5'];
  for (let p = 0; p < plates; p++) {
    for (let w = 0; w < 12; w++) {
      const lab = w % 4;
      const f = Array.from({ length: 6 }, (_, i) => ((i === lab ? 1 : 0) + 0.2 * rnd()).toFixed(4));
      lines.push([`P${p + 1}`, `W${String(w).padStart(2, '0')}`, `T${lab}`, lab === 0 ? 'ctl' : 'trt', ...f].join(','));
    }
  }
  return lines.join('\n') + '\n';
}
