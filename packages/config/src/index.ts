import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';

export { z };

/** Keys whose values never appear in `--print-config` output or in logs. */
const SECRET_KEY = /(TOKEN|PASSWORD|SECRET|_KEY$|^KEY)/i;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(service: string, problems: string[]) {
    super(`${service}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * The CPUs this process may use: the ones it may run on (affinity), fewer where a cgroup quota
 * says so (a container's CPU limit: cgroup v2 cpu.max, v1 cpu.cfs_quota_us), at least 1.
 * `root` is where the cgroup files are (tests).
 */
export function availableCpus(root = '/sys/fs/cgroup'): number {
  const cpus = availableParallelism();
  const read = (f: string) => {
    try {
      return readFileSync(`${root}/${f}`, 'utf8').trim();
    } catch {
      return null;
    }
  };
  let quota: number | null = null;
  const v2 = read('cpu.max')?.split(/\s+/);
  if (v2 && v2[0] !== 'max') quota = Number(v2[0]) / Number(v2[1] ?? 100_000);
  else if (!v2) {
    const q = Number(read('cpu/cpu.cfs_quota_us') ?? -1);
    const period = Number(read('cpu/cpu.cfs_period_us') ?? 100_000);
    if (q > 0 && period > 0) quota = q / period;
  }
  if (quota === null || !Number.isFinite(quota) || quota <= 0) return Math.max(1, cpus);
  return Math.max(1, Math.min(cpus, Math.ceil(quota)));
}

/** Port numbers: 0 lets the OS pick one (tests). */
export const port = (def: number, why: string) =>
  z.coerce.number().int().min(0).max(65535).default(def).describe(why);

export const int = (def: number, min: number, max: number, why: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(why);

export const bool = (def: boolean, why: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .describe(why);

export const str = (def: string, why: string) => z.string().default(def).describe(why);

/** A mailbox local part (RFC 5321 dot-atom, at most 64 octets). */
export const localPart = (def: string, why: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/, 'a local part (dot-atom)')
    .max(64)
    .default(def)
    .describe(why);

/**
 * Settings shared by every service. Each service spreads these into its own schema,
 * so one table per service still lists everything it reads.
 */
export const commonConfig = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development').describe('production refuses unsafe defaults (e.g. missing TLS certificates)'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level; debug shows wire traffic summaries'),
  DATABASE_URL: z.string().url().default('postgres://root@127.0.0.1:5432/hopmail').describe('PostgreSQL connection string, the system of record'),
  DATABASE_POOL_SIZE: int(10, 1, 200, 'PostgreSQL connections this process may open'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379').describe('Redis connection string for queues, rate limits and caches'),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('hopmail').describe('key prefix for every Redis key; lets several clusters share one Redis'),
  HEALTH_HOST: z.string().default('0.0.0.0').describe('address of the /healthz, /readyz and /metrics listener'),
  SHUTDOWN_TIMEOUT_MS: int(25_000, 100, 600_000, 'hard deadline for graceful shutdown before the process exits anyway'),
} as const;

export type Env = Record<string, string | undefined>;

/**
 * Validates `env` against the service's schema and returns the typed result. Every
 * problem is reported at once. `--print-config` prints the effective configuration
 * (secrets masked) and exits.
 */
export function loadConfig<S extends z.ZodObject>(
  service: string,
  schema: S,
  options: { env?: Env; argv?: readonly string[]; exitOnPrint?: boolean } = {},
): z.output<S> {
  const env = options.env ?? process.env;
  const argv = options.argv ?? process.argv.slice(2);
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}${showValue(i.path, input)}`);
    throw new ConfigError(service, problems);
  }
  if (argv.includes('--print-config')) {
    process.stdout.write(JSON.stringify(redact(parsed.data as Record<string, unknown>), null, 2) + '\n');
    if (options.exitOnPrint !== false) process.exit(0);
  }
  return parsed.data;
}

function showValue(path: PropertyKey[], input: Record<string, string>): string {
  const key = String(path[0] ?? '');
  if (!(key in input) || SECRET_KEY.test(key)) return '';
  return ` (got ${JSON.stringify(input[key])})`;
}

export function redact(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (SECRET_KEY.test(k) && v) out[k] = '***';
    else if (typeof v === 'string' && /^[a-z]+:\/\/[^/]*:[^@/]*@/.test(v)) out[k] = v.replace(/\/\/([^:/]*):[^@/]*@/, '//$1:***@');
    else out[k] = v;
  }
  return out;
}

/** One row per key: for generated documentation and deployment cross-checks. */
export function describeConfig(schema: z.ZodObject): { key: string; default: unknown; description: string }[] {
  return Object.entries(schema.shape).map(([key, field]) => {
    const f = field as z.ZodType;
    const parsed = f.safeParse(undefined);
    return { key, default: parsed.success ? parsed.data : undefined, description: f.description ?? '' };
  });
}
