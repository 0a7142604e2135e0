/**
 * Where an upload's bytes come from: anything that can hand over a byte range on request.
 * A Blob or File (browsers, Node's `fs.openAsBlob`) is one; the Node entry adds a file path.
 * Parts are read one range at a time, so a file is never held in memory whole.
 */
export interface ByteSource {
  /** Total bytes. */
  readonly size: number;
  /** A file name to store it under, when the source knows one (a File's name). */
  readonly name?: string;
  /** A MIME type, when the source knows one (a File's type). */
  readonly type?: string;
  /** Bytes [start, end). */
  read(start: number, end: number): Promise<Uint8Array>;
  /**
   * Bytes [start, end) as a Blob, when the source is one (a File: the slice still points into
   * the file). A browser sends such a body from the file itself; bytes read into the page
   * would be copied to the network process once more (issue 16: ~2× the time per part).
   */
  slice?(start: number, end: number): Blob;
  /**
   * SHA-256 (hex) of bytes read from this source, when the runtime has a cheaper one than
   * WebCrypto's (the Node entry's file source uses node:crypto: about half the CPU).
   */
  sha256?(bytes: Uint8Array): Promise<string>;
  /**
   * Told that bytes returned by `read` are no longer used (their part was answered, or gave
   * up): a source may reuse that memory for a later read (the Node file source does: a fresh
   * 8 MiB buffer per part cost ~100k page faults per GiB).
   */
  release?(bytes: Uint8Array): void;
  /** Releases what the source holds open (a file handle). */
  close?(): Promise<void>;
}

/** A Blob or File as a ByteSource: each range is `blob.slice(start, end)`, read (or sent as is) when asked. */
export function blobSource(blob: Blob): ByteSource {
  const named = blob as Blob & { name?: unknown };
  return {
    size: blob.size,
    name: typeof named.name === 'string' && named.name !== '' ? named.name : undefined,
    type: blob.type || undefined,
    read: async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer()),
    slice: (start, end) => blob.slice(start, end),
  };
}

/** SHA-256 of `bytes` as 64 lower-case hex digits, with WebCrypto (browsers, Node ≥ 20, Deno, Bun). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}
