// The shape of the house (issue #11): services stand on the shared packages only, never on
// each other; test scaffolding stays out of src/; every service has its error and event
// registries in the one shape, prefixed with its name, and its README's DIAGNOSTICS lists
// every event it can log.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const services = readdirSync(join(root, 'services')).filter((d) => statSync(join(root, 'services', d)).isDirectory()).sort();

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.name === 'node_modules') return [];
    return e.isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const importsOf = (source: string) => [...source.matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => m[1]!);

describe('no service imports another service', () => {
  for (const name of services) {
    it(name, () => {
      const dir = join(root, 'services', name);
      const bad: string[] = [];
      for (const file of files(dir)) {
        for (const spec of importsOf(readFileSync(file, 'utf8'))) {
          const target = spec.startsWith('.') ? join(file, '..', spec) : null;
          const outside = target !== null && relative(dir, target).startsWith('..');
          const otherService = spec.startsWith('@hopmail/') && services.includes(spec.slice('@hopmail/'.length));
          if (outside || otherService) bad.push(`${relative(root, file)} imports ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }
});

describe('test scaffolding stays out of src/', () => {
  it('no test-helpers, test-support, test-cluster or src/test/ in any service or package', () => {
    const bad = [...services.map((s) => join(root, 'services', s, 'src')), ...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'src'))]
      .flatMap((dir) => files(dir))
      .map((f) => relative(root, f))
      .filter((f) => !f.startsWith('packages/test-kit/'))
      .filter((f) => /\/test-[a-z-]+\.ts$/.test(f) || /\/src\/(.*\/)?test\//.test(f));
    expect(bad).toEqual([]);
  });
});

describe('error and event registries', () => {
  for (const name of services) {
    it(`${name}: events prefixed "${name}.", unique, and listed in its README's DIAGNOSTICS`, async () => {
      const { EVENTS } = (await import(join(root, 'services', name, 'src', 'events.ts'))) as { EVENTS: Record<string, string> };
      const values = Object.values(EVENTS);
      expect(values.length).toBeGreaterThan(0);
      expect(values.filter((v) => !v.startsWith(`${name}.`))).toEqual([]);
      expect(new Set(values).size).toBe(values.length);
      const readme = readFileSync(join(root, 'services', name, 'README.md'), 'utf8');
      const diagnostics = readme.slice(readme.indexOf('DIAGNOSTICS'));
      expect(values.filter((v) => !diagnostics.includes(v))).toEqual([]);
    });

    it(`${name}: every event logged in src/ comes from its table`, () => {
      const literal = /event:\s*'([a-z0-9.-]+)'/g;
      const bad = files(join(root, 'services', name, 'src'))
        .filter((f) => !f.endsWith('.test.ts'))
        .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(literal)].map((m) => `${relative(root, f)}: ${m[1]}`));
      expect(bad).toEqual([]);
    });

    it(`${name}: error codes prefixed "${name}." (admin-api: its public HTTP codes)`, async () => {
      const { ERRORS } = (await import(join(root, 'services', name, 'src', 'errors.ts'))) as { ERRORS: Record<string, { code: string; temporary: boolean }> };
      const specs = Object.values(ERRORS);
      expect(specs.length).toBeGreaterThan(0);
      for (const spec of specs) {
        expect(typeof spec.temporary).toBe('boolean');
        if (name === 'admin-api') expect(spec.code).toMatch(/^[a-z_]+$/);
        else expect(spec.code.startsWith(`${name}.`), spec.code).toBe(true);
      }
    });
  }
});
