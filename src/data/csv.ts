import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { isUserError, UserError } from '../util/errors.ts';
import { decodeText, type TextEncoding } from '../util/text.ts';

/** A parsed CSV: header names and one record per data row, with its 1-based file line. */
export interface CsvTable {
  path: string;
  columns: string[];
  records: { line: number; values: Record<string, string> }[];
}

/** Reads a CSV file with a header row (csv-parse). A missing or unparsable file is a UserError. */
export async function readCsv(path: string, encoding: TextEncoding = 'utf8'): Promise<CsvTable> {
  let text: string;
  try {
    text = decodeText(await readFile(path), path, encoding);
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new UserError(`Cannot read metadata file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}. Check the path.`);
  }
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, relax_column_count: false, bom: true, trim: true }) as string[][];
  } catch (e) {
    throw new UserError(`Cannot parse CSV ${path}: ${(e as Error).message}. Fix the file (one header row, the same number of fields on every row).`);
  }
  if (rows.length === 0) throw new UserError(`CSV ${path} is empty; it needs a header row and one row per site.`);
  const columns = rows[0];
  const records = rows.slice(1).map((r, i) => {
    const values: Record<string, string> = {};
    columns.forEach((c, j) => (values[c] = r[j] ?? ''));
    // +2: 1-based lines and the header line (records never span lines in our metadata).
    return { line: i + 2, values };
  });
  return { path, columns, records };
}

/** Throws a UserError naming the file and the missing columns when `required` are not all present. */
export function requireColumns(table: CsvTable, required: readonly string[], hint: string): void {
  const missing = required.filter((c) => !table.columns.includes(c));
  if (missing.length > 0) {
    throw new UserError(
      `${table.path} is missing column(s) ${missing.join(', ')} (found: ${table.columns.join(', ')}). ${hint}`,
    );
  }
}

/** Formats rows as CSV text (quotes fields holding commas, quotes or newlines). */
export function toCsv(columns: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const esc = (v: string | number) => {
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.map(esc).join(','), ...rows.map((r) => r.map(esc).join(','))].join('\n') + '\n';
}
