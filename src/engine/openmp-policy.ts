import { availableParallelism, loadavg } from 'node:os';

/**
 * How the native engine's OpenMP threads wait between kernels. libgomp reads it from the
 * environment once, when the addon loads it, so it is chosen before loading and cannot change
 * during the run.
 *
 * Measured on a 2-core VM (ResNet-18 training step, docs/engine.md): on an idle machine a short
 * spin before sleeping (`GOMP_SPINCOUNT` 50000) saves a futex wake-up per parallel region, about
 * 15 % of the step; with other jobs on the cores the same spin costs 20-40 %, and libgomp's default
 * (300000 spins) or ACTIVE cost more (spinning threads wait on peers the scheduler has parked).
 * So: spin briefly only when the machine is idle when we start; sleep otherwise.
 */
export interface OpenMpPolicy {
  /** Variables to set (none when the user set either one). */
  env: Record<string, string>;
  /** One line for `ben info`. */
  describe: string;
}

/** Spins before a waiting thread sleeps when the machine is idle. */
export const IDLE_SPIN_COUNT = 50000;

export function chooseOpenMpPolicy(
  env: NodeJS.ProcessEnv = process.env,
  load1: number = loadavg()[0],
  cores: number = availableParallelism(),
): OpenMpPolicy {
  if (env.OMP_WAIT_POLICY !== undefined || env.GOMP_SPINCOUNT !== undefined) {
    const set = [env.OMP_WAIT_POLICY !== undefined ? `OMP_WAIT_POLICY=${env.OMP_WAIT_POLICY}` : '', env.GOMP_SPINCOUNT !== undefined ? `GOMP_SPINCOUNT=${env.GOMP_SPINCOUNT}` : '']
      .filter(Boolean)
      .join(' ');
    return { env: {}, describe: `threads wait as set by the environment (${set})` };
  }
  if (load1 < cores / 2) {
    return {
      env: { OMP_WAIT_POLICY: 'PASSIVE', GOMP_SPINCOUNT: String(IDLE_SPIN_COUNT) },
      describe: `threads spin briefly, then sleep (machine idle at start: load ${load1.toFixed(1)} on ${cores} cores; GOMP_SPINCOUNT=${IDLE_SPIN_COUNT})`,
    };
  }
  return {
    env: { OMP_WAIT_POLICY: 'PASSIVE' },
    describe: `threads sleep between kernels (machine busy at start: load ${load1.toFixed(1)} on ${cores} cores; OMP_WAIT_POLICY=PASSIVE)`,
  };
}
