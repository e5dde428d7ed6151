// What the benches read of other processes in /proc: CPU time, memory, and which processes
// are which (a service's children, PostgreSQL's backends, redis-server).
import { readdirSync, readFileSync } from 'node:fs';

/** User + system CPU time of a process, in ms (/proc/<pid>/stat, clock ticks of 10 ms). */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** procCpuMs, 0 for a process gone meanwhile. */
export function cpuOrZero(pid: number): number {
  try {
    return procCpuMs(pid);
  } catch {
    return 0;
  }
}

export const sumCpu = (pids: readonly number[]) => pids.reduce((n, pid) => n + cpuOrZero(pid), 0);

export function procStatusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export interface ProcInfo {
  pid: number;
  /** The executable's name, as ps shows it (`postgres`, `redis-server`). */
  readonly comm: string;
  /** The command line, its arguments NUL-separated; a process title for PostgreSQL and rspamd. */
  readonly cmdline: string;
  readonly ppid: number;
}

/** The pids of the processes `match` picks, at this moment (each file read only when asked for). */
export function processes(match: (p: ProcInfo) => boolean): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const read = (f: string) => readFileSync(`/proc/${d}/${f}`, 'utf8');
    const info: ProcInfo = {
      pid: Number(d),
      get comm() {
        return read('comm').trim();
      },
      get cmdline() {
        return read('cmdline');
      },
      get ppid() {
        const stat = read('stat');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      },
    };
    try {
      if (match(info)) pids.push(info.pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
