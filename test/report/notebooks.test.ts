import { describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeRunDir } from './fixtures.ts';

const NOTEBOOK_DIR = resolve('notebooks');
const notebooks = readdirSync(NOTEBOOK_DIR).filter((f) => f.endsWith('.ipynb')).sort();

interface Cell {
  cell_type: string;
  id?: string;
  source: string[] | string;
  outputs?: { output_type: string; name?: string; text?: string[] | string; data?: Record<string, string[] | string>; ename?: string; evalue?: string }[];
}
interface Notebook {
  nbformat: number;
  metadata: { kernelspec?: { name: string; language: string } };
  cells: Cell[];
}

function which(cmd: string): string | undefined {
  try {
    return execFileSync('which', [cmd], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const text = (v: string[] | string | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

describe('notebooks are valid TypeScript (tslab) notebooks', () => {
  it.each(notebooks)('%s', async (name) => {
    const nb = JSON.parse(await readFile(join(NOTEBOOK_DIR, name), 'utf8')) as Notebook;
    expect(nb.nbformat).toBe(4);
    expect(nb.metadata.kernelspec).toMatchObject({ name: 'tslab', language: 'typescript' });
    const ids = nb.cells.map((c) => c.id);
    expect(new Set(ids).size).toBe(nb.cells.length);
    expect(nb.cells.filter((c) => c.cell_type === 'code').length).toBeGreaterThan(2);
    // Committed without outputs: they are produced by running, not stored.
    for (const c of nb.cells) if (c.cell_type === 'code') expect(c.outputs).toEqual([]);
  });
});

// Headless execution needs Jupyter's nbconvert (Debian: jupyter-nbconvert python3-jupyter-client) and the
// tslab kernel (npm: tslab); see notebooks/README.md. $TSLAB may name the tslab binary.
const jupyter = which('jupyter');
const tslab = process.env.TSLAB ?? which('tslab');
let nbconvert = false;
if (jupyter) {
  try {
    execFileSync(jupyter, ['nbconvert', '--version'], { stdio: 'ignore' });
    nbconvert = true;
  } catch {
    nbconvert = false;
  }
}
const canRun = Boolean(jupyter && nbconvert && tslab);
if (!canRun) {
  console.warn(
    `SKIP notebook execution: ${!jupyter || !nbconvert ? 'jupyter nbconvert' : 'tslab'} not found. Install with ` +
      '`apt-get install -y --no-install-recommends jupyter-nbconvert python3-jupyter-client` and ' +
      '`npm install -g tslab` (or set $TSLAB to its binary).',
  );
}

describe.skipIf(!canRun)('notebooks execute headlessly with the tslab kernel', () => {
  it.each(notebooks)(
    '%s runs without errors and draws its figures',
    async (name) => {
      const work = await mkdtemp(join(tmpdir(), 'ben-nb-'));
      // A private kernel registry: the tslab kernel with tsx loaded, so notebooks can import the library's .ts files.
      const kdir = join(work, 'jupyter', 'kernels', 'tslab');
      await mkdir(kdir, { recursive: true });
      await writeFile(
        join(kdir, 'kernel.json'),
        JSON.stringify({
          argv: [tslab, 'kernel', '--config-path', '{connection_file}'],
          display_name: 'TypeScript',
          language: 'typescript',
          env: { NODE_OPTIONS: '--import tsx' },
        }),
      );
      const runDir = join(work, 'run');
      await makeRunDir(runDir, { perCell: 4, d: 8 });
      const out = join(work, 'out');
      try {
        await promisify(execFile)(
          jupyter!,
          ['nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=240', '--output-dir', out, join(NOTEBOOK_DIR, name)],
          { env: { ...process.env, JUPYTER_PATH: join(work, 'jupyter'), BEN_RUN_DIR: runDir, BEN_QUIET: '1' } },
        );
      } catch (e) {
        throw new Error(`nbconvert failed on ${name}:\n${(e as { stderr?: string }).stderr?.slice(-3000) ?? e}`);
      }
      const [file] = (await readdir(out)).filter((f) => f.endsWith('.ipynb'));
      const nb = JSON.parse(await readFile(join(out, file), 'utf8')) as Notebook;
      const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
      const errors = outputs.filter((o) => o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr'));
      expect(errors.map((o) => o.ename ?? text(o.text))).toEqual([]);
      for (const c of nb.cells) if (c.cell_type === 'code') expect(c.outputs!.length, text(c.source).slice(0, 80)).toBeGreaterThan(0);
      const html = outputs.map((o) => text(o.data?.['text/html'])).join('');
      const markdown = outputs.map((o) => text(o.data?.['text/markdown'])).join('');
      expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(2);
      expect(markdown).toMatch(/\| plate predictability \(kNN\) \| \d\.\d{3}/);
    },
    300_000,
  );
});
