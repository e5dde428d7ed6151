import { pino, type Logger } from 'pino';

export type { Logger };

/** Keys whose values are never written, at the top level of a logged object or one level down. */
const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'pass', 'authorization', 'token']);
const CENSOR = '***';

/** `v` with its secret keys censored: a copy (same prototype, same properties) when it has one, `v` itself otherwise. */
function censorKeys<T extends object>(v: T): T {
  let copy: Record<string, unknown> | null = null;
  for (const k in v) {
    if (!SECRET_KEYS.has(k)) continue;
    if (!copy) {
      copy = Object.create(Object.getPrototypeOf(v), Object.getOwnPropertyDescriptors(v)) as Record<string, unknown>;
      // V8's Error#stack reads the error it is called on: the copy gets the value itself.
      if (v instanceof Error) Object.defineProperty(copy, 'stack', { value: v.stack, writable: true, configurable: true });
    }
    copy[k] = CENSOR;
  }
  return (copy ?? v) as T;
}

/**
 * `o` with every secret key censored, at the top level and in the objects it holds (one level
 * down): a copy when there is something to censor, `o` itself otherwise (the usual case costs a
 * look at each key and no allocation).
 */
export function redactSecrets<T extends Record<string, unknown>>(o: T): T {
  let copy: Record<string, unknown> | null = null;
  for (const k in o) {
    const v = o[k];
    const r = SECRET_KEYS.has(k) ? CENSOR : v !== null && typeof v === 'object' && !Array.isArray(v) ? censorKeys(v) : v;
    if (r === v) continue;
    copy ??= { ...o };
    copy[k] = r;
  }
  return (copy ?? o) as T;
}

/**
 * JSON lines with fixed field names (msgId, sessionId, jobId, queue, remoteIp, event).
 * Credentials are redacted wherever they appear, at the top level and one level down: in what
 * each log call is given (formatters.log) and in a child's bindings (`child`, which every child
 * and grandchild inherits from this root; pino does not run its bindings formatter for
 * children). pino's own `redact` did the same with wildcard paths (`*.password`), which put a
 * compiled redaction step on every value of every line and every child logger (one per SMTP
 * connection): about 2 % of smtp-ingress's CPU, and much of what it allocated.
 */
export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  const root = pino(
    {
      name: service,
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactSecrets },
    },
    destination ?? stdoutDestination(false),
  );
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return root;
}

/** stdout; asynchronous (buffered) by default, synchronous where line order must be exact. */
export function stdoutDestination(sync: boolean): pino.DestinationStream {
  return pino.destination({ fd: 1, sync });
}
