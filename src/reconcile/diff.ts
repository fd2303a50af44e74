// Decides what to do with one container: pure, from the desired container and what the host has.
import type { ActualContainer } from '../engine/host.js';
import { canonicalJson } from '../plan/plan.js';
import { LABEL, type ContainerSpec, type DesiredContainer } from '../plan/types.js';

export type ContainerAction =
  | { kind: 'none' }
  | { kind: 'create'; reasons: string[] }
  | { kind: 'recreate'; reasons: string[] }
  | { kind: 'restart'; reasons: string[] }
  | { kind: 'start'; reasons: string[] };

export interface Observed {
  container?: ActualContainer;
  /** The ID the desired image reference has on the host now. */
  imageId?: string;
  /** The container's config directory as it is on the host. */
  files?: Record<string, string>;
  /** When those files were last written (ms since the epoch). */
  filesWrittenAt?: number;
}

export function decide(desired: DesiredContainer, seen: Observed): ContainerAction {
  const c = seen.container;
  if (!c) return { kind: 'create', reasons: ['container does not exist'] };
  if (c.labels[LABEL.specHash] !== desired.specHash) {
    return { kind: 'recreate', reasons: specChanges(c.labels[LABEL.spec], desired.spec) };
  }
  if (seen.imageId !== undefined && c.imageId !== seen.imageId) {
    return { kind: 'recreate', reasons: [`image ${desired.spec.image} was rebuilt or pulled`] };
  }
  const fileReasons = fileChanges(seen.files, desired.files);
  if (fileReasons.length) return { kind: 'restart', reasons: fileReasons };
  // Files as desired but written after the container started: a deploy was interrupted between
  // writing them and restarting. The host itself tells, no state file needed.
  if (c.running && seen.filesWrittenAt !== undefined && seen.filesWrittenAt > Date.parse(c.startedAt.slice(0, 23) + 'Z')) {
    return { kind: 'restart', reasons: ['configuration was written after the container started'] };
  }
  if (!c.running) return { kind: 'start', reasons: ['container is not running'] };
  return { kind: 'none' };
}

/** Names the spec fields that differ from the spec recorded on the container. */
export function specChanges(recorded: string | undefined, desired: ContainerSpec): string[] {
  if (!recorded) return ['container spec changed'];
  let old: Record<string, unknown>;
  try {
    old = JSON.parse(recorded) as Record<string, unknown>;
  } catch {
    return ['container spec changed'];
  }
  const reasons: string[] = [];
  for (const [key, value] of Object.entries(desired)) {
    if (canonicalJson(old[key]) !== canonicalJson(value)) {
      reasons.push(key === 'image' ? `image ${String(old[key])} → ${String(value)}` : `${key} changed`);
    }
  }
  return reasons.length ? reasons : ['container spec changed'];
}

/** Which config files differ between the host's config directory and the desired one. */
export function fileChanges(onHost: Record<string, string> | undefined, desired: Record<string, string>): string[] {
  if (!onHost) return ['config directory missing'];
  const reasons: string[] = [];
  for (const [name, content] of Object.entries(desired)) {
    if (onHost[name] === undefined) reasons.push(`${name} added`);
    else if (onHost[name] !== content) reasons.push(`${name} changed${describeIniChange(onHost[name], content)}`);
  }
  for (const name of Object.keys(onHost)) if (!(name in desired)) reasons.push(`${name} removed`);
  return reasons;
}

/** For INI files, names the changed keys (never their values: they may be secrets). */
function describeIniChange(before: string, after: string): string {
  const keys = (text: string): Map<string, string> => {
    const out = new Map<string, string>();
    let section = '';
    for (const line of text.split('\n')) {
      const s = /^\s*\[([^\]]+)\]\s*$/.exec(line);
      if (s) section = s[1]!;
      const kv = /^\s*([^#;=\s][^=]*?)\s*=\s*(.*)$/.exec(line);
      if (kv) out.set(`${section}.${kv[1]}`, kv[2]!);
    }
    return out;
  };
  const a = keys(before);
  const b = keys(after);
  if (a.size === 0 && b.size === 0) return '';
  const changed = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
  return changed.length && changed.length <= 5 ? ` (${changed.join(', ')})` : '';
}
