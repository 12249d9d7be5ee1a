/**
 * Safe outputs. Every file or folder a command writes is produced under a temporary name beside
 * its destination and renamed into place, so a killed process never leaves a half-written output.
 * An existing destination is replaced only when it carries this tool's marker (it is one of our
 * outputs), and then in four steps that keep a complete copy on disk at every instant:
 * write new beside -> rename old aside -> rename new in -> remove old.
 *
 * Temporary and aside names carry the writer's PID (`.name.<pid>.<hex>.tmp`, `.name.<pid>.old`),
 * so leftovers of a dead process are recognised and cleaned up (or, for an aside copy whose
 * replacement never arrived, restored) by the next command that writes the same destination.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from './errors.ts';

/** A unique temporary path in the same directory as `path` (so the final rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** The path an existing output is moved to while its replacement is renamed in. */
export function asidePathFor(path: string, pid = process.pid): string {
  return join(dirname(path), `.${basename(path)}.${pid}.old`);
}

/** Whether process `pid` is alive (EPERM: alive, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Leftovers of `path` in its folder: temporary outputs and aside copies, with their writer's PID. */
function leftovers(path: string): { path: string; pid: number; kind: 'tmp' | 'old' }[] {
  const dir = dirname(path);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const re = new RegExp(`^\\.${escapeRe(basename(path))}\\.(\\d+)\\.(?:[0-9a-f]+\\.(tmp)|(old))$`);
  const out: { path: string; pid: number; kind: 'tmp' | 'old' }[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (m) out.push({ path: join(dir, n), pid: Number(m[1]), kind: m[2] ? 'tmp' : 'old' });
  }
  return out;
}

/**
 * Cleans up after writers of `path` that died: removes their temporary outputs, and for an aside
 * copy either restores it (when `path` itself is missing: the kill fell between "rename old aside"
 * and "rename new in") or removes it (the replacement is in place). Returns what it did, one line
 * per action, for a notice.
 */
export function recoverOutput(path: string): string[] {
  const notes: string[] = [];
  const mine = (pid: number) => pid === process.pid || pidAlive(pid);
  const found = leftovers(path).filter((l) => !mine(l.pid));
  for (const l of found.filter((f) => f.kind === 'tmp')) {
    rmSync(l.path, { recursive: true, force: true });
    notes.push(`removed ${l.path}, left by a process (pid ${l.pid}) that no longer runs`);
  }
  const olds = found.filter((f) => f.kind === 'old');
  for (const l of olds) {
    if (!existsSync(path)) {
      renameSync(l.path, path);
      notes.push(`restored ${path} from ${l.path} (its replacement was interrupted)`);
    } else {
      rmSync(l.path, { recursive: true, force: true });
      notes.push(`removed ${l.path}, the previous copy of ${path}`);
    }
  }
  return notes;
}

/**
 * Cleans up every output in folder `dir` that a dead process left half-done (see
 * {@link recoverOutput}): a command that owns a folder (a run directory) sweeps it on start.
 */
export function sweepDeadWriters(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const bases = new Set<string>();
  for (const n of names) {
    const m = /^\.(.+)\.\d+\.(?:[0-9a-f]+\.tmp|old)$/.exec(n);
    if (m) bases.add(m[1]);
  }
  return [...bases].flatMap((b) => recoverOutput(join(dir, b)));
}

/**
 * `mkdir -p` that reports the real cause: Node's recursive mkdir says ENOENT on a read-only file
 * system, so on ENOENT the first missing folder is created alone to surface EROFS / EACCES.
 */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    let missing = resolve(dir);
    while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing);
    await mkdir(missing); // throws the real error (EROFS, EACCES, ENOTDIR)
    throw e;
  }
}

/** Says whether an existing output at `path` is one of ours (so it may be replaced). */
export type OutputMarker = (path: string) => boolean;

/** A marker that is a file of that name inside the output folder (`summary.json`, `synth.json`...). */
export function markerFile(name: string): OutputMarker {
  return (p) => existsSync(join(p, name));
}

/** Options of {@link withAtomicOutput}. */
export interface AtomicOutputOptions {
  /**
   * How an existing output is recognised as ours. Without a marker an existing non-empty output
   * is never replaced.
   */
  marker?: OutputMarker;
  /** What the marker is, for the refusal message (e.g. `summary.json`). */
  markerName?: string;
  /** Paths the command reads: none may lie inside what is replaced. */
  inputs?: readonly string[];
  /** The option that chose the path, for messages (e.g. `--out`). */
  flag?: string;
  /** One-line notices (recovery of dead writers' leftovers). */
  log?: (line: string) => void;
}

