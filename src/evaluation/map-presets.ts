/**
 * mAP configurations in copairs' own vocabulary: the four pair lists (`pos_sameby`, `pos_diffby`,
 * `neg_sameby`, `neg_diffby`), row filters applied before pairing, and copairs'
 * `assign_reference_index` for activity against controls. The built-in analyses are named presets
 * of those lists, so a summary can print exactly what was computed.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { filterRows, metaColumn, metaName, selectRows } from '../tables/profile-table.ts';
import type { EvalColumns, PairLists, RowFilter } from './metric.ts';
import { Registry } from '../util/registry.ts';
import { UserError } from '../util/errors.ts';

/** The column copairs' `assign_reference_index` adds. */
export const REFERENCE_INDEX = 'Metadata_reference_index';

/** A resolved mAP configuration. */
export interface MapConfig {
  /** Preset name, or `custom` when every list came from the user. */
  preset: string;
  lists: PairLists;
  include: RowFilter[];
  exclude: RowFilter[];
  referenceIndex?: RowFilter;
}

/** A named mAP preset: the lists it derives from the named columns. */
export interface MapPreset {
  name: string;
  description: string;
  resolve(columns: EvalColumns, replicate: string[]): Omit<MapConfig, 'preset' | 'include'>;
}

/** mAP presets by name. */
export const mapPresets = new Registry<MapPreset>('mAP preset');

const controlsAsFilter = (c: EvalColumns): RowFilter[] => (c.control ? [{ column: c.control.column, value: c.control.value }] : []);

mapPresets.register('replicate', {
  name: 'replicate',
  description: 'replicate retrieval: replicates of a treatment on different plates against other treatments, controls left out',
  resolve: (c, rep) => ({
    lists: { posSameby: rep, posDiffby: c.plate ? [c.plate] : [], negSameby: [], negDiffby: rep },
    exclude: controlsAsFilter(c),
  }),
});

mapPresets.register('activity', {
  name: 'activity',
  description: 'phenotypic activity: replicates of a treatment against the negative controls (each control its own reference group)',
  resolve: (c, rep) => {
    if (!c.control) throw new UserError('The activity mAP needs the negative controls (--control Compound=DMSO).');
    const keys = [...rep, REFERENCE_INDEX];
    return {
      lists: { posSameby: keys, posDiffby: [], negSameby: [], negDiffby: keys },
      exclude: [],
      referenceIndex: { column: c.control.column, value: c.control.value },
    };
  },
});

mapPresets.register('moa', {
  name: 'moa',
  description: 'MoA retrieval: profiles of the same label (MoA) from other compounds against other labels, controls left out',
  resolve: (c) => {
    if (!c.label) throw new UserError('The MoA-retrieval mAP needs the label column (--label moa).');
    return {
      lists: { posSameby: [c.label], posDiffby: c.compound ? [c.compound] : [], negSameby: [], negDiffby: [c.label] },
      exclude: controlsAsFilter(c),
    };
  },
});

/** The user's copairs lists, filters and reference index, each replacing the preset's where given. */
export type MapOverrides = Partial<PairLists> & { include?: RowFilter[]; exclude?: RowFilter[]; referenceIndex?: RowFilter };

/**
 * The configuration of one mAP run: the preset's lists, each replaced by the user's list where
 * given (`overrides`), and the user's filters where given (else the preset's exclusions).
 */
