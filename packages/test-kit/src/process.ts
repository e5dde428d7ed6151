// Services as separate processes, the way `pnpm start` runs them.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
// The same start-command table `pnpm start` and the images use.
import { serviceCommand } from '@hopmail/service-kit';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  /** Resolves when the process logged event start.done. */
  ready: Promise<void>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * `keepLogs: false` (benchmarks) stops parsing stdout once the service is ready: at
 * thousands of log lines a second, parsing and keeping them would cost the load generator
 * CPU the services need.
 */
export function startServiceProcess(name: string, env: Record<string, string>, options: { keepLogs?: boolean } = {}): ServiceProcess {
  const keepLogs = options.keepLogs ?? true;
  let isReady = false;
  const [, ...args] = serviceCommand(name);
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  let onReady: () => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    if (isReady && !keepLogs) return;
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        logs.push(rec);
        if (rec.event === 'start.done') {
          isReady = true;
          onReady();
        }
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const exited = new Promise<number | null>((resolve) => {
    // 'close', not 'exit': by then stdout and stderr are drained, so the error says why.
    child.on('close', (code) => {
      onFail(new Error(`${name} exited with ${code} before it was ready: ${stderr.slice(-2000)}`));
      resolve(code);
    });
  });
  return {
    name,
    child,
    logs,
    ready,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}
