// Restore points: what `berth rollback` puts back. One per upgrade, in
// <configDir>/restore-points/<id>/ (0700): the inputs the cloud ran from (a copy of deployed/), the
// image ID behind every image reference on every host, the MariaDB backup, and how far the upgrade
// got. The state is written before each phase begins, so a run killed anywhere leaves a record from
// which `berth upgrade` finishes and `berth rollback` undoes.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../config/errors.js';

/** `rp-YYYYMMDDTHHMMSSZ`, made by berth. */
const ID = /^rp-\d{8}T\d{6}Z$/;

export type RestorePointState =
  /** Being made: nothing has changed on the cloud yet. */
  | 'taking'
  /** Taken; the upgrade is changing the cloud (or was, when it was killed). */
  | 'upgrading'
  | 'upgraded'
  /** The upgrade failed and its rollback did not finish. */
  | 'failed'
  | 'rolling-back'
  | 'rolled-back';

export interface ReleaseTag {
  release: string;
  tag: string;
}

export interface RestorePoint {
  id: string;
  created: string;
  from: ReleaseTag;
  to: ReleaseTag;
  /** Per host: image reference → the image ID it named when the restore point was taken. */
  images: Record<string, Record<string, string>>;
  /** Taken before any change; restored when the upgrade got as far as changing the cloud. */
  mariadbBackup?: { id: string; host: string; bytes: number };
  state: RestorePointState;
  /** What failed, when the upgrade failed. */
  failure?: string;
  /** When each state was entered. */
  history: { state: RestorePointState; at: string }[];
}

export function restorePointsDir(configDir: string): string {
  return join(configDir, 'restore-points');
}

export function restorePointDir(configDir: string, id: string): string {
  return join(restorePointsDir(configDir), id);
}

/** The inputs the cloud ran from when the restore point was taken. */
export function restorePointInputs(configDir: string, id: string): string {
  return join(restorePointDir(configDir, id), 'inputs');
}

export function newRestorePointId(now = new Date()): string {
  return `rp-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

/** Makes its directory (0700) and writes it in state `taking`. */
export function createRestorePoint(configDir: string, rp: Omit<RestorePoint, 'state' | 'history'>): RestorePoint {
  mkdirSync(restorePointDir(configDir, rp.id), { recursive: true, mode: 0o700 });
  const full: RestorePoint = { ...rp, state: 'taking', history: [] };
  return saveRestorePoint(configDir, full, 'taking');
}

/** Writes it in `state` (atomically: a killed run leaves the old record or the new one). */
export function saveRestorePoint(configDir: string, rp: RestorePoint, state: RestorePointState, failure?: string): RestorePoint {
  const next: RestorePoint = { ...rp, state, history: [...rp.history, { state, at: new Date().toISOString() }], ...(failure !== undefined ? { failure } : {}) };
  const path = join(restorePointDir(configDir, rp.id), 'restore-point.json');
  writeFileSync(`${path}.tmp`, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return next;
}

export function readRestorePoint(configDir: string, id: string): RestorePoint {
  if (!ID.test(id)) throw new InputError(`"${id}" is not a restore point id (rp-YYYYMMDDTHHMMSSZ, as berth restore-points lists them)`);
  const path = join(restorePointDir(configDir, id), 'restore-point.json');
  if (!existsSync(path)) throw new InputError(`no restore point ${id} in ${restorePointsDir(configDir)}`, 'berth restore-points lists those there are');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RestorePoint;
  } catch (err) {
    throw new InputError(`${path}: not readable as a restore point (${(err as Error).message})`, 'restore the file from a backup of the config directory');
  }
}

/** Every restore point, oldest first (ids sort by time). */
export function listRestorePoints(configDir: string): RestorePoint[] {
  const dir = restorePointsDir(configDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => ID.test(name) && existsSync(join(dir, name, 'restore-point.json')))
    .sort()
    .map((id) => readRestorePoint(configDir, id));
}

/** destroy: the cloud they would restore, and their backups, are gone. */
export function forgetRestorePoints(configDir: string): void {
  rmSync(restorePointsDir(configDir), { recursive: true, force: true });
}

/** The restore point of an upgrade that is not over (neither upgraded nor rolled back), if any. */
export function unfinishedUpgrade(configDir: string): RestorePoint | undefined {
  const last = listRestorePoints(configDir).at(-1);
  return last && last.state !== 'upgraded' && last.state !== 'rolled-back' && last.state !== 'taking' ? last : undefined;
}
