// Hostile image files, generated (no binary fixtures): each decodes to something
// odd or not at all. Shared by the data-source, embed and search tests.
import fs from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { crc32 } from 'node:zlib';

/** A PNG whose header declares width x height (50000 x 50000 = 2.5 gigapixels) over a few bytes of data. */
export function pngBomb(width = 50000, height = 50000): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 0; // 8-bit greyscale
  // A row or two of zeros: the real bomb would inflate to 2.5 GB.
  const idat = deflateSync(Buffer.alloc(2 * (width + 1)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * A looping 1x1 GIF of two frames, black then white (LZW by hand: clear, index, end
 * in 3-bit codes). Decoding the first frame gives 0, the second 255.
 */
export function twoFrameGif(): Buffer {
  const frame = (lzw: number) => [0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0x00, 0x02, 0x02, lzw, 0x01, 0x00];
  return Buffer.from([
    ...Buffer.from('GIF89a'), 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
    0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0'), 0x03, 0x01, 0x00, 0x00, 0x00,
    ...frame(0x44), ...frame(0x4c), 0x3b,
  ]);
}

const gradient = (w: number, h: number, c: 3 | 4) => {
  const px = Buffer.alloc(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const o = (y * w + x) * c;
    px[o] = (x * 255) / w; px[o + 1] = (y * 255) / h; px[o + 2] = 128;
    if (c === 4) px[o + 3] = 200;
  }
  return sharp(px, { raw: { width: w, height: h, channels: c } });
};

export interface HostileSet { dir: string; good: string[]; bad: string[]; odd: string[] }

/**
 * Writes into `dir`: decodable but unusual files (`odd`: 16-bit PNG, CMYK JPEG,
 * grey+alpha PNG, EXIF-rotated JPEG, animated GIF and WebP), undecodable ones
 * (`bad`: bomb, truncated JPEG, zero bytes, text named .jpg, a symlink loop)
 * and two plain PNGs (`good`). Names are relative to `dir`.
 */
export async function writeHostileImages(dir: string): Promise<HostileSet> {
  fs.mkdirSync(dir, { recursive: true });
  const w = (name: string, data: Buffer) => fs.writeFileSync(path.join(dir, name), data);
  w('good1.png', await gradient(24, 16, 3).png().toBuffer());
  w('good2.png', await gradient(16, 24, 3).flip().png().toBuffer());
  w('deep16.png', await gradient(20, 20, 3).toColourspace('rgb16').png().toBuffer());
  w('cmyk.jpg', await gradient(20, 20, 3).toColourspace('cmyk').jpeg().toBuffer());
  w('grey-alpha.png', await gradient(20, 20, 4).toColourspace('b-w').png().toBuffer());
  w('rotated.jpg', await gradient(30, 10, 3).jpeg().withMetadata({ orientation: 6 }).toBuffer());
  w('anim.gif', twoFrameGif());
  w('anim.webp', await sharp(twoFrameGif(), { animated: true }).webp().toBuffer());
  w('bomb.png', pngBomb());
  const jpg = await gradient(64, 64, 3).jpeg().toBuffer();
  w('truncated.jpg', jpg.subarray(0, Math.floor(jpg.length / 2)));
  w('empty.png', Buffer.alloc(0));
  w('notes.jpg', Buffer.from('this is not an image\n'));
  fs.symlinkSync('loop-b.png', path.join(dir, 'loop-a.png'));
  fs.symlinkSync('loop-a.png', path.join(dir, 'loop-b.png'));
  return {
    dir,
    good: ['good1.png', 'good2.png'],
    odd: ['deep16.png', 'cmyk.jpg', 'grey-alpha.png', 'rotated.jpg', 'anim.gif', 'anim.webp'],
    bad: ['bomb.png', 'truncated.jpg', 'empty.png', 'notes.jpg', 'loop-a.png', 'loop-b.png'],
  };
}
