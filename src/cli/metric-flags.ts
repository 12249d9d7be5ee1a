/**
 * `ben evaluate`'s metric flags, derived from the metrics' own option schemas: the field
 * `nullSize` of `map` is `--null-size`, with its description and default; metrics declaring an
 * option of the same name share its flag.
 */
import type { Argv, Options } from 'yargs';
import { distributeOptions, kebab, metrics } from '../evaluation/metric.ts';
import '../evaluation/metrics.ts';
import { fieldValue, optionFields, type OptionField } from '../util/option-fields.ts';

const GROUP = 'Metric options (each applies to the metrics that have it):';

/** Every metric option field, once per name, with the metrics that declare it. */
export function metricOptionFields(): (OptionField & { flag: string; metrics: string[] })[] {
  const byName = new Map<string, OptionField & { flag: string; metrics: string[] }>();
  for (const name of metrics.inOrder()) {
    for (const f of optionFields(metrics.get(name).options.shape)) {
      const seen = byName.get(f.name);
      if (seen) {
        if (seen.kind !== f.kind) throw new Error(`metric option "${f.name}" is a ${f.kind} in ${name} but a ${seen.kind} in ${seen.metrics[0]}; give one of them another name`);
        seen.metrics.push(name);
      } else byName.set(f.name, { ...f, flag: kebab(f.name), metrics: [name] });
    }
  }
  return [...byName.values()];
}

const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));

/** Adds a flag per metric option field (no yargs default: each metric's schema fills its own). */
export function metricFlags<T>(y: Argv<T>): Argv<T> {
  let out = y;
  for (const f of metricOptionFields()) {
    const used = f.metrics.length > 2 ? `${f.metrics.length} metrics` : f.metrics.join(', ');
    const dflt = f.default !== undefined ? ` (default ${show(f.default)})` : '';
    const o: Options = { group: GROUP, describe: `${f.description}${dflt} [${used}]` };
    if (f.kind === 'number') o.type = 'number';
    else if (f.kind === 'boolean') o.type = 'boolean';
    else if (f.kind === 'repeat') Object.assign(o, { type: 'string', array: true, nargs: 1 });
    else o.type = 'string';
    if (f.kind === 'enum' && f.choices) o.choices = f.choices;
    out = out.option(f.flag, o);
  }
  return out;
}

/** The options given on the command line, per metric that declares them. */
export function metricOptionsOf(argv: Record<string, unknown>): Record<string, Record<string, unknown>> {
  return distributeOptions(Object.fromEntries(metricOptionFields().map((f) => [f.name, fieldValue(f, argv[f.flag])])));
}

/** Where a field comes from on the command line, for messages. */
export const flagOf = (field: string): string => `--${kebab(field)}`;
