/**
 * The fields of a zod options schema described for a command line: kind, choices, default and
 * the description, so flags derive from the one schema instead of a hand-kept copy.
 */
import type { z } from 'zod';

/** How a field reads from a flag. */
export type FieldKind = 'number' | 'string' | 'boolean' | 'enum' | 'number-list' | 'string-list' | 'repeat';

/** One schema field as a flag sees it. */
export interface OptionField {
  name: string;
  kind: FieldKind;
  description: string;
  /** The schema's default, when it has one. */
  default?: unknown;
  /** Enum values (of the field, or of a list's elements). */
  choices?: string[];
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  entries?: Record<string, string>;
  defaultValue?: unknown;
  in?: z.ZodType;
  options?: z.ZodType[];
}
const def = (s: z.ZodType): Def => (s as unknown as { def: Def }).def;

/** The field's schema without optional / default / pipe wrappers, and its default. */
function unwrap(s: z.ZodType): { core: z.ZodType; defaultValue?: unknown } {
  let core = s;
  let defaultValue: unknown;
  for (;;) {
    const d = def(core);
    if (d.type === 'default') defaultValue = typeof d.defaultValue === 'function' ? (d.defaultValue as () => unknown)() : d.defaultValue;
    if ((d.type === 'optional' || d.type === 'default' || d.type === 'nullable') && d.innerType) core = d.innerType;
    else if (d.type === 'pipe' && d.in) core = d.in;
    else return { core, defaultValue };
  }
}

/** Kind of a list element or scalar. */
function scalarKind(s: z.ZodType): { kind: 'number' | 'string' | 'boolean' | 'enum'; choices?: string[] } {
  const d = def(unwrap(s).core);
  if (d.type === 'number' || d.type === 'int') return { kind: 'number' };
  if (d.type === 'boolean') return { kind: 'boolean' };
  if (d.type === 'enum') return { kind: 'enum', choices: Object.values(d.entries ?? {}) };
  return { kind: 'string' };
}

/** The fields of an object schema's `shape`. */
export function optionFields(shape: Record<string, z.ZodType>): OptionField[] {
  return Object.entries(shape).map(([name, s]) => {
    const { core, defaultValue } = unwrap(s);
    const meta = (s as unknown as { meta(): { repeat?: boolean; description?: string } | undefined }).meta?.() ?? {};
    const description = meta.description ?? (s as unknown as { description?: string }).description ?? (core as unknown as { description?: string }).description ?? '';
    const d = def(core);
    if (d.type === 'array' && d.element) {
      if (meta.repeat) return { name, kind: 'repeat', description, default: defaultValue };
      const el = scalarKind(d.element);
      return { name, kind: el.kind === 'number' ? 'number-list' : 'string-list', description, default: defaultValue, choices: el.choices };
    }
    const k = scalarKind(core);
    return { name, kind: k.kind, description, default: defaultValue, choices: k.choices };
  });
}

/** A flag's raw value as the field's schema expects it: comma lists split ("" is an empty list), numbers parsed. */
export function fieldValue(f: OptionField, raw: unknown): unknown {
  if (raw === undefined) return undefined;
  if (f.kind === 'number-list' || f.kind === 'string-list') {
    const parts = String(raw).split(',').map((x) => x.trim()).filter(Boolean);
    return f.kind === 'number-list' ? parts.map(Number) : parts;
  }
  if (f.kind === 'repeat') return (Array.isArray(raw) ? raw : [raw]).map(String);
  return raw;
}
