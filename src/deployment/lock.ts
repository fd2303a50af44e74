// One lock per deployment: deploy, reconfigure, stop and destroy hold it, so two of them never act
// on the same hosts at once (the second would remove the first one's running job container).
// A lock is a file made with link(2), which fails when it exists: atomic without flock. A lock whose
// holder process is gone (a killed run) is taken over; the holder is identified by pid and the
// process's start time, so a reused pid does not keep a dead run's lock alive.
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../config/errors.js';

export interface LockHolder {
  pid: number;
  /** The process's start time (clock ticks since boot), from /proc. */
  pidStart: string;
  host: string;
  command: string;
  startedAt: string;
}

export interface DeploymentLock {
  /** Whether a dead run's lock was taken over, and whose it was. */
  tookOver?: LockHolder;
  release(): void;
}

export function lockPath(configDir: string): string {
  return join(configDir, 'deploy.lock');
}

export function acquireLock(configDir: string, command: string): DeploymentLock {
  const path = lockPath(configDir);
  const me: LockHolder = { pid: process.pid, pidStart: processStart(process.pid) ?? '', host: hostname(), command, startedAt: new Date().toISOString() };
  const mine = JSON.stringify(me);
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, mine + '\n', { mode: 0o600 });
  let tookOver: LockHolder | undefined;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(tmp, path);
        const release = (): void => {
          try {
            if (readFileSync(path, 'utf8').trim() === mine) unlinkSync(path);
          } catch {
            // Already gone.
          }
        };
        process.once('exit', release);
        return { ...(tookOver ? { tookOver } : {}), release };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readHolder(path);
      if (holder === undefined) continue; // released in the meantime
      if (holder.host !== hostname() || isAlive(holder)) {
        throw new InputError(
          `deployment ${configDir} is locked by ${holder.command} (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt})`,
          holder.host === hostname()
            ? 'wait for it to finish, or stop it'
            : `wait for it to finish; if that run is dead, remove ${path}`,
        );
      }
      // A dead run's lock: move it aside, then make sure what moved is the one that was judged dead
      // (another berth may have taken it over in between; put that one back).
      const aside = `${path}.stale.${process.pid}`;
      try {
        renameSync(path, aside);
      } catch {
        continue;
      }
      const moved = readHolder(aside);
      if (moved && moved.pid === holder.pid && moved.pidStart === holder.pidStart) {
        tookOver = holder;
        unlinkSync(aside);
      } else {
        try {
          linkSync(aside, path);
        } catch {
          // Yet another run holds it now; the next attempt reports it.
        }
        unlinkSync(aside);
      }
    }
    throw new InputError(`could not take the deployment lock ${path}: other runs keep taking it`, 'try again');
  } finally {
    unlinkSync(tmp);
  }
}

/** Who holds the lock now (for plan and check, which do not take it), if anyone alive. */
export function lockHolder(configDir: string): LockHolder | undefined {
  const holder = readHolder(lockPath(configDir));
  return holder && (holder.host !== hostname() || isAlive(holder)) ? holder : undefined;
}

function readHolder(path: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as LockHolder;
  } catch {
    // A lock file cut short (a crash while writing it cannot happen with link, but a hand edit can).
    return { pid: 0, pidStart: '', host: hostname(), command: 'unknown', startedAt: 'unknown' };
  }
}

function isAlive(holder: LockHolder): boolean {
  const start = processStart(holder.pid);
  return start !== undefined && start === holder.pidStart;
}

/** Field 22 of /proc/PID/stat: when the process started; undefined when there is no such process. */
function processStart(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
