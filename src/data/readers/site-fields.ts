/**
 * How the metadata columns of a user's table (a LoadData CSV, a plate map) become our site
 * fields: which column holds the treatment label, which the experiment, which wells are
 * controls. Shared by the readers of user tables so a recipe's `data` section and `ben embed`'s
 * flags mean the same thing for every layout.
 */
import { z } from 'zod';
import { UserError } from '../../util/errors.ts';
import type { ReaderOption } from './reader.ts';
import type { CsvTable } from '../csv.ts';
import { WELL_TYPES, type WellType } from '../types.ts';

/** Control wells: column -> value(s), e.g. `{ Metadata_control_type: negcon }` or `{ Compound: [DMSO, EMPTY] }`. */
export type ControlSpec = Record<string, string | number | (string | number)[]>;

/** The options every user-table reader takes (recipe `data.*`, `ben embed --label-column ...`). */
export interface SiteFieldOptions {
  /** Column of the treatment label (with or without `Metadata_`; default: the first of {@link LABEL_COLUMNS} present, prefixed or not, else ''). */
  labelColumn?: string;
  /**
   * Column(s) of the experiment / batch, joined with `/` (default: Metadata_Source + Metadata_Batch
   * when both exist (JUMP), else Metadata_Experiment or Metadata_Batch, else none).
   */
  experimentColumn?: string | string[];
  /**
   * Negative-control wells: column -> value(s). A plain list is a list of label values. Default:
   * a well-type column ({@link WELL_TYPE_COLUMNS}) when present, else the labels DMSO, EMPTY, negcon.
   */
  negativeControls?: ControlSpec | string[];
  /** Positive-control wells: column -> value(s) (default: the well-type column's `poscon*` values). */
  positiveControls?: ControlSpec;
}

const controlValues = z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()]))]);

/** `data.channels` / `--channels`: the channels to read, by name, in order (readers of user tables). */
export const CHANNELS_OPTION: ReaderOption = {
  schema: z.array(z.string()),
  describe: 'Channels to read, by name, in order (e.g. --channels DNA ER RNA AGP Mito)',
  flag: { form: 'strings' },
};

/** The {@link SiteFieldOptions} as reader options (recipe fields and flags of every user-table reader). */
export const SITE_FIELD_OPTIONS: Readonly<Record<string, ReaderOption>> = {
  labelColumn: { schema: z.string(), describe: 'Column of the treatment label (Metadata_ prefix optional)' },
  experimentColumn: {
    schema: z.union([z.string(), z.array(z.string())]),
    describe: 'Column(s) of the experiment, comma-separated (default Metadata_Source,Metadata_Batch when both exist)',
  },
  negativeControls: {
    schema: z.union([z.record(z.string(), controlValues), z.array(z.string())]),
    describe: 'Negative-control wells as COLUMN=VALUE (repeatable; e.g. Metadata_control_type=negcon, Compound=DMSO)',
    flag: { name: 'negative-control', form: 'pairs' },
  },
  positiveControls: {
    schema: z.record(z.string(), controlValues),
    describe: 'Positive-control wells as COLUMN=VALUE (repeatable)',
    flag: { name: 'positive-control', form: 'pairs' },
  },
};

/** Label columns looked for, in order, when none is named. */
export const LABEL_COLUMNS = ['Metadata_Treatment', 'Metadata_Label', 'Metadata_pert_iname', 'Metadata_JCP2022', 'Metadata_broad_sample', 'Metadata_Compound', 'Metadata_sirna'];

/** Well-type columns recognised without options (ours, RxRx1's, JUMP's). */
export const WELL_TYPE_COLUMNS = ['Metadata_WellType', 'Metadata_well_type', 'Metadata_control_type'];

/** Default negative-control labels when nothing else tells the well type. */
const DEFAULT_NEGATIVE_LABELS = ['DMSO', 'EMPTY', 'negcon'];

const WELL_TYPE_ALIASES: Record<string, WellType> = {
  treatment: 'treatment', trt: 'treatment', '': 'treatment',
  negative_control: 'negative_control', negcon: 'negative_control', ctl_vehicle: 'negative_control',
  positive_control: 'positive_control', poscon: 'positive_control',
};

/** The actual name of column `name` in `columns`, accepting it with or without the `Metadata_` prefix. */
export function findColumn(columns: readonly string[], name: string): string | undefined {
  if (columns.includes(name)) return name;
  if (columns.includes(`Metadata_${name}`)) return `Metadata_${name}`;
  if (name.startsWith('Metadata_') && columns.includes(name.slice(9))) return name.slice(9);
  return undefined;
}

/** {@link findColumn}, or a UserError naming the file, the option and the columns there are. */
export function requireColumn(table: CsvTable, name: string, option: string): string {
  const c = findColumn(table.columns, name);
  if (c === undefined) {
    throw new UserError(`${option} "${name}": ${table.path} has no such column (the "Metadata_" prefix may be left out). Columns: ${table.columns.join(', ')}.`);
  }
  return c;
}

