/**
 * Benchmark suite `export`: Parquet writers for embedding tables.
 *
 * `npm run bench -- export [--cases write,embed] [--rows 100000] [--dim 512] [--writers a,b] [--reps 1]`
 *
 * Writes one profile table (n rows x `dim` float32 features + 8 string `Metadata_*` columns, the
 * layout of `ben embed`) with each candidate writer, each in its own child process so that peak
 * memory is its own, then checks every file with every reader on this machine (DuckDB, hyparquet,
 * parquet-wasm/arrow-rs; pyarrow/pandas when python has them). One JSON line per writer:
 * `{case, writer, rows, dim, seconds, rowsPerSec, fileMB, peakRssMB, heapUsedDeltaMB, readers}`.
 *
 * The input is the in-memory form our exporter receives (row-major Float32Array + string
 * arrays); converting it to each library's input is part of the timed cost.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Vector } from 'apache-arrow';
import { EMBEDDING_META_COLUMNS } from '../src/embedding/embedder.ts';

/** The embedding files' metadata columns, as `ben embed` writes them. */
const META = EMBEDDING_META_COLUMNS;

/** Deterministic feature value of row i, column j (float32), computable anywhere for checks. */
function featureValue(i: number, j: number): number {
  return Math.fround(Math.sin(i * 0.0137 + j * 1.37) * (1 + (i % 7)));
}

/** Deterministic metadata of row i, laid out like a screen: 308 wells x 2 sites per plate. */
function metaValue(col: number, i: number): string {
  const site = i % 2;
  const well = Math.floor(i / 2) % 308;
  const plate = Math.floor(i / 616);
  const exp = Math.floor(plate / 4);
  const rowName = String.fromCharCode(66 + Math.floor(well / 22));
  switch (col) {
    case 0: return `EXP-${String(exp).padStart(2, '0')}`;
    case 1: return String((plate % 4) + 1);
    case 2: return `${rowName}${String((well % 22) + 2).padStart(2, '0')}`;
    case 3: return String(site + 1);
    case 4: return ['HEPG2', 'HUVEC', 'RPE', 'U2OS'][exp % 4];
    case 5: return `sirna_${well % 277}`;
    case 6: return well < 277 ? 'treatment' : well < 297 ? 'negative_control' : 'positive_control';
    default: return exp % 5 === 4 ? 'test' : 'train';
  }
}

interface Input {
  n: number;
  d: number;
  names: string[];
  meta: string[][];
  features: Float32Array; // row-major [n, d]
}

function makeInput(n: number, d: number): Input {
  const features = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) features[i * d + j] = featureValue(i, j);
  const meta = META.map((_, c) => Array.from({ length: n }, (_, i) => metaValue(c, i)));
  const names = Array.from({ length: d }, (_, j) => `emb_${String(j).padStart(4, '0')}`);
  return { n, d, names, meta, features };
}

/** Column j of rows [r0, r1) as a new Float32Array (row-major -> columnar transpose). */
function column(inp: Input, j: number, r0: number, r1: number): Float32Array {
  const out = new Float32Array(r1 - r0);
  const { d, features } = inp;
  for (let i = r0, k = 0; i < r1; i++, k++) out[k] = features[i * d + j];
  return out;
}

const ROW_GROUP = 10_000;
const KV = { model: 'bench', normalization: 'plate' };

type Writer = (inp: Input, path: string) => Promise<void>;

const require = createRequire(import.meta.url);

/** parquetjs-lite / @dsnp/parquetjs: row-object API. */
function parquetjsWriter(mod: string): Writer {
  return async (inp, path) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const pq: any = require(mod);
    const fields: Record<string, { type: string }> = {};
    for (const m of META) fields[m] = { type: 'UTF8' };
    for (const f of inp.names) fields[f] = { type: 'FLOAT' };
    const w = await pq.ParquetWriter.openFile(new pq.ParquetSchema(fields), path);
    w.setRowGroupSize(ROW_GROUP);
    for (const [k, v] of Object.entries(KV)) w.setMetadata(k, v);
    for (let i = 0; i < inp.n; i++) {
      const row: Record<string, unknown> = {};
      for (let c = 0; c < META.length; c++) row[META[c]] = inp.meta[c][i];
      for (let j = 0; j < inp.d; j++) row[inp.names[j]] = inp.features[i * inp.d + j];
      await w.appendRow(row);
    }
    await w.close();
  };
}

