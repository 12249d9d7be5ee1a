/**
 * `npm run bench -- <suite> [options]`: runs one benchmark suite and prints one JSON object per
 * line on stdout (progress and notices go to stderr).
 */
const suites: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  engine: () => import('./engine.ts'),
  data: () => import('./data.ts'),
  eval: () => import('./eval.ts'),
  export: () => import('./export.ts'),
  ben: () => import('./ben.ts'),
  ssl: () => import('./ssl.ts'),
  calibrate: () => import('./calibrate.ts'),
  scale: () => import('./scale.ts'),
  quickstart: () => import('./quickstart.ts'),
  tiff: () => import('./tiff.ts'),
  correct: () => import('./correct.ts'),
};

const [name, ...rest] = process.argv.slice(2);
if (!name || !(name in suites)) {
  console.error(`usage: npm run bench -- <${Object.keys(suites).join('|')}> [options]`);
  process.exit(2);
}
const suite = await suites[name]();
await suite.run(rest);
