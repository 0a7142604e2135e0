/**
 * The SDK as a package ships it: `npm run build`'s two client tsconfigs emit declarations for
 * both entries (the browser one compiled without Node's types, so a Node import there fails
 * the build), and the browser entry bundles for a browser with no Node built-in and without
 * zod (its types come from the schemas; no schema code is shipped to pages).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe('SDK build', () => {
  it('emits declarations for stream-line-upload-server/client and /client/node', async () => {
    const out = await tempDir('sl-sdk-dts-');
    dirs.push(out);
    for (const project of ['tsconfig.client.json', 'tsconfig.client-node.json']) {
      const r = spawnSync(process.execPath, ['node_modules/typescript-native/bin/tsc', '-p', project, '--outDir', out], { encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const index = await fs.readFile(path.join(out, 'client/index.d.ts'), 'utf8');
    expect(index).toMatch(/export \{ StreamLineClient/);
    expect(await fs.readFile(path.join(out, 'client/node.d.ts'), 'utf8')).toMatch(/export declare function uploadPath/);
    const pkg = JSON.parse(await fs.readFile('package.json', 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    expect(pkg.exports['./client']).toEqual({ types: './dist/client/index.d.ts', default: './dist/client/index.js' });
    expect(pkg.exports['./client/node']).toEqual({ types: './dist/client/node.d.ts', default: './dist/client/node.js' });
  });

  it('bundles for a browser without Node built-ins or zod, small', async () => {
    const r = await build({ entryPoints: ['src/client/index.ts'], bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, metafile: true });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.filter((f) => !f.startsWith('src/client/'))).toEqual([]);
    expect(r.outputFiles[0]!.contents.length).toBeLessThan(40_000);
  });
});