/** hyparquet-writer: columnar, one `write` per row group, streamed to the file. */
function hyparquetWriter(codec: 'SNAPPY' | 'UNCOMPRESSED', statistics: boolean): Writer {
  return async (inp, path) => {
    const { ParquetWriter, fileWriter } = await import('hyparquet-writer');
    const schema = [
      { name: 'root', num_children: META.length + inp.d },
      ...META.map((name) => ({ name, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'REQUIRED' as const })),
      ...inp.names.map((name) => ({ name, type: 'FLOAT' as const, repetition_type: 'REQUIRED' as const })),
    ];
    const pw = new ParquetWriter({
      writer: fileWriter(path),
      schema,
      codec,
      statistics,
      kvMetadata: Object.entries(KV).map(([key, value]) => ({ key, value })),
    });
    for (let r0 = 0; r0 < inp.n; r0 += ROW_GROUP) {
      const r1 = Math.min(inp.n, r0 + ROW_GROUP);
      const columnData = [
        ...META.map((name, c) => ({ name, data: inp.meta[c].slice(r0, r1) })),
        ...inp.names.map((name, j) => ({ name, data: column(inp, j, r0, r1) })),
      ];
      await pw.write({ columnData, rowGroupSize: r1 - r0 });
    }
    await pw.finish();
  };
}

/** apache-arrow record batches -> parquet-wasm (arrow-rs) streaming writer. */
function arrowWasmWriter(compression: 'SNAPPY' | 'UNCOMPRESSED'): Writer {
  return async (inp, path) => {
    const arrow = await import('apache-arrow');
    const pw = await import('parquet-wasm');
    let builder = new pw.WriterPropertiesBuilder()
      .setCompression(pw.Compression[compression])
      .setMaxRowGroupSize(ROW_GROUP)
      .setKeyValueMetadata(new Map(Object.entries(KV)));
    // Dictionary pages on float embeddings only cost (every value distinct); keep them on strings.
    for (const f of inp.names) builder = builder.setColumnDictionaryEnabled(f, false);
    const props = builder.build();
    let r0 = 0;
    const batches = new ReadableStream({
      pull(controller) {
        if (r0 >= inp.n) return controller.close();
        const r1 = Math.min(inp.n, r0 + ROW_GROUP);
        const cols: Record<string, Vector> = {};
        META.forEach((name, c) => (cols[name] = arrow.vectorFromArray(inp.meta[c].slice(r0, r1), new arrow.Utf8())));
        inp.names.forEach((name, j) => (cols[name] = arrow.makeVector(column(inp, j, r0, r1))));
        const ipc = arrow.tableToIPC(new arrow.Table(cols), 'stream');
        const t = pw.Table.fromIPCStream(ipc);
        for (const b of t.recordBatches()) controller.enqueue(b);
        r0 = r1;
      },
    });
    const out = await pw.transformParquetStream(batches, props);
    await out.pipeTo(Writable.toWeb(createWriteStream(path)));
  };
}

/** Our exporter (src/tables/parquet.ts) on the same input, zero-copy from the row-major table. */
const benWriter: Writer = async (inp, path) => {
  const { writeProfilesParquet } = await import('../src/tables/parquet.ts');
  const meta = Object.fromEntries(META.map((m, c) => [m, inp.meta[c]]));
  await writeProfilesParquet(path, { n: inp.n, d: inp.d, meta, featureNames: inp.names, features: inp.features, keyValue: KV }, { rowGroupSize: ROW_GROUP });
};

