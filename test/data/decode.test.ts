import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage, encodePng, encodeTiff } from '../../src/data/decode.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ben-decode-'));
const ramp = (n: number, step: number) => Array.from({ length: n }, (_, i) => (i * step) % 256);

describe('decodeImage keeps channels and bit depth', () => {
  it('8-bit grey and 16-bit grey TIFF, grey and RGB PNG', async () => {
    const g8 = Uint8Array.from(ramp(6 * 5, 7));
    const g16 = Uint16Array.from({ length: 30 }, (_, i) => i * 2000);
    const rgb = Uint8Array.from(ramp(6 * 5 * 3, 3));
    const cases: [string, Buffer, ArrayLike<number>, number, string][] = [
      ['g8.tif', await encodeTiff(g8, 6, 5), g8, 1, 'uint8'],
      ['g16.tif', await encodeTiff(g16, 6, 5), g16, 1, 'uint16'],
      ['g8.png', await encodePng(g8, 6, 5, 1), g8, 1, 'uint8'],
      ['rgb.png', await encodePng(rgb, 6, 5, 3), rgb, 3, 'uint8'],
      ['g16.png', await sharp(g16, { raw: { width: 6, height: 5, channels: 1 } }).toColourspace('grey16').png().toBuffer(), g16, 1, 'uint16'],
    ];
    for (const [name, bytes, want, channels, dtype] of cases) {
      writeFileSync(join(tmp, name), bytes);
      const d = await decodeImage(join(tmp, name));
      expect([d.width, d.height, d.channels, d.dtype], name).toEqual([6, 5, channels, dtype]);
      expect(Array.from(d.data), name).toEqual(Array.from(want));
    }
  });

  it('refuses an alpha channel with a UserError naming the file', async () => {
    const f = join(tmp, 'rgba.png');
    writeFileSync(f, await sharp(new Uint8Array(4 * 4 * 4), { raw: { width: 4, height: 4, channels: 4 } }).png().toBuffer());
    await expect(decodeImage(f)).rejects.toThrow(/rgba\.png has an alpha channel/);
  });
});
