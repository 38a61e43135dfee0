// The events files are read back with a decoder written here from the format
// descriptions (TFRecord framing, protobuf wire format, TensorBoard's field
// numbers), sharing no code with the writer: a bitwise CRC-32C instead of the
// writer's table, a hand-rolled protobuf reader instead of protobufjs.
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { crc32c, maskCrc, maskedCrc32c } from '../src/log/crc32c.ts';
import { EventWriter, buildHistogram, DEFAULT_BUCKET_LIMITS, encodeRecord } from '../src/log/tensorboard.ts';

// ---------- independent reference decoder ----------

function refCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (~crc) >>> 0;
}

function refMask(crc: number): number {
  // rotate right 15, add 0xa282ead8, in 32-bit arithmetic, done with BigInt to avoid sharing the writer's trick
  const c = BigInt(crc);
  const rot = ((c >> 15n) | (c << 17n)) & 0xffffffffn;
  return Number((rot + 0xa282ead8n) & 0xffffffffn);
}

function readRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 12) throw new Error(`truncated header at ${off}`);
    const lenBytes = buf.subarray(off, off + 8);
    const len = Number(buf.readBigUInt64LE(off));
    if (buf.readUInt32LE(off + 8) !== refMask(refCrc32c(lenBytes))) throw new Error(`bad length crc at ${off}`);
    const data = buf.subarray(off + 12, off + 12 + len);
    if (data.length !== len || off + 16 + len > buf.length) throw new Error(`truncated record at ${off}`);
    if (buf.readUInt32LE(off + 12 + len) !== refMask(refCrc32c(data))) throw new Error(`bad data crc at ${off}`);
    out.push(Buffer.from(data));
    off += 16 + len;
  }
  return out;
}

type Field = { no: number; wire: number; varint?: bigint; bytes?: Buffer; fixed?: Buffer };

function parseMessage(buf: Buffer): Field[] {
  const fields: Field[] = [];
  let off = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[off++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  };
  while (off < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ no, wire, varint: varint() });
    else if (wire === 1) { fields.push({ no, wire, fixed: buf.subarray(off, off + 8) }); off += 8; }
    else if (wire === 5) { fields.push({ no, wire, fixed: buf.subarray(off, off + 4) }); off += 4; }
    else if (wire === 2) { const n = Number(varint()); fields.push({ no, wire, bytes: buf.subarray(off, off + n) }); off += n; }
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return fields;
}

const one = (fs_: Field[], no: number): Field | undefined => fs_.find((f) => f.no === no);
const dbl = (f?: Field): number => (f ? f.fixed!.readDoubleLE(0) : 0);
const flt = (f?: Field): number => (f ? f.fixed!.readFloatLE(0) : 0);
const int = (f?: Field): number => (f ? Number(BigInt.asIntN(64, f.varint!)) : 0);
const str = (f?: Field): string => (f ? f.bytes!.toString('utf8') : '');
function packedDoubles(f?: Field): number[] {
  if (!f) return [];
  const out: number[] = [];
  for (let i = 0; i < f.bytes!.length; i += 8) out.push(f.bytes!.readDoubleLE(i));
  return out;
}

interface DecodedValue {
  tag: string;
  simple?: number;
  histo?: { min: number; max: number; num: number; sum: number; sumSquares: number; limits: number[]; counts: number[] };
  image?: { height: number; width: number; colorspace: number; png: Buffer };
}
interface DecodedEvent { wallTime: number; step: number; fileVersion?: string; values: DecodedValue[] }

