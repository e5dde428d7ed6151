// Command-line parsing (pure): positional words and --flags. A flag may repeat (--domain a
// --domain b); `--x=y` and `--x y` are the same; `--` ends flags.

export interface Parsed {
  words: string[];
  flags: Map<string, string[]>;
}

/** Flags that never take a value. */
const BOOLEAN = new Set(['json', 'help', 'version', 'all', 'dsn', 'yes', 'cascade', 'relay', 'progress', 'password-stdin', 'quiet', 'activate', 'force', 'private-key-stdin']);

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): Parsed {
  const words: string[] = [];
  const flags = new Map<string, string[]>();
  const add = (k: string, v: string) => flags.set(k, [...(flags.get(k) ?? []), v]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError(`bad option ${a}`);
      if (eq > 0) add(name, a.slice(eq + 1));
      else if (BOOLEAN.has(name)) add(name, 'true');
      else {
        const v = argv[i + 1];
        if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`);
        add(name, v);
        i++;
      }
    } else if (a === '-h') add('help', 'true');
    else words.push(a);
  }
  return { words, flags };
}

export function flag(p: Parsed, name: string): string | undefined {
  return p.flags.get(name)?.at(-1);
}

export function has(p: Parsed, name: string): boolean {
  const v = flag(p, name);
  return v !== undefined && v !== 'false';
}

/** "90", "90s", "15m", "2h", "3d" → seconds. */
export function parseAge(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) throw new UsageError(`bad age ${JSON.stringify(s)} (use 90s, 15m, 2h, 3d)`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

/** Rejects flags a command does not know, so typos never widen a bulk action's filter. */
export function onlyFlags(p: Parsed, allowed: readonly string[]): void {
  const ok = new Set([...allowed, 'json', 'help', 'api-url', 'token', 'quiet']);
  for (const k of p.flags.keys()) if (!ok.has(k)) throw new UsageError(`unknown option --${k}`);
}
