import type { CommandModule } from 'yargs';
import { writeReport } from '../../report/report.ts';

interface ReportArgs {
  runDir: string;
  data?: string;
  out?: string;
  title?: string;
  seed: number;
  maxPoints: number;
  plateColumn?: string[];
  labelColumn?: string;
}

/** `ben report <run-dir>`: writes <run-dir>/report/index.html and figures/*.png. */
export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run-dir>',
  describe: 'Write the HTML report (UMAPs by plate and treatment, curves, metrics, example images) of a run directory',
  builder: (y) =>
    y
      .positional('run-dir', { type: 'string', demandOption: true, describe: 'Run directory (holds ben/, baseline/ with embeddings.parquet, metrics.jsonl, eval.json)' })
      .option('data', { type: 'string', describe: 'Data set in the RxRx1-WILDS layout to take one example image per plate from' })
      .option('out', { type: 'string', describe: 'Output folder (default <run-dir>/report)' })
      .option('title', { type: 'string', describe: 'Page title' })
      .option('seed', { type: 'number', default: 0, describe: 'UMAP seed' })
      .option('max-points', { type: 'number', default: 2000, describe: 'Images per UMAP at most (seeded subsample)' })
      .option('plate-column', { type: 'string', array: true, describe: 'Column(s) identifying a plate (default Metadata_Experiment Metadata_Plate)' })
      .option('label-column', { type: 'string', describe: 'Treatment column (default Metadata_Label)' }) as never,
  handler: async (argv) => {
    const res = await writeReport(argv.runDir, {
      datasetDir: argv.data,
      outDir: argv.out,
      title: argv.title,
      umap: { seed: argv.seed, maxPoints: argv.maxPoints },
      plateColumns: argv.plateColumn,
      labelColumn: argv.labelColumn,
    });
    for (const n of res.notes) console.error(`note: ${n}`);
    console.log(`report: ${res.htmlPath} (${res.figures.length} PNG figures, runs: ${res.runs.join(', ')})`);
  },
};