function decodeEvent(buf: Buffer): DecodedEvent {
  const f = parseMessage(buf);
  const ev: DecodedEvent = { wallTime: dbl(one(f, 1)), step: int(one(f, 2)), values: [] };
  if (one(f, 3)) ev.fileVersion = str(one(f, 3));
  const summary = one(f, 5);
  if (summary) {
    for (const v of parseMessage(summary.bytes!).filter((x) => x.no === 1)) {
      const vf = parseMessage(v.bytes!);
      const dv: DecodedValue = { tag: str(one(vf, 1)) };
      if (one(vf, 2)) dv.simple = flt(one(vf, 2));
      const h = one(vf, 5);
      if (h) {
        const hf = parseMessage(h.bytes!);
        dv.histo = {
          min: dbl(one(hf, 1)), max: dbl(one(hf, 2)), num: dbl(one(hf, 3)), sum: dbl(one(hf, 4)),
          sumSquares: dbl(one(hf, 5)), limits: packedDoubles(one(hf, 6)), counts: packedDoubles(one(hf, 7)),
        };
      }
      const im = one(vf, 4);
      if (im) {
        const imf = parseMessage(im.bytes!);
        dv.image = { height: int(one(imf, 1)), width: int(one(imf, 2)), colorspace: int(one(imf, 3)), png: Buffer.from(one(imf, 4)!.bytes!) };
      }
      ev.values.push(dv);
    }
  }
  return ev;
}

function readEvents(file: string): DecodedEvent[] {
  return readRecords(fs.readFileSync(file)).map(decodeEvent);
}

/** TensorFlow's default limits, rebuilt here from the description in tsl/lib/histogram. */
function refLimits(): number[] {
  const pos: number[] = [];
  let v = 1e-12;
  while (v < 1e20) { pos.push(v); v *= 1.1; }
  pos.push(Number.MAX_VALUE);
  return [...pos.map((x) => -x).reverse(), 0, ...pos];
}

// ---------- tests ----------

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-tb-'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => path.join(tmpRoot, `run${dirCount++}`);

describe('crc32c', () => {
  it('matches published check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    // RFC 3720 appendix B.4 vectors
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with a bitwise implementation and masks like TensorFlow', () => {
    let s = 12345;
    const data = Uint8Array.from({ length: 1000 }, () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24);
    for (const n of [1, 7, 8, 100, 1000]) {
      const d = data.subarray(0, n);
      expect(crc32c(d)).toBe(refCrc32c(d));
      expect(maskedCrc32c(d)).toBe(refMask(refCrc32c(d)));
    }
    // Hand-worked: crc 0 rotates to 0, so the mask is the delta itself; 1 rotates to 1<<17.
    expect(maskCrc(0)).toBe(0xa282ead8);
    expect(maskCrc(1)).toBe((0xa282ead8 + 0x20000) >>> 0);
  });

  it('frames a record as length, masked crc, data, masked crc', () => {
    const rec = encodeRecord(Buffer.from('abc'));
    expect(rec.length).toBe(3 + 16);
    expect(readRecords(rec)[0].toString()).toBe('abc');
  });
});

