// How each process of Hopmail starts, in one place. `pnpm start` (scripts/start.ts) spawns
// exactly these commands, the images run them as their CMD (Dockerfile), and
// test/deploy checks that the Dockerfile, docker-compose.yml and deploy/ agree with this
// table, so what CI runs is what ships.
//
// The same paths work in both trees: the repository runs the TypeScript sources (Node strips
// the types), the compiled build (`pnpm build` → dist/, what the images contain) has the
// same layout with .js files. A module knows which tree it runs from by its own extension.

import { commonConfig, z } from '@hopmail/config';

export type Tree = '.ts' | '.js';

/** '.js' when this module runs from the compiled build, '.ts' from the repository. */
export const currentTree: Tree = import.meta.url.endsWith('.js') ? '.js' : '.ts';

/** Entry point of a service, relative to the repository (or image) root. */
export function serviceEntry(name: string, tree: Tree = currentTree): string {
  return `services/${name}/src/main${tree}`;
}

/**
 * V8 flags of every service process. --max-semi-space-size=8 (MiB) caps the young
 * generation: with V8's default for a large machine, each service's resident memory under
 * sustained load climbed by 100–150 MiB of young-generation pages and kept creeping; with 8
 * it stays flat (`pnpm bench`, 2 KiB soak: smtp-ingress ~245 MiB instead of ~370, routing
 * ~180 instead of ~300) at the same throughput. Operators can still add flags through
 * NODE_OPTIONS.
 */
export const NODE_FLAGS = ['--max-semi-space-size=8'];

/** argv of one service process. */
export function serviceCommand(name: string, tree: Tree = currentTree): string[] {
  return ['node', ...NODE_FLAGS, serviceEntry(name, tree)];
}

/** argv of the migration step (`pnpm migrate`, the compose one-shot, the Kubernetes Job). */
export function migrateCommand(tree: Tree = currentTree): string[] {
  return ['node', `packages/db/src/migrate-cli${tree}`];
}

/** argv of the supervisor that runs several services in one place (`pnpm start`). */
export function superviseCommand(tree: Tree = currentTree): string[] {
  return ['node', `scripts/start${tree}`];
}

/** What the supervisor itself reads (the services it starts read their own schemas). */
export const supervisorConfigSchema = z.object({
  NODE_ENV: commonConfig.NODE_ENV,
  DATABASE_URL: commonConfig.DATABASE_URL,
  REDIS_URL: commonConfig.REDIS_URL,
  HOPMAIL_SERVICES: z.string().default('').describe('comma-separated subset of services to run; empty runs all'),
  HOPMAIL_STATE_DIR: z.string().default('.hopmail').describe('where development state lives (generated admin token, dev certificates); relative to the repository'),
});