/** The first of `names` the table has (each with or without `Metadata_`, as plate maps name them). */
function firstColumn(table: CsvTable, names: readonly string[]): string | undefined {
  for (const n of names) {
    const c = findColumn(table.columns, n);
    if (c !== undefined) return c;
  }
  return undefined;
}

/** The resolved field mapping of one table: call {@link SiteFields.of} per row. */
export interface SiteFields {
  labelColumn?: string;
  experimentColumns: string[];
  /** Label, experiment and well type of a row, or an error string naming the field. */
  of(values: Record<string, string>): { label: string; experiment: string; wellType: WellType } | string;
  /** What decides the well type, for the data set summary (`Metadata_control_type`, `Compound=DMSO`, ...). */
  describe: string;
}

function specOf(table: CsvTable, spec: ControlSpec, option: string): [string, Set<string>][] {
  return Object.entries(spec).map(([col, v]) => [requireColumn(table, col, `${option} column`), new Set((Array.isArray(v) ? v : [v]).map(String))]);
}

/** How each option is spelled in a recipe and on the command line, for messages. */
const OPTION_NAMES: Record<string, string> = {
  labelColumn: 'data.labelColumn (--label-column)',
  experimentColumn: 'data.experimentColumn (--experiment-column)',
  negativeControls: 'data.negativeControls (--negative-control)',
  positiveControls: 'data.positiveControls (--positive-control)',
};

/** Resolves {@link SiteFieldOptions} against `table` (every named column must exist). */
export function resolveSiteFields(table: CsvTable, o: SiteFieldOptions): SiteFields {
  const opt = (n: string) => OPTION_NAMES[n] ?? n;
  const labelColumn = o.labelColumn !== undefined ? requireColumn(table, o.labelColumn, opt('labelColumn')) : firstColumn(table, LABEL_COLUMNS);
  let experimentColumns: string[];
  if (o.experimentColumn !== undefined) {
    const names = Array.isArray(o.experimentColumn) ? o.experimentColumn : o.experimentColumn.split(',').map((s) => s.trim()).filter(Boolean);
    experimentColumns = names.map((n) => requireColumn(table, n, opt('experimentColumn')));
  } else if (table.columns.includes('Metadata_Source') && table.columns.includes('Metadata_Batch')) {
    experimentColumns = ['Metadata_Source', 'Metadata_Batch'];
  } else {
    const c = ['Metadata_Experiment', 'Metadata_Batch'].find((x) => table.columns.includes(x));
    experimentColumns = c ? [c] : [];
  }
  const neg = Array.isArray(o.negativeControls)
    ? labelColumn
      ? [[labelColumn, new Set(o.negativeControls)] as [string, Set<string>]]
      : (() => {
          throw new UserError(`${opt('negativeControls')}: a list of labels needs a label column, and ${table.path} has none of ${LABEL_COLUMNS.join(', ')}; name it with ${opt('labelColumn')}, or give the controls as column: value.`);
        })()
    : o.negativeControls
      ? specOf(table, o.negativeControls, opt('negativeControls'))
      : undefined;
  const pos = o.positiveControls ? specOf(table, o.positiveControls, opt('positiveControls')) : undefined;
  const wtCol = neg || pos ? undefined : firstColumn(table, WELL_TYPE_COLUMNS);
  const matches = (spec: [string, Set<string>][] | undefined, v: Record<string, string>) => spec?.some(([c, set]) => set.has(v[c])) ?? false;
  const describe = neg || pos
    ? [neg && `negative: ${neg.map(([c, s]) => `${c}=${[...s].join('|')}`).join(', ')}`, pos && `positive: ${pos.map(([c, s]) => `${c}=${[...s].join('|')}`).join(', ')}`].filter(Boolean).join('; ')
    : wtCol ?? (labelColumn ? `negative: ${labelColumn}=${DEFAULT_NEGATIVE_LABELS.join('|')}` : 'none (every well a treatment)');
  return {
    labelColumn,
    experimentColumns,
    describe,
    of(v) {
      const label = labelColumn ? v[labelColumn] : '';
      const experiment = experimentColumns.map((c) => v[c]).join('/');
      let wellType: WellType = 'treatment';
      if (neg || pos) {
        const isNeg = matches(neg, v), isPos = matches(pos, v);
        if (isNeg && isPos) return `the row matches both negativeControls and positiveControls; make them exclusive`;
        wellType = isNeg ? 'negative_control' : isPos ? 'positive_control' : 'treatment';
      } else if (wtCol) {
        const raw = v[wtCol];
        const wt = WELL_TYPE_ALIASES[raw] ?? (raw.startsWith('poscon') ? 'positive_control' : raw.startsWith('negcon') ? 'negative_control' : undefined);
        if (!wt) return `${wtCol} "${raw}" is not one of ${WELL_TYPES.join(', ')} (or negcon, poscon*, trt); fix it, or name the controls with negativeControls`;
        wellType = wt;
      } else if (labelColumn && DEFAULT_NEGATIVE_LABELS.includes(label)) {
        wellType = 'negative_control';
      }
      return { label, experiment, wellType };
    },
  };
}
