// The Dockerfile's stages against the start-command table (packages/service-kit/src/services.ts) that
// `pnpm start` uses, and against the service kit's health endpoint. No Docker needed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand, serviceCommand, superviseCommand } from '@hopmail/service-kit';
import { defaultConfig, listenerPortKeys, loadSchema, root, serviceNames, type Schema } from './lib.ts';

interface Stage {
  name: string;
  from: string;
  lines: string[];
}

/** Stages of the Dockerfile with their instructions (continuation lines joined). */
function parseDockerfile(text: string): Stage[] {
  const instructions = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of instructions) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ name: from[2] ?? String(stages.length), from: from[1]!, lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const stage = (name: string) => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile has no stage ${name}`);
  return s;
};
/** Instructions of a stage including those it inherits from earlier stages. */
function inherited(name: string): string[] {
  const s = stage(name);
  return stages.some((x) => x.name === s.from) ? [...inherited(s.from), ...s.lines] : s.lines;
}
function last(name: string, instruction: string): string | undefined {
  return inherited(name).filter((l) => l.toUpperCase().startsWith(instruction + ' ')).at(-1);
}
/** Exec form only: a JSON array, no shell in between to swallow SIGTERM. */
function execForm(line: string | undefined, instruction: string): string[] {
  expect(line, `${instruction} missing`).toBeDefined();
  const json = line!.slice(line!.toUpperCase().indexOf(instruction) + instruction.length).trim();
  expect(json.startsWith('['), `${instruction} must be exec form: ${line}`).toBe(true);
  return JSON.parse(json) as string[];
}

const services = serviceNames();
const schemas = new Map<string, Schema>();
beforeAll(async () => {
  for (const name of services) schemas.set(name, await loadSchema(name));
});
const defaults = (name: string) => defaultConfig(schemas.get(name)!);

describe('Dockerfile', () => {
  it('builds on the current Node.js LTS slim image in several stages', () => {
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:24-slim/);
    expect(stages.length).toBeGreaterThan(3);
    // The runtime holds the compiled tree only: no sources, no dev dependencies.
    expect(stage('build').lines.join('\n')).toContain('pnpm build');
    expect(stage('build').lines.join('\n')).toMatch(/pnpm install --prod --frozen-lockfile/);
    expect(stage('runtime').lines.join('\n')).toContain('COPY --from=build /src/dist /app');
  });

  it('pulls no BuildKit frontend image: no `# syntax=` line (a build works without Docker Hub)', () => {
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im);
  });

  it('runs as a non-root user', () => {
    const user = last('runtime', 'USER');
    expect(user).toBeDefined();
    expect(user).not.toMatch(/USER\s+(root|0)(:|$)/);
  });

  it.each(services)('%s: CMD is the `pnpm start` command of the service, on the compiled tree', (name) => {
    expect(execForm(last(name, 'CMD'), 'CMD')).toEqual(serviceCommand(name, '.js'));
    expect(last(name, 'ENTRYPOINT')).toBeUndefined();
  });

  it.each(services)('%s: HEALTHCHECK asks /healthz on the default HEALTH_PORT, with Node (no curl in slim)', (name) => {
    const line = last(name, 'HEALTHCHECK');
    const cmd = execForm(line, 'CMD');
    expect(cmd[0]).toBe('node');
    expect(cmd.join(' ')).toContain(`(process.env.HEALTH_PORT||${defaults(name).HEALTH_PORT})+'/healthz'`);
  });

  it.each(services)('%s: EXPOSEs its listener ports and health port', (name) => {
    const c = defaults(name);
    const exposed = inherited(name)
      .filter((l) => /^EXPOSE /i.test(l))
      .flatMap((l) => l.split(/\s+/).slice(1))
      .map((p) => Number(p.split('/')[0]));
    for (const k of [...listenerPortKeys(schemas.get(name)!), 'HEALTH_PORT']) expect(exposed, `${name} ${k}`).toContain(c[k]);
  });

  it('migrate and all-in-one stages run `pnpm migrate` and `pnpm start`', () => {
    expect(execForm(last('migrate', 'CMD'), 'CMD')).toEqual(migrateCommand('.js'));
    expect(execForm(last('all-in-one', 'CMD'), 'CMD')).toEqual(superviseCommand('.js'));
  });

  it('package.json scripts are the same commands on the sources', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(superviseCommand('.ts').join(' '));
    expect(pkg.scripts.migrate).toBe(migrateCommand('.ts').join(' '));
    expect(pkg.scripts.build).toBe('node scripts/build.ts');
  });

  it('keeps secrets, state and dependencies out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['**/node_modules', '.env', '.git', '.hopmail', 'dist', 'certs']) expect(ignored).toContain(p);
  });
});