const WRITERS: Record<string, Writer> = {
  'ben-profile-writer': benWriter,
  'parquetjs-lite': parquetjsWriter('parquetjs-lite'),
  'dsnp-parquetjs': parquetjsWriter('@dsnp/parquetjs'),
  'hyparquet-writer-snappy': hyparquetWriter('SNAPPY', true),
  'hyparquet-writer-plain-nostats': hyparquetWriter('UNCOMPRESSED', false),
  'arrow-parquet-wasm-snappy': arrowWasmWriter('SNAPPY'),
  'arrow-parquet-wasm-plain': arrowWasmWriter('UNCOMPRESSED'),
};

function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Child: build the input, time one writer, print one JSON line. */
async function runChild(args: string[]): Promise<void> {
  const name = opt(args, 'child')!;
  const n = Number(opt(args, 'rows')), d = Number(opt(args, 'dim'));
  const path = opt(args, 'out')!;
  const inp = makeInput(n, d);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;
  let heapPeak = heap0;
  const timer = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 50);
  const t0 = performance.now();
  await WRITERS[name](inp, path);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  const maxRss = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({
    seconds,
    inputMB: (inp.features.byteLength) / 2 ** 20,
    rssBeforeMB: rss0 / 2 ** 20,
    peakRssMB: maxRss / 2 ** 20,
    peakRssOverInputMB: (maxRss - rss0) / 2 ** 20,
    heapPeakOverInputMB: (heapPeak - heap0) / 2 ** 20,
  }));
}

/** Reads `path` with every reader; returns reader -> "ok" or the failure. */
async function checkReaders(path: string, n: number, d: number): Promise<Record<string, string>> {
  const probeRows = [0, 1, Math.floor(n / 2), n - 1];
  const expectRow = (i: number) => ({
    meta: META.map((_, c) => metaValue(c, i)),
    feats: [0, 1, d - 1].map((j) => featureValue(i, j)),
  });
  const result: Record<string, string> = {};
  const attempt = async (reader: string, f: () => Promise<void>) => {
    try {
      await f();
      result[reader] = 'ok';
    } catch (e) {
      result[reader] = `FAIL: ${(e as Error).message.slice(0, 200)}`;
    }
  };
  const eq = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`);
  };
  const f3 = ['emb_0000', 'emb_0001', `emb_${String(d - 1).padStart(4, '0')}`];

  await attempt('duckdb', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    const desc = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`);
    const rows = desc.getRowObjectsJson() as { column_name: string; column_type: string }[];
    eq('column count', rows.length, META.length + d);
    eq('meta types', rows.slice(0, META.length).map((r) => r.column_type), META.map(() => 'VARCHAR'));
    if (rows.slice(META.length).some((r) => r.column_type !== 'FLOAT')) throw new Error('feature column not FLOAT');
    const cnt = await con.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${path}')`);
    eq('rows', (cnt.getRowObjectsJson()[0] as { n: number }).n, n);
    for (const i of probeRows) {
      const r = await con.runAndReadAll(
        `SELECT ${[...META, ...f3].map((c) => `"${c}"`).join(',')} FROM read_parquet('${path}') LIMIT 1 OFFSET ${i}`,
      );
      const v = r.getRows()[0] as unknown[];
      eq(`row ${i}`, { meta: v.slice(0, META.length), feats: v.slice(META.length) }, expectRow(i));
    }
    const kv = await con.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${path}')`);
    const kvs = Object.fromEntries((kv.getRowObjectsJson() as { k: string; v: string }[]).map((r) => [r.k, r.v]));
    eq('kv normalization', kvs.normalization, 'plate');
  });

  await attempt('hyparquet', async () => {
    const { parquetReadObjects, asyncBufferFromFile, parquetMetadataAsync } = await import('hyparquet');
    const file = await asyncBufferFromFile(path);
    const md = await parquetMetadataAsync(file);
    eq('rows', Number(md.num_rows), n);
    eq('columns', md.schema.length - 1, META.length + d);
    for (const i of probeRows) {
      const [row] = await parquetReadObjects({ file, columns: [...META, ...f3], rowStart: i, rowEnd: i + 1 });
      eq(`row ${i}`, { meta: META.map((m) => row[m]), feats: f3.map((f) => row[f]) }, expectRow(i));
    }
  });

  await attempt('parquet-wasm', async () => {
    const pw = await import('parquet-wasm');
    const arrow = await import('apache-arrow');
    const { readFileSync } = await import('node:fs');
    const t = arrow.tableFromIPC(pw.readParquet(readFileSync(path), { columns: [...META, ...f3] }).intoIPCStream());
    eq('rows', t.numRows, n);
    for (const i of probeRows) {
      eq(`row ${i}`, { meta: META.map((m) => t.getChild(m)!.get(i)), feats: f3.map((f) => t.getChild(f)!.get(i)) }, expectRow(i));
    }
  });

  for (const py of ['pyarrow', 'pandas']) {
    const has = spawnSync('python3', ['-c', `import ${py}`]).status === 0;
    if (!has) {
      result[py] = 'not installed';
      continue;
    }
    const code = py === 'pyarrow'
      ? `import pyarrow.parquet as pq,sys; t=pq.read_table(sys.argv[1]); assert t.num_rows==${n}; assert t.num_columns==${META.length + d}`
      : `import pandas as pd,sys; df=pd.read_parquet(sys.argv[1]); assert df.shape==(${n},${META.length + d})`;
    const r = spawnSync('python3', ['-c', code, path], { encoding: 'utf8' });
    result[py] = r.status === 0 ? 'ok' : `FAIL: ${r.stderr.slice(-200)}`;
  }
  return result;
}

