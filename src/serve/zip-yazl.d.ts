/** The small part of yazl 3 (CommonJS, untyped) that zip-stored.ts uses. */
declare module 'yazl' {
  import { EventEmitter } from 'node:events';
  import type { PassThrough, Readable } from 'node:stream';

  export interface ReadStreamOptions {
    size?: number;
    compress?: boolean;
    mtime?: Date;
    mode?: number;
    forceZip64Format?: boolean;
  }

  export class ZipFile extends EventEmitter {
    readonly outputStream: PassThrough;
    addReadStreamLazy(
      metadataPath: string,
      options: ReadStreamOptions,
      getReadStream: (cb: (err: Error | null, stream?: Readable) => void) => void,
    ): void;
    /** The callback gets the archive's exact length, or -1 when it cannot be known. */
    end(options: { forceZip64Format?: boolean }, calculatedTotalSize: (bytes: number) => void): void;
  }
}
