// A deployment's identity: a stable id, generated once into the config directory, that every
// container, volume and tool container berth makes carries as a label. It is how a deploy tells
// its own objects from another deployment's (another config directory aimed at the same hosts).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../config/errors.js';

const ID_PATTERN = /^[a-z0-9][a-z0-9-]{7,63}$/;

export function deploymentIdPath(configDir: string): string {
  return join(configDir, 'deployment-id');
}

/** The id in the config directory; undefined when there is none yet. */
export function readDeploymentId(configDir: string): string | undefined {
  const path = deploymentIdPath(configDir);
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  const id = text.trim();
  if (text.length > 256 || !ID_PATTERN.test(id)) {
    throw new InputError(
      `${path}:1: not a deployment id (expected one line of lowercase letters, digits and dashes)`,
      'restore the file from a backup of this config directory; a new id would make berth treat this cloud as another deployment\'s',
    );
  }
  return id;
}

/** The id, made now when the directory has none (genpwd and init call this; nothing else writes it). */
export function ensureDeploymentId(configDir: string): { id: string; created: boolean } {
  const existing = readDeploymentId(configDir);
  if (existing) return { id: existing, created: false };
  const id = randomUUID();
  const path = deploymentIdPath(configDir);
  writeFileSync(`${path}.tmp`, `${id}\n`, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
  return { id, created: true };
}