/**
 * Case `embed`: the embedder's images/s with registered backbones on random 64x64x5 plates (the
 * engine bench's `resnet18-5ch-64px` inference case)
 * (in-memory, so decode is not counted), in `running` mode (one forward pass per image) and
 * `plate` mode (plus the exact plate-statistics passes), to set beside the writers' rows/s.
 */
async function runEmbedCase(args: string[]): Promise<void> {
  const { initBackend } = await import('../src/engine/backend.ts');
  const info = await initBackend(opt(args, 'backend'));
  const { backbones } = await import('../src/models/index.ts');
  const { Dataset } = await import('../src/data/image-dataset.ts');
  const { MemoryImageStore } = await import('../src/data/image-store.ts');
  const { embedDataset } = await import('../src/embedding/embedder.ts');
  const { Rng } = await import('../src/util/rng.ts');
  const size = 64, channels = 5, plates = 2, perPlate = Number(opt(args, 'per-plate') ?? 48);
  const rng = new Rng(1);
  const pixels = Uint8Array.from({ length: plates * perPlate * size * size * channels }, () => rng.int(256));
  const rows = Array.from({ length: plates * perPlate }, (_, i) => ({
    siteId: String(i), experiment: 'E', plate: String(Math.floor(i / perPlate)), well: `W${i % perPlate}`, site: 1,
    cellType: 'c', label: 'l', wellType: (i % perPlate < 8 ? 'negative_control' : 'treatment') as 'negative_control' | 'treatment',
    split: 'train', paths: [], extra: {}, source: `row ${i}`,
  }));
  const data = new Dataset({ rows, channels: ['dna', 'er', 'rna', 'agp', 'mito'], images: new MemoryImageStore({ height: size, width: size, channels, dtype: 'uint8' }, pixels), root: 'bench', layout: 'memory' });
  const cases = (opt(args, 'embed-cases') ?? 'resnet18:running,resnet18:plate,resnet18:plate-fit,resnet-small:running,resnet-small:plate').split(',');
  for (const c of cases) {
    // `plate-fit`: plate mode through the exact multi-pass statistics fit (no single-batch shortcut).
    const [bb, name] = c.split(':');
    const mode = (name === 'plate-fit' ? 'plate' : name) as 'running' | 'plate' | 'batch' | 'controls';
    const model = backbones.get(bb).build({ channels, size, seed: 0 });
    await embedDataset(model, data.subset([0, 1, 2, 3]), { normalization: 'running', batchSize: 4 }); // warm-up (kernels, allocation)
    process.stderr.write(`export bench: embed ${bb} ${name} (${data.size} images ${size}x${size}x${channels}, ${info.backend})...\n`);
    const { stats, table } = await embedDataset(model, data, { normalization: mode, batchSize: 32, singlePassMaxPixels: name === 'plate-fit' ? 0 : undefined });
    const seconds = stats.embedSeconds + stats.statsSeconds;
    console.log(JSON.stringify({
      case: 'embed', backbone: bb, mode: name, dim: table.d, images: stats.images, size, channels, backend: info.backend, threads: info.threads,
      seconds: +seconds.toFixed(2), imagesPerSec: +(stats.images / seconds).toFixed(1),
      forwardOnlyImagesPerSec: +(stats.images / stats.embedSeconds).toFixed(1),
    }));
    model.dispose();
  }
}

