// TensorBoard event files written directly: tfjs-node's summary writer is not
// available with the pure-JS backends, so we produce the on-disk format
// ourselves. An events file is a TFRecord stream of serialized `Event`
// protobufs (schemas in ./proto, copied from TensorBoard with identical field
// numbers). Values use the classic encodings (simple_value, HistogramProto,
// Summary.Image) that TensorBoard migrates to its plugin formats on load, the
// same ones PyTorch's SummaryWriter writes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import protobuf from 'protobufjs';
import { maskedCrc32c } from './crc32c.ts';

export const FILE_VERSION = 'brain.Event:2';

/** Writer options. */
export interface EventWriterOptions {
  /** Appended to the file name, e.g. '.train'. */
  filenameSuffix?: string;
  /** Buffered bytes that trigger a write to disk (default 1 MiB). */
  maxBufferBytes?: number;
  /** A write later than this many seconds after the last flush flushes (default 10), so a live TensorBoard sees progress. */
  flushSecs?: number;
}

/** Plain-object shape of a HistogramProto (field names as in histogram.proto). */
export interface Histogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sum_squares: number;
  bucket_limit: number[];
  bucket: number[];
}

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

/** The Event message type, parsed once from TensorBoard's .proto files (field names kept as written there). */
const EVENT_TYPE: protobuf.Type = new protobuf.Root()
  .loadSync(path.join(PROTO_DIR, 'event.proto'), { keepCase: true })
  .lookupType('tensorboard.Event');

/** Frames one record as TFRecord: u64 length, masked CRC32C of the length, data, masked CRC32C of the data (all little-endian). */
export function encodeRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/**
 * TensorFlow's default histogram bucket limits (tsl/lib/histogram): +-1e-12
 * growing by 10% per bucket up to 1e20, closed by +-DBL_MAX, with 0 in the middle.
 */
export const DEFAULT_BUCKET_LIMITS: readonly number[] = Object.freeze((() => {
  const pos: number[] = [];
  for (let v = 1e-12; v < 1e20; v *= 1.1) pos.push(v);
  pos.push(Number.MAX_VALUE);
  const neg = pos.map((v) => -v).reverse();
  return [...neg, 0, ...pos];
})());

/** First index i with limits[i] > v (std::upper_bound), i.e. the bucket TensorFlow puts v in. */
function upperBound(limits: readonly number[], v: number): number {
  let lo = 0;
  let hi = limits.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (limits[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Builds a HistogramProto the way TensorFlow's Histogram::EncodeToProto does
 * (runs of empty buckets collapsed into one). Non-finite values are skipped:
 * TensorFlow refuses them, and a diverging run already shows in its loss.
 */
export function buildHistogram(values: ArrayLike<number>, limits: readonly number[] = DEFAULT_BUCKET_LIMITS): Histogram {
  const counts = new Float64Array(limits.length);
  let min = Number.MAX_VALUE;
  let max = -Number.MAX_VALUE;
  let num = 0;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    counts[Math.min(upperBound(limits, v), limits.length - 1)] += 1;
    if (v < min) min = v;
    if (v > max) max = v;
    num += 1;
    sum += v;
    sumSq += v * v;
  }
  const bucket_limit: number[] = [];
  const bucket: number[] = [];
  for (let i = 0; i < counts.length;) {
    let end = limits[i];
    let count = counts[i];
    i++;
    if (count <= 0) {
      while (i < counts.length && counts[i] <= 0) {
        end = limits[i];
        count = counts[i];
        i++;
      }
    }
    bucket_limit.push(end);
    bucket.push(count);
  }
  return { min, max, num, sum, sum_squares: sumSq, bucket_limit, bucket };
}

const PNG_COLOR_TYPE: Record<number, 0 | 2 | 4 | 6> = { 1: 0, 2: 4, 3: 2, 4: 6 };

/** PNG of packed uint8 HWC pixels, keeping the channel count (gray, gray+alpha, RGB, RGBA). */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: number): Buffer {
  const colorType = PNG_COLOR_TYPE[channels];
  if (colorType === undefined) throw new Error(`encodePng: channels must be 1..4, got ${channels}`);
  if (pixels.length !== width * height * channels) throw new Error(`encodePng: ${pixels.length} bytes for ${width}x${height}x${channels}`);
  // pngjs takes RGBA input whatever the output color type.
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0, o = 0; i < pixels.length; i += channels, o += 4) {
    const gray = channels <= 2;
    rgba[o] = pixels[i];
    rgba[o + 1] = gray ? pixels[i] : pixels[i + 1];
    rgba[o + 2] = gray ? pixels[i] : pixels[i + 2];
    rgba[o + 3] = channels === 2 ? pixels[i + 1] : channels === 4 ? pixels[i + 3] : 255;
  }
  const png = new PNG({ width, height, colorType, inputColorType: 6, inputHasAlpha: true });
  rgba.copy(png.data);
  return PNG.sync.write(png, { colorType, inputColorType: 6, inputHasAlpha: true });
}

