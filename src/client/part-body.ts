/**
 * A byte range of an upload's source as a request body, with the SHA-256 of those bytes, in
 * the form that costs the runtime least:
 * - a browser with a Blob/File source sends the Blob slice itself: the network process reads
 *   it from the file, while the page reads the same slice only to hash it. Bytes handed to
 *   fetch as an ArrayBuffer are copied from the page to the network process once more:
 *   25–105 ms per 8 MiB part against 50–105 ms in plain Chromium, ~35–110 ms against ~800 ms
 *   when a DevTools client watches the network (issue 16);
 * - runtimes that stream request bodies (Node, Deno, Bun) get the bytes read once as a stream
 *   of 1 MiB views (undici spends about half the CPU on those that it spends on one 8 MiB
 *   body), which also gives progress within the part;
 * - any other runtime gets the bytes whole.
 */
import { sha256Hex, type ByteSource } from './source.js';
import { streamsRequestBodies, type CallOptions } from './transport.js';

export interface RangeBody {
  /** A value sent as is on every try, or a function that makes a fresh stream per try. */
  body: CallOptions['body'];
  /** Hex SHA-256 of the range, when asked for. */
  sha256?: string;
  /** Set when the body is a stream: fetch then needs the length told. */
  contentLength?: number;
  /** Call once the body is no longer needed (answered, or given up). */
  release(): void;
}
const nothing = (): void => undefined;

/** Bytes [start, end) of `source` as a body; `onSent(bytes, restart)` hears of a stream's progress. */
export async function rangeBody(
  source: ByteSource,
  start: number,
  end: number,
  checksum: boolean,
  onSent?: (bytes: number, restart: boolean) => void,
): Promise<RangeBody> {
  const streams = streamsRequestBodies();
  if (!streams && source.slice) {
    const slice = source.slice(start, end);
    // The bytes read here only feed the hash: they can be collected before the PUT starts.
    const sha256 = checksum ? await sha256Hex(new Uint8Array(await slice.arrayBuffer())) : undefined;
    return { body: slice, sha256, release: nothing };
  }
  const bytes = await source.read(start, end);
  const release = (): void => source.release?.(bytes);
  let sha256: string | undefined;
  try {
    sha256 = checksum ? await (source.sha256 ? source.sha256(bytes) : sha256Hex(bytes)) : undefined;
  } catch (err) {
    release();
    throw err;
  }
  if (streams) return { body: () => chunksOf(bytes, onSent), sha256, contentLength: bytes.length, release };
  return { body: bytes as Uint8Array<ArrayBuffer>, sha256, release };
}

const STREAM_CHUNK = 1024 * 1024;

/**
 * `bytes` as a stream of 1 MiB views (no copy), for runtimes that stream request bodies. A view
 * is counted as sent once the connection asks for the next one (or the body ends): progress
 * within a part.
 */
function chunksOf(bytes: Uint8Array, onSent?: (bytes: number, restart: boolean) => void): ReadableStream<Uint8Array> {
  let offset = 0;
  let pending = 0;
  onSent?.(0, true);
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pending > 0) onSent?.(pending, false);
        if (offset >= bytes.length) return controller.close();
        const chunk = bytes.subarray(offset, offset + STREAM_CHUNK);
        controller.enqueue(chunk);
        pending = chunk.length;
        offset += chunk.length;
      },
    },
    // No read-ahead: the next view is asked for when the connection took the last one.
    { highWaterMark: 0 },
  );
}