export function resolveMapConfig(columns: EvalColumns, presetName: string, replicate: string[], overrides: MapOverrides = {}): MapConfig {
  const p = overrides;
  const given: Partial<PairLists> = Object.fromEntries((['posSameby', 'posDiffby', 'negSameby', 'negDiffby'] as const).filter((k) => p[k] !== undefined).map((k) => [k, p[k]]));
  const allGiven = (['posSameby', 'posDiffby', 'negSameby', 'negDiffby'] as const).every((k) => given[k] !== undefined);
  const base: Omit<MapConfig, 'preset' | 'include'> = allGiven
    ? { lists: { posSameby: [], posDiffby: [], negSameby: [], negDiffby: [] }, exclude: [] }
    : mapPresets.get(presetName).resolve(columns, replicate);
  const userFilters = p.include !== undefined || p.exclude !== undefined;
  const cfg: MapConfig = {
    preset: allGiven ? 'custom' : Object.keys(given).length ? `${presetName} (lists overridden)` : presetName,
    lists: {
      posSameby: given.posSameby ?? base.lists.posSameby,
      posDiffby: given.posDiffby ?? base.lists.posDiffby,
      negSameby: given.negSameby ?? base.lists.negSameby,
      negDiffby: given.negDiffby ?? base.lists.negDiffby,
    },
    include: userFilters ? p.include ?? [] : [],
    exclude: userFilters ? p.exclude ?? [] : base.exclude,
    referenceIndex: p.referenceIndex ?? base.referenceIndex,
  };
  if (cfg.lists.posSameby.length === 0 && cfg.lists.posDiffby.length === 0) throw new UserError('mAP: --pos-sameby and --pos-diffby are both empty; name at least one column.');
  if (cfg.lists.negSameby.length === 0 && cfg.lists.negDiffby.length === 0) throw new UserError('mAP: --neg-sameby and --neg-diffby are both empty; name at least one column.');
  return cfg;
}

/** `t` with copairs' reference index: the row number where `spec.column` equals `spec.value`, -1 elsewhere. */
export function withReferenceIndex(t: ProfileTable, spec: RowFilter): ProfileTable {
  const col = metaColumn(t, spec.column);
  return { ...t, meta: { ...t.meta, [REFERENCE_INDEX]: col.map((v, i) => (v === spec.value ? String(i) : '-1')) } };
}

/**
 * Rows of `t` passing the filters: for every column named by `include`, the row equals one of its
 * values; and it matches no `exclude`. Returns `t` itself when no filter is given.
 */
export function applyRowFilters(t: ProfileTable, include: RowFilter[], exclude: RowFilter[]): ProfileTable {
  if (!include.length && !exclude.length) return t;
  const inc = new Map<string, Set<string>>();
  for (const f of include) {
    const c = metaName(t, f.column);
    (inc.get(c) ?? inc.set(c, new Set()).get(c)!).add(f.value);
  }
  const exc = exclude.map((f) => ({ col: metaColumn(t, f.column), value: f.value }));
  const incCols = [...inc.entries()].map(([c, vals]) => ({ col: t.meta[c], vals }));
  const rows = filterRows(t, (i) => incCols.every(({ col, vals }) => vals.has(col[i])) && !exc.some(({ col, value }) => col[i] === value));
  if (rows.length === 0) throw new UserError(`The row filters (${formatFilters(include, exclude)}) leave no rows.`);
  return selectRows(t, rows);
}

/** `include Compound=DMSO; exclude ...`, or `none`. */
export function formatFilters(include: RowFilter[], exclude: RowFilter[]): string {
  const f = (xs: RowFilter[]) => xs.map((x) => `${x.column}=${x.value}`).join(',');
  const parts = [...(include.length ? [`include ${f(include)}`] : []), ...(exclude.length ? [`exclude ${f(exclude)}`] : [])];
  return parts.join('; ') || 'none';
}

/** `[a, b]` as copairs prints a list. */
export const formatList = (xs: string[]) => `[${xs.join(', ')}]`;

/** Parses `COL=VALUE` (a flag named `flag` in the message). */
export function parseRowFilter(s: string, flag: string): RowFilter {
  const at = s.indexOf('=');
  if (at <= 0) throw new UserError(`--${flag} "${s}": write Column=Value, e.g. Compound=DMSO.`);
  return { column: s.slice(0, at), value: s.slice(at + 1) };
}
