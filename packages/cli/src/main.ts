// hopmail — command-line client of the admin API. Reads HOPMAIL_API_URL and HOPMAIL_API_TOKEN.
// Exit codes (stable, for scripts): see EXIT in client.ts and USAGE below.
import { readCliEnv, type CliEnv } from './config.ts';
import { parseArgs, has, flag, UsageError, type Parsed } from './args.ts';
import { ApiFailure, createClient, EXIT } from './client.ts';
import { COMMANDS, type Io } from './commands.ts';

export const USAGE = `usage: hopmail [--json] <command> …

  domains   list | show <name> | add <name> [--relay] | rm <name> [--cascade]
            | dns <name>   (the DNS doctor: each record to publish, checked live: ok, missing, mismatch)
            | policy <name> [--dmarc-enforce on|off|default] [--spf-reject on|off|default]
                           (inbound authentication policy of mail to the domain; no flag: show it)
  dkim      list <domain> | add <domain> [--algorithm ed25519|rsa|both] [--selector s] [--bits n] [--activate]
                                         [--private-key-stdin]   (import a PEM key)
            | rotate <domain>   (new Ed25519 and RSA keys, pending: publish, then activate)
            | activate <domain> <selector>… [--grace-days n] [--force] | retire <domain> <selector>… | rm <domain> <selector>
  tls       set <domain> none|may|encrypt|dane|verify [--ca-stdin] [--fingerprint sha256]… [--note text]
            | list | show <domain> | rm <domain>      (the TLS policy table: overrides DANE and MTA-STS)
            | outcomes <dest-domain> [--days n]        (TLS outcomes of our deliveries: what TLS-RPT reports)
            | reports <our-domain>                     (TLS-RPT reports others sent us)
  mailboxes list [--domain d] | show <addr> | add <addr> --password-stdin [--quota bytes]
            | passwd <addr> --password-stdin | quota <addr> <bytes> | rm <addr>
  aliases   list [--domain d] | show <src> | add <src> <target>… | set <src> <target>… | rm <src>
  queue     list [filters] [--limit n] [--all]
            | retry|hold|release [<queue-id>] [filters]
            | delete [<queue-id>] [filters] [--dsn] [--yes]
            | stats | domains
            filters: --status s[,s] --domain d --sender a|@d|<> --recipient a --message <queue-id>
                     --min-age 2h --max-age 1d --reply text      bulk: --batch n --progress
  messages  search [--queue-id id] [--message-id mid] [--sender a] [--recipient a] [--status s] [--since t] [--until t]
            | headers <queue-id> | report <queue-id> spam|ham
  trace     <queue-id>
  abuse     stats | lists [--list allow|block]
            | allow|block <address|cidr|domain> [--reason text]   (allowlisted: no DNSBL, greylisting, limits)
            | unlist <id> | refusals [--recipient a] [--sender a] [--client ip] [--since t]   (why mail didn't arrive)
  keys      list | add <name> --scope admin|read-only|domain-admin [--domain d]… | rm <id>
  webhooks  list | add <url> --event message.delivered… | test|enable|disable|rm <id>
  audit     [--actor a] [--action a] [--since t]

options: --json (machine-readable stdout)  --all (every page)  --api-url URL  --token T
environment: HOPMAIL_API_URL (default http://127.0.0.1:8080), HOPMAIL_API_TOKEN (ADMIN_TOKEN or an API key)
exit codes: 0 ok, 1 API error, 2 usage, 3 auth (401/403/429), 4 not found, 5 conflict, 6 API unreachable/unavailable
`;

export async function run(argv: readonly string[], env: CliEnv, io: Io): Promise<number> {
  let p: Parsed;
  try {
    p = parseArgs(argv);
  } catch (err) {
    io.err(`hopmail: ${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  if (has(p, 'help') || p.words.length === 0) {
    (p.words.length === 0 && !has(p, 'help') ? io.err : io.out)(USAGE);
    return p.words.length === 0 && !has(p, 'help') ? EXIT.usage : EXIT.ok;
  }
  const group = COMMANDS[p.words[0]!];
  const handler = group?.[p.words[1] ?? ''] ?? group?.[''];
  if (!handler) {
    io.err(`hopmail: unknown command ${JSON.stringify(p.words.slice(0, 2).join(' '))}\n${USAGE}`);
    return EXIT.usage;
  }
  const token = flag(p, 'token') ?? env.HOPMAIL_API_TOKEN;
  if (!token) {
    io.err('hopmail: set HOPMAIL_API_TOKEN (the ADMIN_TOKEN or an API key)\n');
    return EXIT.auth;
  }
  const api = createClient(flag(p, 'api-url') ?? env.HOPMAIL_API_URL ?? 'http://127.0.0.1:8080', token);
  try {
    const r = await handler(p, api, io);
    io.out(has(p, 'json') ? JSON.stringify(r.json, null, 2) + '\n' : has(p, 'quiet') ? '' : r.text);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`hopmail: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof ApiFailure) {
      io.err(`hopmail: ${err.message}\n`);
      if (has(p, 'json')) io.out(JSON.stringify({ error: { status: err.status, code: err.code, message: err.message } }) + '\n');
      return err.exitCode;
    }
    io.err(`hopmail: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.api;
  }
}

/** The process entry point (bin/hopmail.js). */
export async function main(): Promise<void> {
  const io: Io = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    isTty: process.stderr.isTTY === true,
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
  process.exitCode = await run(process.argv.slice(2), readCliEnv(), io);
}

if (import.meta.main) await main();