/**
 * Names `path` on a file-system error that has none (a failed `write` on an open file: ENOSPC),
 * so the message says which output could not be written.
 */
export function withPath(e: unknown, path: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (err instanceof Error && typeof err.code === 'string' && !err.path) err.path = path;
  return e;
}

/** Whether `inner` is `outer` or lies inside it. */
export function isInside(inner: string, outer: string): boolean {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Refuses (UserError) to replace `path` unless it is missing, an empty folder, or carries the
 * marker; and refuses when one of `inputs` lies inside it.
 */
export function checkReplaceable(path: string, opts: AtomicOutputOptions = {}): void {
  const what = opts.flag ? `${opts.flag} ${path}` : path;
  for (const input of opts.inputs ?? []) {
    if (input && isInside(input, path)) {
      throw new UserError(`${what} would replace ${input}, which this command reads. Choose an output path outside the input.`);
    }
  }
  if (!existsSync(path)) return;
  const st = statSync(path);
  if (st.isDirectory()) {
    if (readdirSync(path).length === 0) return;
    if (opts.marker?.(path)) return;
    throw new UserError(
      `${what} exists and is not an output of ben-ssl${opts.markerName ? ` (it has no ${opts.markerName})` : ''}; it is left untouched. Choose a new folder, or empty this one yourself.`,
    );
  }
  if (opts.marker?.(path)) return;
  throw new UserError(`${what} exists and is not an output of ben-ssl; it is left untouched. Choose a new path, or remove the file yourself.`);
}

/**
 * Moves `fresh` into place at `path`: an existing `path` is renamed aside first and removed
 * after, so a complete copy exists at every instant (a dead process's aside copy is restored or
 * removed by {@link recoverOutput}).
 */
export async function publish(fresh: string, path: string): Promise<void> {
  if (!existsSync(path)) {
    await rename(fresh, path);
    return;
  }
  const aside = asidePathFor(path);
  await rm(aside, { recursive: true, force: true });
  await rename(path, aside);
  try {
    await rename(fresh, path);
  } catch (e) {
    await rename(aside, path);
    throw e;
  }
  await rm(aside, { recursive: true, force: true });
}

/**
 * Writes `data` to `path` atomically: a killed process leaves either the old file or the new
 * one, never a half-written file. For files the command owns by name (run.json, eval.json...);
 * outputs at a path the user chose go through {@link withAtomicOutput} with a marker.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await ensureDir(dirname(path));
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw withPath(e, path);
  }
}

/**
 * Runs `produce(tmpPath)` (which writes a file or directory at tmpPath), then publishes it at
 * `path` (see {@link publish}). An existing `path` must pass {@link checkReplaceable}, checked
 * before anything is produced. On failure the temporary output is removed and `path` is as it was.
 */
export async function withAtomicOutput<T>(path: string, produce: (tmpPath: string) => Promise<T>, opts: AtomicOutputOptions = {}): Promise<T> {
  for (const n of recoverOutput(path)) opts.log?.(n);
  checkReplaceable(path, opts);
  await ensureDir(dirname(path));
  const tmp = tempPathFor(path);
  trackTemp(tmp);
  try {
    const result = await produce(tmp);
    await publish(tmp, path);
    return result;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw withPath(e, path);
  } finally {
    untrackTemp(tmp);
  }
}

/** Temporary outputs of this process, removed on SIGINT/SIGTERM (a SIGKILL leaves them to {@link recoverOutput}). */
const openTemps = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onSignal(sig: NodeJS.Signals): void {
  for (const t of openTemps) rmSync(t, { recursive: true, force: true });
  openTemps.clear();
  // Alone on this signal: restore Node's default (exit) by re-raising without us.
  if (process.listenerCount(sig) === 1) {
    for (const s of SIGNALS) process.off(s, onSignal);
    process.kill(process.pid, sig);
  }
}

/** Registers a temporary output to remove if the process is interrupted. */
export function trackTemp(tmp: string): void {
  if (openTemps.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  openTemps.add(tmp);
}

/** Forgets a temporary output (published or removed). */
export function untrackTemp(tmp: string): void {
  openTemps.delete(tmp);
  if (openTemps.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
}
