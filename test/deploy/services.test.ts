// The table of services as people read it (the root README) against the services in
// services/ and their configuration: every service listed with its own health port.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, loadSchema, root, serviceNames, type Schema } from './lib.ts';

const services = serviceNames();
const schemas = new Map<string, Schema>();
beforeAll(async () => {
  for (const name of services) schemas.set(name, await loadSchema(name));
});
const healthPort = (name: string) => defaultConfig(schemas.get(name)!).HEALTH_PORT as number;

/** Rows of the README's "## Services" table: service → its cells. */
function readmeServices(): Map<string, string[]> {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf('## Services'));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length > 2 && !/^-+$/.test(cells[0]!) && cells[0] !== 'service') rows.set(cells[0]!, cells);
  }
  return rows;
}

describe('the services table', () => {
  it('gives every service its own default health port', () => {
    const ports = services.map(healthPort);
    expect(new Set(ports).size).toBe(ports.length);
  });

  it.each(services)('%s: in the root README with its health port and its man page', (name) => {
    const row = readmeServices().get(name);
    expect(row, `README.md lists ${name}`).toBeDefined();
    expect(row![2]).toBe(String(healthPort(name)));
    expect(row![3]).toContain(`services/${name}/README.md`);
  });
});
