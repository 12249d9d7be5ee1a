import { describe, expect, it } from 'vitest';
import { chooseOpenMpPolicy, IDLE_SPIN_COUNT, measureBusyCores } from '../../src/engine/openmp-policy.ts';

describe('chooseOpenMpPolicy', () => {
  it('spins briefly when the machine is idle', () => {
    const p = chooseOpenMpPolicy({}, 0.3, 2);
    expect(p.env).toEqual({ OMP_WAIT_POLICY: 'PASSIVE', GOMP_SPINCOUNT: String(IDLE_SPIN_COUNT) });
    expect(p.describe).toMatch(/0\.3 of 2 cores busy/);
  });
  it('sleeps when other processes keep at least half the cores busy', () => {
    expect(chooseOpenMpPolicy({}, 1.0, 2).env).toEqual({ OMP_WAIT_POLICY: 'PASSIVE' });
    expect(chooseOpenMpPolicy({}, 9, 16).env).toEqual({ OMP_WAIT_POLICY: 'PASSIVE' });
  });
  it("leaves the user's own settings alone", () => {
    const a = chooseOpenMpPolicy({ OMP_WAIT_POLICY: 'ACTIVE' }, 0, 2);
    expect(a.env).toEqual({});
    expect(a.describe).toContain('OMP_WAIT_POLICY=ACTIVE');
    expect(chooseOpenMpPolicy({ GOMP_SPINCOUNT: '0' }, 0, 2).env).toEqual({});
  });
  it('measures other processes, not the load average: a busy child counts, its own sleep does not', async () => {
    const { spawn } = await import('node:child_process');
    const idle = measureBusyCores(100, 2);
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThanOrEqual(2);
    // A child spinning one core for the whole window is seen as (about) one busy core.
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 3000);'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const busy = measureBusyCores(200);
      expect(busy).toBeGreaterThan(0.6);
    } finally {
      child.kill();
    }
  });
});
