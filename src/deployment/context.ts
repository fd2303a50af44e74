// Everything a deploy-side command needs, loaded once: the validated deployment, its identity, the
// plan, the secrets that will rotate, and a connection to each host. Bad input stops here, before
// any host is touched. Below the CLI, so tools that work against the cloud (init-runonce, tempest)
// use it without depending on the command line.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { catalog, catalogSecrets } from '../catalog/index.js';
import { loadBuildConfig, type BuildConfig } from '../config/build-config.js';
import { loadDeployment, type Deployment } from '../config/deployment.js';
import { InputError } from '../config/errors.js';
import type { Host } from '../engine/host.js';
import { LocalHost } from '../engine/local-host.js';
import { SshHost } from '../engine/ssh-host.js';
import { readOverrideFiles } from '../config/overrides.js';
import { EXTERNAL_VETH, plan } from '../plan/plan.js';
import { LABEL, type Plan, type SecretRotation } from '../plan/types.js';
import { changedSecrets } from './applied-secrets.js';
import { deploymentIdPath, readDeploymentId } from './identity.js';

export interface DeploymentContext {
  deployment: Deployment;
  /** The deployment's id (config dir's deployment-id); every object berth makes carries it. */
  deploymentId: string;
  warnings: string[];
  build: BuildConfig;
  plan: Plan;
  hosts: Map<string, Host>;
  /** Values that must never be printed. */
  secrets: string[];
  /** Secrets whose value differs from the one last deployed, and how each reaches the cloud. */
  rotations: SecretRotation[];
  /** Labels of a tool run (toolbox, tempest) of this deployment. */
  toolLabels: Record<string, string>;
}

/** Hosts of every context loaded in this process, for closeHosts(). */
const opened = new Set<Host>();

/** Ends the hosts' connections (SSH), so the process can exit; the CLI calls it once, at the end. */
export async function closeHosts(): Promise<void> {
  const hosts = [...opened];
  opened.clear();
  await Promise.all(hosts.map((h) => h.close().catch(() => undefined)));
}

/** The per-service inventory groups a kolla-ansible inventory may hold hosts in directly. */
const serviceGroups = catalog.map((s) => s.name);

export function loadContext(configDir: string): DeploymentContext {
  const secretDefs = catalogSecrets();
  const { deployment, warnings } = loadDeployment(configDir, {
    requiredSecrets: secretDefs.map((s) => s.name),
    fernetSecrets: secretDefs.filter((s) => s.kind === 'fernet').map((s) => s.name),
    knownGroups: serviceGroups,
  });
  const deploymentId = readDeploymentId(configDir);
  if (deploymentId === undefined) {
    throw new InputError(
      `${deploymentIdPath(configDir)}: not found (the id that marks this deployment's containers and volumes)`,
      'run berth genpwd, which makes it once; for a cloud deployed before berth kept one, then run berth deploy --adopt',
    );
  }
  const g = deployment.globals;
  if (g.enable_neutron && g.neutron_external_interface === undefined) {
    warnings.push(
      `neutron_external_interface is not set: berth creates a veth pair ${EXTERNAL_VETH}/${EXTERNAL_VETH}-host on each network host ` +
        'for the flat provider network physnet1 (its traffic stays on that host); set it to a spare interface to reach a real network',
    );
  }
  const changed = new Set(changedSecrets(configDir, deployment.passwords));
  const rotations = secretDefs
    .filter((s) => changed.has(s.name))
    .map((s): SecretRotation => ({ key: s.name, how: s.rotation ?? 'the services using it restart', ...(s.cannotRotate ? { refused: s.cannotRotate } : {}) }));

  const build = loadBuildConfig(configDir);
  const hostnames: Record<string, string> = {};
  for (const h of deployment.hosts) {
    // TODO(multinode): a remote host's own hostname (nova's compute host name) is not read yet; its inventory name stands in.
    hostnames[h.name] = h.connection === 'local' ? hostname() : h.name;
  }
  const desired = plan({ deployment, overrides: readOverrideFiles(configDir), images: build, hostnames }, catalog);
  // An SSH host connects on first use; closeHosts() ends every connection at the end of the run.
  const knownHostsFile = join(configDir, 'known_hosts');
  const hosts = new Map<string, Host>(
    deployment.hosts.map((h) => [
      h.name,
      h.connection === 'local'
        ? new LocalHost(h.name)
        : new SshHost({ name: h.name, address: h.address, port: h.port, user: h.user, become: h.become, privateKeyFile: h.privateKeyFile, knownHostsFile }),
    ]),
  );
  for (const host of hosts.values()) opened.add(host);
  return {
    deployment,
    deploymentId,
    warnings,
    build,
    plan: desired,
    hosts,
    secrets: Object.values(deployment.passwords),
    rotations,
    toolLabels: { [LABEL.deployment]: deploymentId, [LABEL.kind]: 'tool' },
  };
}

/** A deploy with a secret berth cannot rotate stops here, before any change (exit 2). */
export function assertRotatable(ctx: DeploymentContext): void {
  const refused = ctx.rotations.filter((r) => r.refused);
  if (!refused.length) return;
  const { why, hint } = refused[0]!.refused!;
  throw new InputError(
    `${ctx.deployment.configDir}/passwords.yml: ${refused.map((r) => r.key).join(', ')} changed since the last deploy, and berth cannot rotate ${refused.length > 1 ? 'them' : 'it'}: ${why}`,
    hint,
  );
}

/** The host that tools acting on the cloud (toolbox, tempest) run on: the first host of the inventory. */
export function toolHost(ctx: DeploymentContext): Host {
  return [...ctx.hosts.values()][0]!;
}
