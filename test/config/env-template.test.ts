import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ENV_NAMES } from '../../src/config/schema.js';

const template = readFileSync(new URL('../../upload.env.template', import.meta.url), 'utf8');
const entries = template
  .split('\n')
  .filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line))
  .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);

describe('upload.env.template', () => {
  it('names exactly the variables the config schema knows', () => {
    expect(entries.map(([k]) => k).sort()).toEqual([...ENV_NAMES].sort());
  });

  it('gives each variable a comment line above it or a group comment', () => {
    const lines = template.split('\n');
    for (const [name] of entries) {
      const i = lines.findIndex((l) => l.startsWith(`${name}=`));
      expect(lines.slice(Math.max(0, i - 2), i).some((l) => l.startsWith('#')), name).toBe(true);
    }
  });

  it('is itself a valid configuration (its defaults parse)', () => {
    const env = Object.fromEntries(entries);
    expect(() => loadConfig(env)).not.toThrow();
    const config = loadConfig(env);
    expect(config.port).toBe(5070);
    expect(config.auth.alg).toBe('ES256');
  });
});