describe('histogram', () => {
  it('uses TensorFlow default bucket limits', () => {
    const ref = refLimits();
    expect(DEFAULT_BUCKET_LIMITS.length).toBe(ref.length);
    expect(DEFAULT_BUCKET_LIMITS.length).toBe(1551); // 775 per side + 0
    for (let i = 0; i < ref.length; i++) expect(DEFAULT_BUCKET_LIMITS[i]).toBe(ref[i]);
  });

  it('counts each value in [limit(i-1), limit(i)) and collapses empty runs', () => {
    const lim = refLimits();
    const zero = lim.indexOf(0);
    const h = buildHistogram([0, 1, -1, 0.5, 0.5]);
    expect(h.num).toBe(5);
    expect(h.min).toBe(-1);
    expect(h.max).toBe(1);
    expect(h.sum).toBeCloseTo(1, 12);
    expect(h.sum_squares).toBeCloseTo(2.5, 12);
    // 0 lies in [0, 1e-12): that bucket's limit is 1e-12.
    const i0 = h.bucket_limit.indexOf(lim[zero + 1]);
    expect(i0).toBeGreaterThan(0);
    expect(h.bucket[i0]).toBe(1);
    // Every non-empty bucket holds exactly the values in its range.
    const values = [0, 1, -1, 0.5, 0.5];
    for (let i = 0; i < h.bucket.length; i++) {
      if (h.bucket[i] === 0) continue;
      const hi = h.bucket_limit[i];
      const lo = lim[lim.indexOf(hi) - 1];
      expect(values.filter((v) => v >= lo && v < hi).length).toBe(h.bucket[i]);
    }
    // Collapsed: 4 non-empty buckets, separated and bounded by single empty entries.
    expect(h.bucket.filter((c) => c > 0)).toEqual([1, 1, 2, 1]);
    expect(h.bucket.length).toBe(9);
    expect(h.bucket_limit[h.bucket_limit.length - 1]).toBe(Number.MAX_VALUE);
    expect(h.bucket.reduce((a, b) => a + b, 0)).toBe(5);
  });

  it('keeps one bucket for an empty input and skips non-finite values', () => {
    const e = buildHistogram([]);
    expect(e.bucket).toEqual([0]);
    expect(e.bucket_limit).toEqual([Number.MAX_VALUE]);
    const n = buildHistogram([NaN, Infinity, 2]);
    expect(n.num).toBe(1);
    expect(n.sum).toBe(2);
  });
});

describe('EventWriter', () => {
  it('writes a file TensorBoard can parse: version record, scalars, histograms, images', () => {
    const dir = freshDir();
    const before = Date.now() / 1000;
    const w = new EventWriter(dir);
    expect(path.basename(w.file)).toMatch(new RegExp(`^events\\.out\\.tfevents\\.\\d{10}\\.${os.hostname().replace(/[.]/g, '\\.')}$`));
    const stamp = Number(path.basename(w.file).split('.')[3]);
    expect(Math.abs(stamp - before)).toBeLessThanOrEqual(2);

    w.scalar('train/loss', 2.25, 1);
    w.scalar('train/lr', 0.1, 1);
    w.scalar('train/loss', 1.5, 2);
    const weights = new Float32Array(200).map((_, i) => Math.sin(i) * 0.3);
    w.histogram('weights/conv1', weights, 2);
    const png = new PNG({ width: 3, height: 2 });
    for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37) % 256;
    const pngBytes = PNG.sync.write(png);
    w.image('views/augmented', pngBytes, 3, 2, 4, 5);
    w.close();

    const events = readEvents(w.file);
    expect(events.length).toBe(6);
    expect(events[0].fileVersion).toBe('brain.Event:2');
    expect(events[0].wallTime).toBeGreaterThanOrEqual(before - 1);
    for (const e of events) expect(e.wallTime).toBeLessThanOrEqual(Date.now() / 1000 + 1);

    expect(events[1]).toMatchObject({ step: 1, values: [{ tag: 'train/loss', simple: 2.25 }] });
    expect(events[2].values[0].tag).toBe('train/lr');
    expect(events[2].values[0].simple).toBeCloseTo(0.1, 7); // float32
    expect(events[3]).toMatchObject({ step: 2, values: [{ tag: 'train/loss', simple: 1.5 }] });

    const h = events[4].values[0].histo!;
    expect(events[4].values[0].tag).toBe('weights/conv1');
    const ref = buildHistogram(weights);
    expect(h.num).toBe(200);
    expect(h.min).toBe(Math.min(...weights));
    expect(h.max).toBe(Math.max(...weights));
    expect(h.sum).toBeCloseTo(weights.reduce((a, b) => a + b, 0), 9);
    expect(h.limits).toEqual(ref.bucket_limit);
    expect(h.counts).toEqual(ref.bucket);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(200);

    const im = events[5].values[0].image!;
    expect(events[5].step).toBe(5);
    expect(im).toMatchObject({ height: 2, width: 3, colorspace: 4 });
    const back = PNG.sync.read(im.png);
    expect(Buffer.from(back.data)).toEqual(Buffer.from(png.data));
  });

  it('buffers until flush and writes nothing after close', () => {
    const dir = freshDir();
    const w = new EventWriter(dir, { filenameSuffix: '.train', flushSecs: 3600 });
    expect(w.file.endsWith('.train')).toBe(true);
    expect(readEvents(w.file).length).toBe(1); // the version record is written at once
    for (let s = 0; s < 10; s++) w.scalar('x', s * s, s);
    expect(readEvents(w.file).length).toBe(1);
    w.flush();
    const ev = readEvents(w.file);
    expect(ev.length).toBe(11);
    expect(ev.slice(1).map((e) => [e.step, e.values[0].simple])).toEqual(Array.from({ length: 10 }, (_, s) => [s, s * s]));
    w.close();
    w.close(); // idempotent
    expect(() => w.scalar('x', 1, 11)).toThrow(/closed/);
  });

  it('flushes by itself when the buffer fills', () => {
    const w = new EventWriter(freshDir(), { maxBufferBytes: 200, flushSecs: 3600 });
    for (let s = 0; s < 20; s++) w.scalar('loss', 1, s);
    expect(readEvents(w.file).length).toBeGreaterThan(10);
    w.close();
    expect(readEvents(w.file).length).toBe(21);
  });

  it('gives two writers in one folder separate files and encodes large steps', () => {
    const dir = freshDir();
    const a = new EventWriter(dir);
    const b = new EventWriter(dir);
    expect(a.file).not.toBe(b.file);
    a.scalar('s', 1, 2 ** 40);
    a.close();
    b.close();
    expect(readEvents(a.file)[1].step).toBe(2 ** 40);
    expect(fs.readdirSync(dir).filter((f) => f.includes('tfevents')).length).toBe(2);
  });

  it('the reference decoder rejects a corrupted record', () => {
    const w = new EventWriter(freshDir());
    w.scalar('s', 3, 1);
    w.close();
    const buf = fs.readFileSync(w.file);
    buf[buf.length - 6] ^= 0x01; // inside the last record's data
    expect(() => readRecords(buf)).toThrow(/bad data crc/);
  });
});