/**
 * `npm run bench -- export [--cases write,embed]`: the writers (one child each, then the reader
 * checks) and the embedder's inference rate.
 */
export async function run(args: string[]): Promise<void> {
  if (opt(args, 'child')) return runChild(args);
  const cases = (opt(args, 'cases') ?? 'write,embed').split(',');
  if (cases.includes('write')) await runWriteCase(args);
  if (cases.includes('embed')) await runEmbedCase(args);
}

/**
 * Case `write`: each writer in its own child process, `--reps` rounds interleaved (writer A, B, C,
 * A, B, C...) so machine load hits all alike; the line reports the fastest round and all rounds.
 * Readers check the first round's file.
 */
async function runWriteCase(args: string[]): Promise<void> {
  const n = Number(opt(args, 'rows') ?? 100_000);
  const d = Number(opt(args, 'dim') ?? 512);
  const reps = Number(opt(args, 'reps') ?? 1);
  const names = (opt(args, 'writers') ?? Object.keys(WRITERS).join(',')).split(',');
  for (const w of names) if (!WRITERS[w]) throw new Error(`unknown writer ${w}; known: ${Object.keys(WRITERS).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'ben-bench-export-'));
  const runs = new Map<string, Record<string, number>[]>();
  const checks = new Map<string, { readers: Record<string, string>; fileMB: number }>();
  const errors = new Map<string, string>();
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const w of names) {
        if (errors.has(w)) continue;
        const path = join(dir, `${w}.parquet`);
        process.stderr.write(`export bench: ${w} (${n} x ${d}) round ${rep + 1}/${reps}...\n`);
        const child = spawnSync(
          process.execPath,
          [...process.execArgv, '--expose-gc', process.argv[1], 'export', '--child', w, '--rows', String(n), '--dim', String(d), '--out', path],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 },
        );
        if (child.status !== 0) {
          errors.set(w, child.stderr.split('\n').map((l) => l.trim()).find((l) => /^\w*(Error|Exception):/.test(l)) ?? `exit ${child.status}`);
          continue;
        }
        const m = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, number>;
        runs.set(w, [...(runs.get(w) ?? []), m]);
        if (!checks.has(w)) checks.set(w, { readers: await checkReaders(path, n, d), fileMB: statSync(path).size / 2 ** 20 });
        rmSync(path, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const w of names) {
    const err = errors.get(w);
    if (err) {
      console.log(JSON.stringify({ case: 'write', writer: w, rows: n, dim: d, error: err }));
      continue;
    }
    const ms = runs.get(w)!;
    const best = ms.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    console.log(JSON.stringify({
      case: 'write',
      writer: w,
      rows: n,
      dim: d,
      seconds: +best.seconds.toFixed(3),
      rowsPerSec: Math.round(n / best.seconds),
      allSeconds: ms.map((m) => +m.seconds.toFixed(2)),
      fileMB: +checks.get(w)!.fileMB.toFixed(1),
      inputMB: +best.inputMB.toFixed(1),
      peakRssMB: Math.round(Math.max(...ms.map((m) => m.peakRssMB))),
      peakRssOverInputMB: Math.round(Math.max(...ms.map((m) => m.peakRssOverInputMB))),
      heapPeakOverInputMB: Math.round(Math.max(...ms.map((m) => m.heapPeakOverInputMB))),
      readers: checks.get(w)!.readers,
    }));
  }
}