/** File name TensorFlow's writers use: events.out.tfevents.<unix seconds>.<hostname><suffix>. */
export function eventFileName(seconds: number, hostname: string, suffix = ''): string {
  return `events.out.tfevents.${Math.floor(seconds)}.${hostname}${suffix}`;
}

/** Opens a new events file exclusively; a second writer in the same second and folder gets '.1', '.2', ... appended. */
function openUnique(dir: string, base: string): { fd: number; file: string } {
  for (let n = 0; ; n++) {
    const file = path.join(dir, n === 0 ? base : `${base}.${n}`);
    try {
      return { fd: fs.openSync(file, 'wx'), file };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || n > 1000) throw e;
    }
  }
}

/** Writes one TensorBoard events file. Records are buffered and written on flush(), close(), a full buffer or a stale buffer. */
export class EventWriter {
  /** Absolute path of the events file. */
  readonly file: string;
  private fd: number | null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lastFlushMs: number;
  private readonly maxBufferBytes: number;
  private readonly flushMs: number;

  constructor(dir: string, opts: EventWriterOptions = {}) {
    fs.mkdirSync(dir, { recursive: true });
    const now = Date.now();
    const opened = openUnique(dir, eventFileName(now / 1000, os.hostname(), opts.filenameSuffix ?? ''));
    this.fd = opened.fd;
    this.file = path.resolve(opened.file);
    this.maxBufferBytes = opts.maxBufferBytes ?? 1 << 20;
    this.flushMs = (opts.flushSecs ?? 10) * 1000;
    this.lastFlushMs = now;
    this.write({ wall_time: now / 1000, step: 0, file_version: FILE_VERSION, source_metadata: { writer: 'selfsup' } });
    this.flush();
  }

  scalar(tag: string, value: number, step: number): void {
    this.summary(step, { tag, simple_value: value });
  }

  histogram(tag: string, values: Float32Array | number[], step: number): void {
    this.summary(step, { tag, histo: buildHistogram(values) });
  }

  /** `png` is an encoded PNG; channels 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA). */
  image(tag: string, png: Buffer, width: number, height: number, channels: number, step: number): void {
    if (!(channels >= 1 && channels <= 4)) throw new Error(`EventWriter.image: channels must be 1..4, got ${channels}`);
    this.summary(step, { tag, image: { height, width, colorspace: channels, encoded_image_string: png } });
  }

  /** Encodes packed uint8 HWC pixels (channels 1..4) as PNG and logs them, e.g. a grid of augmented views. */
  imagePixels(tag: string, pixels: Uint8Array, width: number, height: number, channels: number, step: number): void {
    this.image(tag, encodePng(pixels, width, height, channels), width, height, channels, step);
  }

  flush(): void {
    const fd = this.openFd();
    if (this.pendingBytes > 0) {
      const data = Buffer.concat(this.pending, this.pendingBytes);
      let off = 0;
      while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
      this.pending = [];
      this.pendingBytes = 0;
    }
    this.lastFlushMs = Date.now();
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private summary(step: number, value: Record<string, unknown>): void {
    if (!Number.isInteger(step)) throw new Error(`EventWriter: step must be an integer, got ${step}`);
    this.write({ wall_time: Date.now() / 1000, step, summary: { value: [value] } });
  }

  private write(event: Record<string, unknown>): void {
    this.openFd();
    const bytes = EVENT_TYPE.encode(EVENT_TYPE.fromObject(event)).finish();
    const rec = encodeRecord(bytes);
    this.pending.push(rec);
    this.pendingBytes += rec.length;
    if (this.pendingBytes >= this.maxBufferBytes || Date.now() - this.lastFlushMs >= this.flushMs) this.flush();
  }

  private openFd(): number {
    if (this.fd === null) throw new Error(`EventWriter: ${this.file} is closed`);
    return this.fd;
  }
}