describe('imagePixels', () => {
  it('encodes gray, gray+alpha, RGB and RGBA pixels as PNGs that decode to the same values', () => {
    const w = new EventWriter(freshDir());
    const width = 3;
    const height = 2;
    const inputs = [1, 2, 3, 4].map((c) => Uint8Array.from({ length: width * height * c }, (_, i) => (i * 53 + c) % 256));
    inputs.forEach((px, k) => w.imagePixels(`img/${k + 1}`, px, width, height, k + 1, k));
    w.close();
    const events = readEvents(w.file).slice(1);
    expect(events.length).toBe(4);
    events.forEach((e, k) => {
      const c = k + 1;
      const im = e.values[0].image!;
      expect(im).toMatchObject({ width, height, colorspace: c });
      expect(im.png[25]).toBe([0, 4, 2, 6][k]); // IHDR color type: gray, gray+alpha, RGB, RGBA
      const rgba = PNG.sync.read(im.png).data; // pngjs always decodes to RGBA
      const px = inputs[k];
      for (let p = 0; p < width * height; p++) {
        const src = px.subarray(p * c, p * c + c);
        const want = c === 1 ? [src[0], src[0], src[0], 255]
          : c === 2 ? [src[0], src[0], src[0], src[1]]
            : c === 3 ? [src[0], src[1], src[2], 255] : Array.from(src);
        expect(Array.from(rgba.subarray(p * 4, p * 4 + 4))).toEqual(want);
      }
    });
  });

  it('rejects a pixel buffer of the wrong size', () => {
    const w = new EventWriter(freshDir());
    expect(() => w.imagePixels('x', new Uint8Array(5), 2, 2, 1, 0)).toThrow(/5 bytes for 2x2x1/);
    w.close();
  });
});
