import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The chromium binary: $CHROMIUM, else the first of chromium / chromium-browser / google-chrome on PATH. */
export function findChromium(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // not on PATH
    }
  }
  return undefined;
}

/** A figure element as the browser laid it out. */
export interface FigureBox {
  tag: string;
  label: string;
  width: number;
  height: number;
  /** For <img>: decoded and with a natural size. */
  loaded: boolean;
}

/** What a page did when loaded in headless chromium. */
export interface PageCheck {
  consoleErrors: string[];
  exceptions: string[];
  logErrors: string[];
  /** Every URL the page requested. */
  requests: string[];
  failedRequests: string[];
  /** Top-level <svg> and every <img>. */
  figures: FigureBox[];
  title: string;
  screenshot: Buffer;
}

type Msg = { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message: string }; sessionId?: string };

/**
 * Loads `url` in headless chromium driven over the DevTools protocol on a pipe
 * (`--remote-debugging-pipe`: NUL-separated JSON on fds 3 and 4, no WebSocket needed) and reports
 * console errors, exceptions, requests, the laid-out size of every figure and a full-page
 * screenshot.
 */
export async function inspectPage(chromium: string, url: string, opts: { width?: number; height?: number; timeoutMs?: number } = {}): Promise<PageCheck> {
  const profile = mkdtempSync(join(tmpdir(), 'ben-chromium-'));
  const child = spawn(
    chromium,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
      '--hide-scrollbars', '--mute-audio', `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => void (stderr = (stderr + b.toString()).slice(-4000)));
  const toChrome = child.stdio[3] as Writable;
  const fromChrome = child.stdio[4] as Readable;

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  const listeners: ((m: Msg) => void)[] = [];
  let buf = '';
  fromChrome.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let k: number;
    while ((k = buf.indexOf('\0')) >= 0) {
      const msg = JSON.parse(buf.slice(0, k)) as Msg;
      buf = buf.slice(k + 1);
      if (msg.id !== undefined && pending.has(msg.id)) {
        const p = pending.get(msg.id)!;
        pending.delete(msg.id);
        if (msg.error) p.reject(new Error(msg.error.message));
        else p.resolve(msg.result ?? {});
      } else listeners.forEach((l) => l(msg));
    }
  });
  const exited = new Promise<never>((_, reject) => child.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${stderr}`))));
  exited.catch(() => undefined);
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    Promise.race([
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        toChrome.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
      }),
      exited,
    ]);

  const out: Omit<PageCheck, 'figures' | 'title' | 'screenshot'> = { consoleErrors: [], exceptions: [], logErrors: [], requests: [], failedRequests: [] };
  let loaded!: () => void;
  const loadFired = new Promise<void>((r) => (loaded = r));
  listeners.push((m) => {
    const p = m.params ?? {};
    if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
      out.consoleErrors.push(JSON.stringify((p.args as unknown[]) ?? []));
    } else if (m.method === 'Runtime.exceptionThrown') out.exceptions.push(JSON.stringify(p.exceptionDetails));
    else if (m.method === 'Log.entryAdded') {
      const e = p.entry as { level: string; text: string; url?: string };
      if (e.level === 'error') out.logErrors.push(`${e.text} ${e.url ?? ''}`);
    } else if (m.method === 'Network.requestWillBeSent') out.requests.push((p.request as { url: string }).url);
    else if (m.method === 'Network.loadingFailed') out.failedRequests.push(String(p.errorText));
    else if (m.method === 'Page.loadEventFired') loaded();
  });

  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    for (const d of ['Runtime.enable', 'Log.enable', 'Network.enable', 'Page.enable']) await send(d, {}, sessionId);
    const width = opts.width ?? 1280;
    await send('Emulation.setDeviceMetricsOverride', { width, height: opts.height ?? 900, deviceScaleFactor: 1, mobile: false }, sessionId);
    await send('Page.navigate', { url }, sessionId);
    await Promise.race([loadFired, exited]);
    const evald = (await send(
      'Runtime.evaluate',
      {
        returnByValue: true,
        expression: `JSON.stringify({ title: document.title, figures: [...document.querySelectorAll('svg, img')]
          .filter((e) => !(e.parentElement && e.parentElement.closest('svg')))
          .map((e) => { const r = e.getBoundingClientRect(); const t = e.tagName.toLowerCase();
            return { tag: t, label: t === 'img' ? e.alt : (e.querySelector('title') || {}).textContent || '',
                     width: r.width, height: r.height,
                     loaded: t === 'img' ? (e.complete && e.naturalWidth > 0) : true }; }) })`,
      },
      sessionId,
    )) as { result: { value: string } };
    const { title, figures } = JSON.parse(evald.result.value) as { title: string; figures: FigureBox[] };
    const metrics = (await send('Page.getLayoutMetrics', {}, sessionId)) as { cssContentSize: { width: number; height: number } };
    const h = Math.ceil(metrics.cssContentSize.height);
    const shot = (await send(
      'Page.captureScreenshot',
      { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width, height: h, scale: 1 } },
      sessionId,
    )) as { data: string };
    await send('Browser.close').catch(() => undefined);
    return { ...out, title, figures, screenshot: Buffer.from(shot.data, 'base64') };
  } finally {
    clearTimeout(timer);
    // Browser.close lets chromium exit by itself; wait for it (or kill it) before removing its profile.
    const gone = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(killer);
    rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
  }
}
