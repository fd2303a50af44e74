// berth ssh-keyscan: reads each SSH host's key, shows its fingerprint and records it in the config
// directory's known_hosts. A recorded key that differs is never overwritten unless --replace names
// the host (after both fingerprints are shown): every other SSH connection refuses such a host.
import type { Command } from '@commander-js/extra-typings';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../config/errors.js';
import { findInventory } from '../config/deployment.js';
import { hostVars, loadInventory } from '../config/inventory.js';
import { EngineError } from '../engine/docker.js';
import { appendKnownHost, entryMatches, fingerprint, hostToken, keyType, readKnownHosts, replaceKnownHost, verifyHostKey } from '../engine/known-hosts.js';
import { scanHostKey } from '../engine/ssh.js';

type Globals = { configDir: string; format: 'text' | 'json' };

export function registerSshCommands(program: Command<[], Globals & { debug: boolean }>): void {
  program
    .command('ssh-keyscan')
    .description("record every SSH host's key in <config-dir>/known_hosts (shows each fingerprint; a changed key is refused)")
    .argument('[hosts...]', 'inventory host names (default: every host reached over SSH)')
    .option('--replace <host...>', 'replace the recorded key of these hosts by the one they show now (after a reinstall)')
    .action(async (names, o) => {
      await runKeyscan(program.opts().configDir, names, o.replace ?? []);
    });
}

export interface ScanTarget {
  name: string;
  address: string;
  port: number;
}

/** The inventory's SSH hosts as ssh-keyscan needs them: only the inventory is read (no passwords yet). */
export function sshTargets(configDir: string, names: string[]): ScanTarget[] {
  const path = findInventory(configDir);
  if (!path) throw new InputError(`${configDir}: no inventory (neither multinode nor all-in-one)`, 'write a multinode inventory first');
  const inventory = loadInventory(path);
  for (const n of names) {
    if (!inventory.hosts.has(n)) throw new InputError(`${path}: no host "${n}"`, `hosts: ${[...inventory.hosts.keys()].join(', ')}`);
  }
  // The same defaults as the deployment's hosts (config/deployment.ts).
  return [...inventory.hosts.values()]
    .filter((h) => !names.length || names.includes(h.name))
    .map((h) => ({ h, vars: hostVars(inventory, h.name) }))
    .filter(({ h, vars }) => (vars.ansible_connection ?? (h.name === 'localhost' ? 'local' : 'ssh')) !== 'local' && vars.berth_docker_host === undefined)
    .map(({ h, vars }) => ({ name: h.name, address: vars.ansible_host ?? h.name, port: Number(vars.ansible_port ?? 22) }));
}

export async function runKeyscan(configDir: string, names: string[], replace: string[]): Promise<void> {
  const targets = sshTargets(configDir, names);
  for (const r of replace) {
    if (!targets.some((t) => t.name === r)) throw new InputError(`--replace ${r}: not an SSH host of the inventory`);
  }
  if (!targets.length) {
    console.log('no host of the inventory is reached over SSH; nothing to scan');
    return;
  }
  mkdirSync(configDir, { recursive: true });
  const file = join(configDir, 'known_hosts');
  const results = await scanKeys(file, targets, replace);
  for (const r of results) {
    if (r.status === 'failed' || r.status === 'changed' || r.status === 'revoked') console.error(r.line);
    else console.log(r.line);
  }
  assertNoRefusedKeys(file, results);
  const failed = results.filter((r) => r.status === 'failed').length;
  if (failed) throw new EngineError(`${failed} host(s) did not show a key`, 'fix what is said above and run berth ssh-keyscan again');
}

export interface KeyScanResult {
  target: ScanTarget;
  /** known: unchanged; new: recorded; replaced: --replace; changed, revoked: refused; failed: no key shown. */
  status: 'known' | 'new' | 'replaced' | 'changed' | 'revoked' | 'failed';
  /** What to print: the host, its key's type and SHA256 fingerprint, what was done (or why not). */
  line: string;
  error?: Error;
}

/**
 * Reads each host's key (all at once), compares it with `file` and records a new one. A changed key
 * is never written unless its host is in `replace`. Also used by bootstrap-servers, before it logs in.
 */
export async function scanKeys(file: string, targets: readonly ScanTarget[], replace: readonly string[] = []): Promise<KeyScanResult[]> {
  const scanned = await Promise.all(
    targets.map(async (t) => {
      const token = hostToken(t.address, t.port);
      const recorded = readKnownHosts(file).filter((e) => !e.marker && entryMatches(e, token));
      try {
        return { t, token, key: await scanHostKey(t, recorded.map((e) => e.type)) };
      } catch (err) {
        return { t, token, error: err as Error };
      }
    }),
  );
  return scanned.map((r): KeyScanResult => {
    const label = `${r.t.name} (${r.t.address}:${r.t.port})`;
    if (!r.key) {
      const e = r.error;
      return { target: r.t, status: 'failed', line: `${label}: ${e?.message}${e instanceof EngineError && e.hint ? `\n  → ${e.hint}` : ''}`, ...(e ? { error: e } : {}) };
    }
    const shown = `${keyType(r.key)} ${fingerprint(r.key)}`;
    // Read again for every host: an earlier one may have just been recorded under the same address.
    const verdict = verifyHostKey(readKnownHosts(file), r.token, r.key);
    if (verdict.status === 'known') return { target: r.t, status: 'known', line: `${label}: ${shown}: known, unchanged` };
    if (verdict.status === 'unknown') {
      appendKnownHost(file, r.token, r.key);
      return { target: r.t, status: 'new', line: `${label}: ${shown}: new, recorded in ${file}` };
    }
    if (verdict.status === 'revoked') return { target: r.t, status: 'revoked', line: `${label}: ${shown} is marked @revoked in ${file}:${verdict.entry.line}; not recorded` };
    const before = verdict.known.map((e) => `${e.type} ${fingerprint(e.key)} (line ${e.line})`).join(', ');
    if (replace.includes(r.t.name)) {
      replaceKnownHost(file, r.token, r.key);
      return { target: r.t, status: 'replaced', line: `${label}: HOST KEY CHANGED: was ${before}, now ${shown}: replaced in ${file} (--replace)` };
    }
    return { target: r.t, status: 'changed', line: `${label}: HOST KEY CHANGED: recorded ${before}, the host shows ${shown}: NOT recorded` };
  });
}

/** Exit 2 when a host showed a changed or revoked key: nothing may log in to it. */
export function assertNoRefusedKeys(file: string, results: readonly KeyScanResult[]): void {
  const refused = results.filter((r) => r.status === 'changed' || r.status === 'revoked');
  if (!refused.length) return;
  throw new InputError(
    `${refused.length} host key(s) differ from the recorded ones in ${file}: ${refused.map((r) => r.target.name).join(', ')}`,
    'if a host was reinstalled, check its new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then berth ssh-keyscan --replace HOST',
  );
}
