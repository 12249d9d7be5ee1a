import { DataError } from './errors.ts';

/** Text encodings a metadata or profile file may be read with. */
export const TEXT_ENCODINGS = ['utf8', 'latin1'] as const;
export type TextEncoding = (typeof TEXT_ENCODINGS)[number];

/**
 * Decodes a text file's bytes. UTF-8 is checked strictly: bytes that are not valid UTF-8 (a
 * Latin-1 "é" from a spreadsheet export, say) are a {@link DataError} naming the file, line and
 * byte, instead of replacement characters that silently merge two labels into one.
 */
export function decodeText(bytes: Uint8Array, path: string, encoding: TextEncoding = 'utf8', flag?: string): string {
  if (encoding === 'latin1') return new TextDecoder('latin1').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new DataError(
      `${path} line ${line} is not valid UTF-8 (byte 0x${bytes[at].toString(16).padStart(2, '0')} at offset ${at}); the file is probably Latin-1 or Windows-1252. Save it as UTF-8 (iconv -f latin1 -t utf-8 in > out)${flag ? `, or read it with ${flag} latin1` : ''}.`,
    );
  }
}

/** Offset of the first byte that breaks UTF-8 (RFC 3629), or the length when there is none. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return b.length;
}
