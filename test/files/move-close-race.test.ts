/**
 * A move racing the close of the upload its file came from, on S3 (issue 17). A chunked
 * upload's file is an alias of the completed upload; the close (abortUpload after the record
 * commit: the completion's own, or the sweep's re-run of a failed one) decides from the alias
 * and the `.committed` marker whether the completed object holds a file. A move makes a new
 * alias, points the marker at it and deletes the old one, so a move inside a close could make
 * the close remove the moved file's bytes, or leave the marker naming the old alias (a leak
 * once the file goes). The close lease (src/files/close-lease.ts) keeps them apart.
 *
 * Each interleaving is forced, not hoped for: the server's own S3 client is paused at one
 * request of the close (a gate), the move is sent, and the gate opens once the move either
 * finished (what happened before the lease) or found a close holding the lease (it then
 * waits). Runs in the default project on its own S3 place (SQLite records); it passes on
 * PostgreSQL too, left out of that project to save time (vitest.config.ts).
 */
import { AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeLeaseName } from '../../src/files/close-lease.js';
import type { S3BlobStore } from '../../src/storage/s3/s3-store.js';
import { ManualClock } from '../../src/util/clock.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { describeS3, freshS3, listObjects, type S3Place } from '../helpers/s3.js';
import { storageUrl } from '../serve/serve-helpers.js';
import { bytes, complete, initOne, putPart } from './upload-kit.js';

type Command = { input: { Key?: string } };

/** A one-shot pause of the server's S3 client at the first request `matches` picks. */
interface Gate {
  /** Resolves when a request reached the gate (and now waits there). */
  hit: Promise<void>;
  open(): void;
}

