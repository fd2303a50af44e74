// berth ssh-keyscan: reads each SSH host's key, shows its fingerprint and records it in the config
// directory's known_hosts. A recorded key that differs is never overwritten unless --replace names
// the host (after both fingerprints are shown): every other SSH connection refuses such a host.
import type { Command } from '@commander-js/extra-typings';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../config/errors.js';
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
  const path = ['multinode', 'all-in-one'].map((n) => join(configDir, n)).find((p) => existsSync(p));
  if (!path) throw new InputError(`${configDir}: no inventory (neither multinode nor all-in-one)`, 'write a multinode inventory first');
  const inventory = loadInventory(path);
  for (const n of names) {
    if (!inventory.hosts.has(n)) throw new InputError(`${path}: no host "${n}"`, `hosts: ${[...inventory.hosts.keys()].join(', ')}`);
  }
  // The same defaults as the deployment's hosts (config/deployment.ts).
  return [...inventory.hosts.values()]
    .filter((h) => !names.length || names.includes(h.name))
    .map((h) => ({ h, vars: hostVars(inventory, h.name) }))
    .filter(({ h, vars }) => (vars.ansible_connection ?? (h.name === 'localhost' ? 'local' : 'ssh')) !== 'local')
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
  const results = await Promise.all(
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
  let refused = 0;
  let failed = 0;
  for (const r of results) {
    const label = `${r.t.name} (${r.t.address}:${r.t.port})`;
    if (!r.key) {
      failed++;
      console.error(`${label}: ${r.error?.message}${r.error instanceof EngineError && r.error.hint ? `\n  → ${r.error.hint}` : ''}`);
      continue;
    }
    const shown = `${keyType(r.key)} ${fingerprint(r.key)}`;
    // Read again for every host: an earlier one may have just been recorded under the same address.
    const verdict = verifyHostKey(readKnownHosts(file), r.token, r.key);
    if (verdict.status === 'known') {
      console.log(`${label}: ${shown}: known, unchanged`);
    } else if (verdict.status === 'unknown') {
      appendKnownHost(file, r.token, r.key);
      console.log(`${label}: ${shown}: new, recorded in ${file}`);
    } else if (verdict.status === 'revoked') {
      refused++;
      console.error(`${label}: ${shown} is marked @revoked in ${file}:${verdict.entry.line}; not recorded`);
    } else {
      const before = verdict.known.map((e) => `${e.type} ${fingerprint(e.key)} (line ${e.line})`).join(', ');
      if (replace.includes(r.t.name)) {
        replaceKnownHost(file, r.token, r.key);
        console.log(`${label}: HOST KEY CHANGED: was ${before}, now ${shown}: replaced in ${file} (--replace)`);
      } else {
        refused++;
        console.error(`${label}: HOST KEY CHANGED: recorded ${before}, the host shows ${shown}: NOT recorded`);
      }
    }
  }
  if (refused) {
    throw new InputError(
      `${refused} host key(s) differ from the recorded ones in ${file}`,
      'if a host was reinstalled, check its new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then rerun with --replace HOST',
    );
  }
  if (failed) throw new EngineError(`${failed} host(s) did not show a key`, 'fix what is said above and run berth ssh-keyscan again');
}
