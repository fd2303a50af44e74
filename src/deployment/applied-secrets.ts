// Which secrets the running cloud was last deployed with, so a deploy knows which values of
// passwords.yml are new (rotations) before it changes anything. Only salted digests are kept, in a
// 0600 file next to passwords.yml: enough to tell "changed", never the value.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Record_ {
  salt: string;
  digests: Record<string, string>;
}

export function appliedSecretsPath(configDir: string): string {
  return join(configDir, 'applied-secrets.json');
}

/**
 * Keys whose value differs from the one last deployed. A key the record does not know (a service
 * enabled since, or a cloud deployed before berth kept records) is not a rotation: nothing holds
 * an older value of it.
 */
export function changedSecrets(configDir: string, passwords: Record<string, string>): string[] {
  const record = read(configDir);
  if (!record) return [];
  return Object.keys(passwords)
    .filter((key) => record.digests[key] !== undefined && record.digests[key] !== digest(record.salt, key, passwords[key]!))
    .sort();
}

/** After a deploy in which every step succeeded: these values are what the cloud uses now. */
export function recordAppliedSecrets(configDir: string, passwords: Record<string, string>): void {
  const salt = read(configDir)?.salt ?? randomBytes(16).toString('hex');
  const digests = Object.fromEntries(Object.keys(passwords).sort().map((key) => [key, digest(salt, key, passwords[key]!)]));
  const path = appliedSecretsPath(configDir);
  writeFileSync(`${path}.tmp`, JSON.stringify({ salt, digests } satisfies Record_, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** destroy: the cloud that used them is gone. */
export function forgetAppliedSecrets(configDir: string): void {
  rmSync(appliedSecretsPath(configDir), { force: true });
}

function read(configDir: string): Record_ | undefined {
  const path = appliedSecretsPath(configDir);
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as Record_;
    return typeof r.salt === 'string' && typeof r.digests === 'object' && r.digests !== null ? r : undefined;
  } catch {
    // A damaged record only loses the rotation report; the deploy itself converges either way.
    return undefined;
  }
}

function digest(salt: string, key: string, value: string): string {
  return createHash('sha256').update(`${salt}\0${key}\0${value}`).digest('hex');
}
