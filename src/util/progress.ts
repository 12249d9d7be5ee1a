import { SingleBar, Presets } from 'cli-progress';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Label shown before the bar. */
  label: string;
  /** Total units of work. */
  total: number;
  /** Unit name shown with the rate (e.g. "img", "step"). */
  unit?: string;
  /** Disable drawing (tests, non-TTY CI logs print a line every ~10 %). */
  quiet?: boolean;
}

/** A progress reporter with rate and ETA. */
export interface Progress {
  /** Advance by `n` units and update the extra fields shown (e.g. loss). */
  tick(n?: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A progress bar with rate and ETA on a TTY; on a non-TTY (CI, redirected logs) it prints a
 * plain line every 10 % so logs stay readable.
 */
export function createProgress(opts: ProgressOptions): Progress {
  const unit = opts.unit ?? 'it';
  const start = Date.now();
  let done = 0;
  if (opts.quiet || process.env.BEN_QUIET === '1') {
    return { tick: (n = 1) => void (done += n), stop: () => undefined };
  }
  const fmtFields = (f?: Record<string, string | number>) =>
    f ? Object.entries(f).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toPrecision(4) : v}`).join(' ') : '';
  if (!process.stderr.isTTY) {
    let nextPct = 10;
    return {
      tick(n = 1, fields) {
        done += n;
        const pct = (100 * done) / opts.total;
        if (pct >= nextPct || done === opts.total) {
          const secs = (Date.now() - start) / 1000;
          const rate = done / Math.max(secs, 1e-9);
          const eta = (opts.total - done) / Math.max(rate, 1e-9);
          process.stderr.write(
            `${opts.label} ${done}/${opts.total} (${pct.toFixed(0)}%) ${rate.toFixed(1)} ${unit}/s eta ${eta.toFixed(0)}s ${fmtFields(fields)}\n`,
          );
          while (nextPct <= pct) nextPct += 10;
        }
      },
      stop: () => undefined,
    };
  }
  const bar = new SingleBar(
    {
      format: `${opts.label} [{bar}] {percentage}% {value}/{total} | {rate} ${unit}/s | ETA {eta_formatted} | {extra}`,
      stream: process.stderr,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  bar.start(opts.total, 0, { rate: '0', extra: '' });
  return {
    tick(n = 1, fields) {
      done += n;
      const secs = (Date.now() - start) / 1000;
      bar.update(done, { rate: (done / Math.max(secs, 1e-9)).toFixed(1), extra: fmtFields(fields) });
    },
    stop: () => bar.stop(),
  };
}

/** Appends one JSON object per line to a metrics log (`metrics.jsonl`). */
export class JsonlLogger {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }
  /** Writes `record` with a wall-clock timestamp. */
  log(record: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify({ time: new Date().toISOString(), ...record }) + '\n');
  }
}
