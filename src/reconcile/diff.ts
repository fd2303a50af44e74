// Decides what to do with one container: pure, from the desired container and what the host has.
import { tryParseIni } from '../config/overrides.js';
import type { ActualContainer } from '../engine/host.js';
import { canonicalJson } from '../plan/plan.js';
import { LABEL, type ContainerSpec, type DesiredContainer } from '../plan/types.js';

export type ContainerAction =
  | { kind: 'none' }
  | { kind: 'create'; reasons: string[] }
  | { kind: 'recreate'; reasons: string[] }
  | { kind: 'restart'; reasons: string[] }
  | { kind: 'start'; reasons: string[] }
  /** Changed files that the running container takes without a restart: run these commands in it. */
  | { kind: 'apply'; reasons: string[]; commands: { exec: string; user?: string }[] };

export interface Observed {
  container?: ActualContainer;
  /** The ID the desired image reference has on the host now. */
  imageId?: string;
  /** The container's config directory as it is on the host. */
  files?: Record<string, string>;
  /** When those files were last written (ms since the epoch). */
  filesWrittenAt?: number;
  /** berth's marker in that directory: which config was applied live to which run of the container. */
  marker?: string;
  /** Whether the container carries this deployment's id (an adopted one does not, yet). */
  labelledOurs?: boolean;
}

/** What a live apply leaves in the config directory, so the next deploy knows the running container has these files. */
export function appliedMarker(container: ActualContainer, configHash: string): string {
  return JSON.stringify({ startedAt: container.startedAt, configHash });
}

export function decide(desired: DesiredContainer, seen: Observed): ContainerAction {
  const c = seen.container;
  if (!c) return { kind: 'create', reasons: ['container does not exist'] };
  if (seen.labelledOurs === false) return { kind: 'recreate', reasons: ["adopted: recreated with this deployment's id"] };
  if (c.labels[LABEL.specHash] !== desired.specHash) {
    return { kind: 'recreate', reasons: specChanges(c.labels[LABEL.spec], desired.spec) };
  }
  if (seen.imageId !== undefined && c.imageId !== seen.imageId) {
    return { kind: 'recreate', reasons: [`image ${desired.spec.image} was rebuilt or pulled`] };
  }
  const changed = changedFiles(seen.files, desired.files);
  if (changed.length) {
    const reasons = changed.map((f) => f.reason);
    const live = changed.map((f) => desired.liveFiles?.[f.name]);
    if (!c.running || live.some((l) => l === undefined)) return { kind: c.running ? 'restart' : 'start', reasons };
    const commands = live.filter((l): l is { exec: string; user?: string } => typeof l === 'object');
    const unique = commands.filter((cmd, i) => commands.findIndex((o) => o.exec === cmd.exec && o.user === cmd.user) === i);
    return { kind: 'apply', reasons, commands: unique };
  }
  // Files as desired but written after the container started: a deploy was interrupted between
  // writing them and restarting, unless they were applied live to this run (the marker says so).
  if (
    c.running &&
    seen.filesWrittenAt !== undefined &&
    seen.filesWrittenAt > Date.parse(c.startedAt.slice(0, 23) + 'Z') &&
    seen.marker !== appliedMarker(c, desired.configHash)
  ) {
    return { kind: 'restart', reasons: ['configuration was written after the container started'] };
  }
  if (!c.running) return { kind: 'start', reasons: ['container is not running'] };
  // Docker's own healthcheck gave up on it: a restart is the repair operators otherwise do by hand.
  if (c.health === 'unhealthy') return { kind: 'restart', reasons: ['container is unhealthy'] };
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

/** Which config files differ between the host's config directory and the desired one, with the reason for each. */
export function changedFiles(onHost: Record<string, string> | undefined, desired: Record<string, string>): { name: string; reason: string }[] {
  // No name: no file of it is live, so a missing directory always means a restart.
  if (!onHost) return [{ name: '', reason: 'config directory missing' }];
  const changed: { name: string; reason: string }[] = [];
  for (const [name, content] of Object.entries(desired)) {
    if (onHost[name] === undefined) changed.push({ name, reason: `${name} added` });
    else if (onHost[name] !== content) changed.push({ name, reason: `${name} changed${describeIniChange(onHost[name], content)}` });
  }
  for (const name of Object.keys(onHost)) if (!(name in desired)) changed.push({ name, reason: `${name} removed` });
  return changed;
}

/** The reasons alone, as plan and check print them. */
export function fileChanges(onHost: Record<string, string> | undefined, desired: Record<string, string>): string[] {
  return changedFiles(onHost, desired).map((f) => f.reason);
}

/**
 * For INI files, names the changed keys (never their values: they may be secrets), read with the
 * override parser so both see the same keys. '' when either side is not INI (JSON, SQL, a script).
 */
export function describeIniChange(before: string, after: string): string {
  const keys = (text: string): Map<string, string> | undefined => {
    const sections = tryParseIni(text);
    if (!sections) return undefined;
    const out = new Map<string, string>();
    for (const [section, entries] of sections) {
      // All of a repeated key's values, so a change to any of them counts.
      for (const [key, values] of entries) out.set(section === '' ? key : `${section}.${key}`, JSON.stringify(values));
    }
    return out;
  };
  const a = keys(before);
  const b = keys(after);
  if (!a || !b) return '';
  const changed = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
  return changed.length && changed.length <= 5 ? ` (${changed.join(', ')})` : '';
}
