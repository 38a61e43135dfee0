// Random access to bytes, from a file (read at offsets through libuv's thread pool,
// so a prefetched batch is read while the main thread trains) or from memory
// (a gunzipped IDX file). Datasets read records through this, never whole files.
import fs from 'node:fs';
import { UserError } from '../util/errors.ts';

export interface ByteSource {
  /** Human-readable origin for messages: a path. */
  readonly name: string;
  readonly size: number;
  /** Copies `length` bytes at `position` into `into` at `offset`. */
  readAt(position: number, length: number, into: Uint8Array, offset: number): Promise<void>;
  /** Synchronous variant for headers and label bytes; returns the bytes actually read. */
  readSyncAt(position: number, length: number, into: Uint8Array, offset: number): number;
  close(): void;
}

export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | null;

  constructor(readonly name: string) {
    try {
      this.fd = fs.openSync(name, 'r');
    } catch (e) {
      throw new UserError(`${name}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    this.size = fs.fstatSync(this.fd).size;
  }

  readAt(position: number, length: number, into: Uint8Array, offset: number): Promise<void> {
    const fd = this.fd;
    if (fd === null) return Promise.reject(new Error(`${this.name}: read after close`));
    return new Promise((resolve, reject) => {
      fs.read(fd, into, offset, length, position, (err, n) => {
        if (err) reject(err);
        else if (n !== length) reject(new Error(`${this.name}: short read at ${position} (${n} of ${length} bytes); was the file changed?`));
        else resolve();
      });
    });
  }

  readSyncAt(position: number, length: number, into: Uint8Array, offset: number): number {
    if (this.fd === null) throw new Error(`${this.name}: read after close`);
    return fs.readSync(this.fd, into, offset, length, position);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(readonly name: string, private readonly bytes: Uint8Array) { this.size = bytes.length; }

  readAt(position: number, length: number, into: Uint8Array, offset: number): Promise<void> {
    into.set(this.bytes.subarray(position, position + length), offset);
    return Promise.resolve();
  }

  readSyncAt(position: number, length: number, into: Uint8Array, offset: number): number {
    const part = this.bytes.subarray(position, position + length);
    into.set(part, offset);
    return part.length;
  }

  close(): void {}
}
