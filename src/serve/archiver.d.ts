/** The small part of archiver 8 (ESM, untyped) that zip.ts uses. */
declare module 'archiver' {
  import { Transform } from 'node:stream';

  export interface ZipArchiveOptions {
    store?: boolean;
    zlib?: { level?: number };
    forceZip64?: boolean;
    highWaterMark?: number;
  }

  export interface EntryData {
    name: string;
    date?: Date;
    mode?: number;
  }

  export class ZipArchive extends Transform {
    constructor(options?: ZipArchiveOptions);
    append(source: NodeJS.ReadableStream | Buffer | string, data: EntryData): this;
    finalize(): Promise<void>;
    abort(): this;
    pointer(): number;
  }
}