describeS3('a move racing the close of its upload (S3)', () => {
  let s: TestServer;
  let place: S3Place;
  const clock = new ManualClock();
  const gates: { matches: (cmd: Command, phase: 'before' | 'after') => boolean; hit: () => void; opened: Promise<void> }[] = [];
  let refused: (() => void) | undefined;

  beforeAll(async () => {
    place = await freshS3('mvclose');
    s = await startTestServer(place.env, undefined, { clock });
    const client = (s.app.ctx.blobs as S3BlobStore).client;
    const send = client.send.bind(client) as (cmd: unknown, ...rest: unknown[]) => Promise<unknown>;
    const pass = async (cmd: Command, phase: 'before' | 'after') => {
      const i = gates.findIndex((g) => g.matches(cmd, phase));
      if (i < 0) return;
      const [gate] = gates.splice(i, 1);
      gate!.hit();
      await gate!.opened;
    };
    (client as { send: unknown }).send = async (cmd: Command, ...rest: unknown[]) => {
      await pass(cmd, 'before');
      try {
        return await send(cmd, ...rest);
      } finally {
        await pass(cmd, 'after');
      }
    };
    // Tells the test a move found a close holding the file's lease (it then waits).
    const leases = s.app.ctx.store.leases;
    const holderOf = leases.holder.bind(leases);
    leases.holder = async (name, now) => {
      const holder = await holderOf(name, now);
      if (holder !== null && name.startsWith('close:')) refused?.();
      return holder;
    };
  });
  afterAll(async () => {
    await s?.close();
    await place?.drop();
  });

  const gate = (matches: (cmd: Command, phase: 'before' | 'after') => boolean): Gate => {
    let hit!: () => void;
    let open!: () => void;
    const g = { hit: new Promise<void>((r) => (hit = r)), opened: new Promise<void>((r) => (open = r)) };
    gates.push({ matches, hit, opened: g.opened });
    return { hit: g.hit, open };
  };
  const is = (cmd: Command, type: new (...a: never[]) => unknown, suffix: string) => cmd instanceof type && (cmd.input.Key ?? '').endsWith(suffix);
  /**
   * The close's read of the marker (it reads "none"), not the one the completion makes before
   * it joins the parts: only once the close began (AbortMultipartUpload of the upload).
   */
  const closeReadsMarker = (id: string) => {
    let closing = false;
    return (cmd: Command, phase: 'before' | 'after') => {
      closing ||= is(cmd, AbortMultipartUploadCommand, `.uploads/${id}`);
      return closing && phase === 'after' && is(cmd, GetObjectCommand, `.uploads/${id}.committed`);
    };
  };
  /** Resolves the next time a move finds a close under way. */
  const nextRefusal = () => new Promise<void>((r) => (refused = r));

  const move = (from: string, to: string) => s.asService({ method: 'POST', url: '/v1/files/move', payload: { from, to } });
  const served = async (key: string) => {
    const res = await s.asService({ method: 'GET', url: storageUrl(key) });
    return res.statusCode === 200 ? res.rawPayload : res.statusCode;
  };
  /** The objects the upload's staging holds (the completed object, its records). */
  const staging = async (uploadId: string) => (await listObjects(place.bucket, `${place.prefix}.uploads/${uploadId}`)).map((o) => o.Key!);

  /** An upload with its one part sent, ready to complete (its file will be an alias). */
  const ready = async (user: string) => {
    const data = bytes(9000);
    const id = await initOne(s, user, { name: 'a.bin', size: data.length }, { mode: 'single' });
    expect((await putPart(s, id, 1, data)).statusCode).toBe(200);
    return { id, data };
  };
  const fileKeyOf = async (id: string) => (await s.app.ctx.store.uploads.getUpload(id))!.fileKey!;
  /** Completes the upload with its close failing: the upload is left completed, for the sweep to close. */
  const completeLeavingClose = async (id: string) => {
    const blobs = s.app.ctx.blobs;
    const abortUpload = blobs.abortUpload;
    blobs.abortUpload = async () => {
      throw new Error('S3 unreachable (test)');
    };
    try {
      expect((await complete(s, id)).statusCode).toBe(201);
    } finally {
      blobs.abortUpload = abortUpload;
    }
    expect(await staging(id)).not.toContain(`${place.prefix}.uploads/${id}.committed`);
    return fileKeyOf(id);
  };
  const sweep = () => s.app.ctx.uploads.sweep(clock.now() + s.config.uploads.expirySeconds * 1000 + 60_000);

  /**
   * Completes an upload with the close paused at `closeGate`, moves the file meanwhile, then
   * lets the close go on; `moveGate` (optional) pauses the move too, opened after the close.
   * Checks the moved file's bytes, and that deleting it leaves no staging object behind.
   */
  async function raceCompletionClose(user: string, closeGate: (id: string) => Gate, moveGate?: (fromKey: string) => Gate) {
    const { id, data } = await ready(user);
    const paused = closeGate(id);
    const completing = complete(s, id);
    await paused.hit; // the record is committed; its close is under way
    const fromKey = await fileKeyOf(id);
    const movePause = moveGate?.(fromKey);
    const refusal = nextRefusal();
    const moving = move(fromKey, 'moved/');
    await Promise.race([moving, refusal, ...(movePause ? [movePause.hit] : [])]);
    paused.open();
    expect((await completing).statusCode).toBe(201);
    movePause?.open();
    const res = await moving;
    expect(res.statusCode, res.body).toBe(200);
    const toKey = res.json().moved[0].to as string;
    expect(await served(fromKey)).toBe(404);
    expect(await served(toKey)).toEqual(data);
    expect(await staging(id)).not.toEqual([]);
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/${toKey.split('/').map(encodeURIComponent).join('/')}` })).statusCode).toBe(200);
    expect(await staging(id)).toEqual([]); // the completed object went with the file: nothing leaks
  }

  it("the sweep's re-run of a failed close, a move arriving meanwhile: the move waits, the bytes stay", async () => {
    const { id, data } = await ready('sw');
    const fromKey = await completeLeavingClose(id);
    const paused = gate(closeReadsMarker(id));
    const sweeping = sweep();
    await paused.hit;
    const refusal = nextRefusal();
    const moving = move(fromKey, 'swept/');
    await Promise.race([moving, refusal]);
    paused.open();
    await sweeping;
    const res = await moving;
    expect(res.statusCode, res.body).toBe(200);
    expect(await s.app.ctx.store.uploads.getUpload(id)).toBeNull(); // the sweep did close it
    expect(await served(res.json().moved[0].to as string)).toEqual(data);
  });

  it("the sweep's re-run of a failed close meeting a move under way: left for a later sweep, the bytes stay", async () => {
    const { id, data } = await ready('swm');
    const fromKey = await completeLeavingClose(id);
    const fileId = (await s.app.ctx.store.files.getFile(fromKey))!.id;
    const placing = gate((cmd, phase) => phase === 'before' && is(cmd, PutObjectCommand, `mid/${fileId}_a.bin`)); // the move's new alias
    const marking = gate((cmd, phase) => phase === 'before' && is(cmd, PutObjectCommand, `.uploads/${id}.committed`));
    const moving = move(fromKey, 'mid/');
    await placing.hit; // journaled, about to place the bytes at the new key
    const sweeping = sweep();
    const closed = await Promise.race([sweeping.then(() => false), marking.hit.then(() => true)]);
    if (closed) {
      // The close ran inside the move (what happened before): the move goes first, then the close.
      placing.open();
      await moving;
      marking.open();
    } else {
      marking.open(); // not the close's: the move's own marker, let through
      placing.open();
    }
    await sweeping;
    expect(await s.app.ctx.store.uploads.getUpload(id)).not.toBeNull(); // left for a later sweep
    const res = await moving;
    expect(res.statusCode, res.body).toBe(200);
    const toKey = res.json().moved[0].to as string;
    expect(await served(toKey)).toEqual(data);
    await sweep();
    expect(await s.app.ctx.store.uploads.getUpload(id)).toBeNull();
    expect(await served(toKey)).toEqual(data);
    expect(await staging(id)).toContain(`${place.prefix}.uploads/${id}.committed`);
  });

  it("a sweep whose close of a completed upload fails keeps that row for the next sweep, and goes on with the others", async () => {
    const [a, b] = [await ready('swf'), await ready('swf')];
    await completeLeavingClose(a.id);
    await completeLeavingClose(b.id);
    const blobs = s.app.ctx.blobs;
    const abortUpload = blobs.abortUpload.bind(blobs);
    blobs.abortUpload = async (h) => {
      if (h.uploadId === a.id) throw new Error('S3 unreachable (test)');
      return abortUpload(h);
    };
    try {
      await sweep();
    } finally {
      blobs.abortUpload = abortUpload;
    }
    expect(await s.app.ctx.store.uploads.getUpload(a.id)).not.toBeNull();
    expect(await s.app.ctx.store.uploads.getUpload(b.id)).toBeNull();
    await sweep();
    expect(await s.app.ctx.store.uploads.getUpload(a.id)).toBeNull();
    expect(await staging(a.id)).toContain(`${place.prefix}.uploads/${a.id}.committed`); // closed, its file kept
  });

  it('a move while the close has read "no marker" (window 1): the bytes stay, under the new key', async () => {
    await raceCompletionClose('w1', (id) => gate(closeReadsMarker(id)));
  });

  it('a move between the close finding the alias alive and marking it (window 2): bytes kept', async () => {
    await raceCompletionClose('w2', (id) => gate((cmd, phase) => phase === 'before' && is(cmd, PutObjectCommand, `.uploads/${id}.committed`)));
  });

  it('the same window with the move paused before dropping the old alias: the marker names the new one (no leak once deleted)', async () => {
    await raceCompletionClose(
      'w2b',
      (id) => gate((cmd, phase) => phase === 'before' && is(cmd, PutObjectCommand, `.uploads/${id}.committed`)),
      (fromKey) => gate((cmd, phase) => phase === 'before' && is(cmd, DeleteObjectCommand, fromKey)),
    );
  });

  it('a close lease held by a holder that died: the move waits, answers 409 (nothing moved), and goes through once the lease lapsed', async () => {
    const { id, data } = await ready('dead');
    expect((await complete(s, id)).statusCode).toBe(201);
    const key = await fileKeyOf(id);
    const file = (await s.app.ctx.store.files.getFile(key))!;
    expect(await s.app.ctx.store.leases.tryAcquire(closeLeaseName(file.id), 'crashed-instance', 30_000, clock.now())).toBe(true);
    const refusal = nextRefusal();
    const moving = move(key, 'later/');
    await Promise.race([refusal, moving]);
    clock.advance(10_000); // past the move's wait, within the lease
    const busy = await moving;
    expect(busy.statusCode, busy.body).toBe(409);
    expect(busy.json().code).toBe('complete_in_progress');
    expect(await s.app.ctx.store.folders.movesOf([file.id])).toEqual([]); // nothing journaled
    expect(await served(key)).toEqual(data);
    clock.advance(30_000); // the dead holder's lease lapsed
    const res = await move(key, 'later/');
    expect(res.statusCode, res.body).toBe(200);
    expect(await served(res.json().moved[0].to as string)).toEqual(data);
  });
});
