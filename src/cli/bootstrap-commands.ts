// berth bootstrap-servers: prepares the inventory's hosts (kolla-ansible's `baremetal`) for a
// deploy: host keys first (shown and recorded as ssh-keyscan does; a changed one stops everything,
// exit 2), then Docker Engine, daemon.json, kernel modules, sysctls, /run/netns and /etc/hosts on
// every host at once (--forks), by one script per host. Needs only globals.yml and the inventory:
// it runs before genpwd.
import type { Command } from '@commander-js/extra-typings';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { catalogGroups } from '../catalog/index.js';
import { loadBuildConfig } from '../config/build-config.js';
import { loadDeployment } from '../config/deployment.js';
import { InputError } from '../config/errors.js';
import { resolveLimit } from '../config/inventory.js';
import { bootstrapServers } from '../deployment/bootstrap.js';
import { connectHost, DEFAULT_FORKS } from '../deployment/context.js';
import { parseForks } from './deploy-commands.js';
import { localTarget, sshTarget, type BootstrapTarget } from '../engine/bootstrap.js';
import { EngineError } from '../engine/docker.js';
import type { Host } from '../engine/host.js';
import { LocalHost } from '../engine/local-host.js';
import { SshHost } from '../engine/ssh-host.js';
import { bootstrapHosts } from '../plan/bootstrap.js';
import { BootstrapReporter } from '../ui/bootstrap-report.js';
import { assertNoRefusedKeys, scanKeys } from './ssh-commands.js';

type Globals = { configDir: string; format: 'text' | 'json' };

export function registerBootstrapCommands(program: Command<[], Globals & { debug: boolean }>): void {
  program
    .command('bootstrap-servers')
    .description('prepare the hosts: record their SSH keys, install and configure Docker Engine from Debian, kernel modules, sysctls, /etc/hosts (idempotent)')
    .option('--limit <hosts>', 'prepare only these hosts: host or group names of the inventory, separated by commas or colons (a leading ! excludes one)')
    .option('--forks <n>', `hosts prepared at once (default ${DEFAULT_FORKS}, as Ansible)`, parseForks)
    .action(async (o) => {
      const { configDir, format } = program.opts();
      await runBootstrap(configDir, format, o);
    });
}

export async function runBootstrap(configDir: string, format: 'text' | 'json', o: { limit?: string; forks?: number }): Promise<void> {
  const { deployment, warnings } = loadDeployment(configDir, { requiredSecrets: [], passwords: false, defaultGroups: catalogGroups() });
  for (const w of warnings) console.error(`warning: ${w}`);
  const registry = loadBuildConfig(configDir).registry;
  const all = bootstrapHosts(deployment);
  const limited = o.limit === undefined ? undefined : resolveLimit(deployment.inventory, o.limit);
  const selected = all.filter((h) => !limited || limited.has(h));
  if (!selected.length) {
    throw new InputError(
      `${deployment.inventory.path}: no host to prepare${limited ? ' in --limit' : ''}`,
      'bootstrap-servers prepares the hosts of [baremetal], by default those of control, network, compute, storage and monitoring',
    );
  }
  const reporter = new BootstrapReporter(format);
  const byName = new Map(deployment.hosts.map((h) => [h.name, h]));
  const tcp = all.filter((n) => byName.get(n)!.connection === 'tcp');
  if (tcp.length) {
    throw new InputError(
      `${deployment.inventory.path}: ${tcp.join(', ')} ${tcp.length === 1 ? 'is' : 'are'} reached at Docker's TCP API (berth_docker_host): bootstrap-servers prepares hosts over SSH`,
      'prepare such a host yourself (Docker Engine listening with TLS, the kernel modules and sysctls its services need), or reach it over SSH',
    );
  }

  // Host keys first: a new one shown and recorded, a changed one stops the run before any login.
  mkdirSync(configDir, { recursive: true });
  const knownHosts = join(configDir, 'known_hosts');
  const scanned = await scanKeys(
    knownHosts,
    selected.map((n) => byName.get(n)!).filter((h) => h.connection === 'ssh').map((h) => ({ name: h.name, address: h.address, port: h.port })),
  );
  for (const r of scanned) reporter.hostKey(r.target.name, r.status, r.line);
  assertNoRefusedKeys(knownHosts, scanned);
  const unreachable = new Map(scanned.filter((r) => r.status === 'failed').map((r) => [r.target.name, r.error?.message ?? 'no host key shown']));

  const hosts: Host[] = [];
  const targets = new Map<string, BootstrapTarget>();
  for (const name of all) {
    const host = connectHost(byName.get(name)!, knownHosts);
    hosts.push(host);
    targets.set(name, host instanceof SshHost ? sshTarget(host) : localTarget(host as LocalHost));
  }
  try {
    const outcome = await bootstrapServers({ deployment, registry, targets, selected, forks: o.forks ?? DEFAULT_FORKS, unreachable, onEvent: reporter.onEvent });
    reporter.recap(outcome.results, selected, outcome.unreachable, outcome.durations);
    if (outcome.inputError) throw outcome.inputError;
    const failed = [...new Set(outcome.results.filter((r) => r.status === 'failed').map((r) => r.host))];
    const lost = selected.filter((h) => outcome.unreachable.has(h));
    if (failed.length || lost.length) {
      throw new EngineError(
        [failed.length ? `failed on ${failed.join(', ')}` : '', lost.length ? `unreachable: ${lost.join(', ')}` : ''].filter(Boolean).join('; '),
        'fix the cause shown above and run bootstrap-servers again (--limit to those hosts); what is done stays done',
      );
    }
  } finally {
    await Promise.all(hosts.map((h) => h.close().catch(() => undefined)));
  }
}
