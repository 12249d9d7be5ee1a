/**
 * One writer per run directory: `<dir>/.lock` holds the owner's PID, host and command, created
 * exclusively. A lock whose process no longer runs (a killed run) is taken over with a notice; a
 * live one makes the second writer refuse.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from './atomic.ts';
import { UserError } from './errors.ts';

/** File name of the lock inside a run directory. */
export const LOCK_FILE = '.lock';

/** What a lock file records. */
export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
}

/** A held lock; {@link release} is idempotent and also runs at process exit. */
export interface RunLock {
  readonly path: string;
  /** The lock this one took over (its process was dead), if any. */
  readonly tookOver?: LockInfo;
  release(): void;
}

function readLock(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of run directory `dir` (which must exist). Refuses (UserError) while another live
 * process holds it; takes over a dead process's lock.
 */
export function acquireRunLock(dir: string): RunLock {
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), command: process.argv.slice(1).join(' '), startedAt: new Date().toISOString() };
  let tookOver: LockInfo | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify(info) + '\n');
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
      };
      process.on('exit', release);
      return { path, tookOver, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const held = readLock(path);
      // Another host's PID says nothing about this machine's processes: trust its lock.
      const alive = held && (held.host !== info.host || held.pid === process.pid || pidAlive(held.pid));
      if (alive) {
        throw new UserError(`${dir} is in use by another ben process (pid ${held.pid} on ${held.host}, started ${held.startedAt}: ${held.command}). Wait for it to finish, or use another run directory.`);
      }
      tookOver = held ?? { pid: 0, host: info.host, command: '(unreadable lock)', startedAt: '' };
      rmSync(path, { force: true });
    }
  }
  throw new UserError(`${dir}: could not take the run lock ${path}; another process keeps creating it.`);
}
