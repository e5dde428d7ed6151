import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines with fixed field names (msgId, sessionId, jobId, queue, remoteIp, event).
 * Credentials are redacted wherever they appear in a logged object.
 */
export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: service,
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'pass', '*.pass', 'authorization', '*.authorization', 'headers.authorization', 'token', '*.token'], censor: '***' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? stdoutDestination(false),
  );
}

/** stdout; asynchronous (buffered) by default, synchronous where line order must be exact. */
export function stdoutDestination(sync: boolean): pino.DestinationStream {
  return pino.destination({ fd: 1, sync });
}
