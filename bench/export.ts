/** Benchmark suite `export` (placeholder until its issue lands). */
export async function run(_args: string[]): Promise<void> {
  console.error('bench suite "export" is not implemented yet');
  process.exit(2);
}
