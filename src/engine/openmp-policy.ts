import { availableParallelism, cpus } from 'node:os';

/**
 * How the native engine's OpenMP threads wait between kernels. libgomp reads it from the
 * environment once, when the addon loads it, so it is chosen before loading and cannot change
 * during the run.
 *
 * Measured on 2-core VMs (ResNet-18 training step and the quickstart, docs/engine.md): on an idle
 * machine a short spin before sleeping (`GOMP_SPINCOUNT` 50000) saves a futex wake-up per parallel
 * region, about 15 % of the step and up to 2.3x on the quickstart; with other jobs on the cores
 * the same spin costs 20-40 %, and libgomp's default (300000 spins) or ACTIVE cost more (spinning
 * threads wait on peers the scheduler has parked). So: spin briefly only when the other processes
 * leave at least half the cores idle when we start; sleep otherwise.
 *
 * "Idle" is measured, not read from the load average: the 1-minute average still counts a job
 * that ended seconds ago (after one run, the next one saw load 1.5 on an idle 2-core machine and
 * chose to sleep, 2.3x slower).
 */
export interface OpenMpPolicy {
  /** Variables to set (none when the user set either one). */
  env: Record<string, string>;
  /** One line for `ben info`. */
  describe: string;
}

/** Spins before a waiting thread sleeps when the machine is idle. */
export const IDLE_SPIN_COUNT = 50000;

/** How long {@link measureBusyCores} watches the CPUs: long enough to see a running job. */
export const BUSY_WINDOW_MS = 150;

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    const all = t.user + t.nice + t.sys + t.irq + t.idle;
    busy += all - t.idle;
    total += all;
  }
  return { busy, total };
}

/**
 * Cores kept busy by other processes, averaged over `windowMs`, during which this thread sleeps
 * (so it measures everyone else; the addon's threads do not exist yet).
 */
export function measureBusyCores(windowMs: number = BUSY_WINDOW_MS, cores: number = cpus().length): number {
  const a = cpuTimes();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, windowMs);
  const b = cpuTimes();
  const total = b.total - a.total;
  if (!(total > 0)) return 0;
  return ((b.busy - a.busy) / total) * cores;
}

export function chooseOpenMpPolicy(
  env: NodeJS.ProcessEnv = process.env,
  busyCores: number = measureBusyCores(),
  cores: number = availableParallelism(),
): OpenMpPolicy {
  if (env.OMP_WAIT_POLICY !== undefined || env.GOMP_SPINCOUNT !== undefined) {
    const set = [env.OMP_WAIT_POLICY !== undefined ? `OMP_WAIT_POLICY=${env.OMP_WAIT_POLICY}` : '', env.GOMP_SPINCOUNT !== undefined ? `GOMP_SPINCOUNT=${env.GOMP_SPINCOUNT}` : '']
      .filter(Boolean)
      .join(' ');
    return { env: {}, describe: `threads wait as set by the environment (${set})` };
  }
  const seen = `${busyCores.toFixed(1)} of ${cores} cores busy with other processes at start`;
  if (busyCores < cores / 2) {
    return {
      env: { OMP_WAIT_POLICY: 'PASSIVE', GOMP_SPINCOUNT: String(IDLE_SPIN_COUNT) },
      describe: `threads spin briefly, then sleep (${seen}; GOMP_SPINCOUNT=${IDLE_SPIN_COUNT})`,
    };
  }
  return {
    env: { OMP_WAIT_POLICY: 'PASSIVE' },
    describe: `threads sleep between kernels (${seen}; OMP_WAIT_POLICY=PASSIVE)`,
  };
}
