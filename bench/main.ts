/**
 * `npm run bench -- <suite> [options]`: runs one benchmark suite and prints one JSON object per
 * line on stdout (progress and notices go to stderr).
 */
const suites: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
};

const [name, ...rest] = process.argv.slice(2);
if (!name || !(name in suites)) {
  console.error(`usage: npm run bench -- <${Object.keys(suites).join('|')}> [options]`);
  process.exit(2);
}
const suite = await suites[name]();
await suite.run(rest);
