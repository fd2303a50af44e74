// Everything a deploy-side command needs, loaded once: the validated deployment, its identity, the
// facts of every host (hostname, interface addresses), the plan, the secrets that will rotate, and
// a connection to each host. Bad input stops here, before any host is changed. Below the CLI, so
// tools that work against the cloud (init-runonce, tempest) use it without depending on the command line.
import { join } from 'node:path';
import pLimit from 'p-limit';
import { catalog, catalogGroups, catalogSecrets } from '../catalog/index.js';
import { imageRef, loadBuildConfig, type BuildConfig } from '../config/build-config.js';
import { loadDeployment, type Deployment, type DeploymentHost } from '../config/deployment.js';
import { InputError } from '../config/errors.js';
import { hostsOf, type Inventory } from '../config/inventory.js';
import { EngineError } from '../engine/docker.js';
import { isUnreachable, type Host } from '../engine/host.js';
import { LocalHost } from '../engine/local-host.js';
import { SshHost } from '../engine/ssh-host.js';
import { TcpHost } from '../engine/tcp-host.js';
import { readOverrideFiles } from '../config/overrides.js';
import { wantedInterfaces } from '../plan/addresses.js';
import { EXTERNAL_VETH, plan } from '../plan/plan.js';
import { LABEL, type HostFacts, type Plan, type SecretRotation } from '../plan/types.js';
import { changedSecrets } from './applied-secrets.js';
import { deploymentIdPath, readDeploymentId } from './identity.js';

export interface DeploymentContext {
  deployment: Deployment;
  /** The deployment's id (config dir's deployment-id); every object berth makes carries it. */
  deploymentId: string;
  /** Where its inputs were read from: the config directory, or a copy (see LoadContextOptions.inputsDir). */
  inputsDir: string;
  warnings: string[];
  build: BuildConfig;
  plan: Plan;
  hosts: Map<string, Host>;
  /** Hosts that could not be reached while their facts were read, with the reason. */
  unreachable: Map<string, string>;
  /** Values that must never be printed. */
  secrets: string[];
  /** Secrets whose value differs from the one last deployed, and how each reaches the cloud. */
  rotations: SecretRotation[];
  /** Labels of a tool run (toolbox, tempest) of this deployment. */
  toolLabels: Record<string, string>;
  /** Where the time went before any change, for the recap (ms). */
  timings: ContextTimings;
}

export interface ContextTimings {
  /** From the process's start to reading the config (Node and the modules loading). */
  startMs: number;
  /** Reading and checking the config directory. */
  configMs: number;
  /** Every host's facts: mostly waiting on the hosts. */
  factsMs: number;
  /** Planning, rendering every file included. */
  planMs: number;
}

export interface LoadContextOptions {
  /** Hosts worked on at once (Ansible's forks); here, for reading their facts. */
  forks?: number;
  /** How a host of the inventory is reached (replaceable for tests). */
  connect?: (host: DeploymentHost) => Host;
  /**
   * Where the operator's inputs (globals.yml, passwords.yml, inventory, build.yml, config/) are read
   * from, when not the config directory: a restore point's copy, or what the cloud was last deployed
   * from. The deployment's state (its id, lock, known hosts, outputs) stays in the config directory.
   */
  inputsDir?: string;
  /** Plan `berth upgrade`'s steps too (see PlanInput.upgrade). */
  upgrade?: { from: string };
  /** Another context of the same deployment whose host connections are used instead of new ones. */
  sharing?: DeploymentContext;
}

/** Hosts of every context loaded in this process, for closeHosts(). */
const opened = new Set<Host>();

/** Ends the hosts' connections (SSH), so the process can exit; the CLI calls it once, at the end. */
export async function closeHosts(): Promise<void> {
  const hosts = [...opened];
  opened.clear();
  await Promise.all(hosts.map((h) => h.close().catch(() => undefined)));
}

export const DEFAULT_FORKS = 10;

/** What a TCP host's files container needs: its image, the directory it mounts, its labels. */
export interface FilesContainerSpec {
  filesImage: string;
  configRoot: string;
  labels: Record<string, string>;
}

/** A Host for each inventory host: the Docker socket for ansible_connection=local, Docker's TCP API for berth_docker_host, else SSH. */
export function connectHost(h: DeploymentHost, knownHostsFile: string, files?: FilesContainerSpec): Host {
  if (h.connection === 'local') return new LocalHost(h.name);
  if (h.connection === 'tcp') {
    if (!files) throw new Error(`host ${h.name}: a TCP host needs its files container described`);
    return new TcpHost({ name: h.name, address: h.docker!.address, port: h.docker!.port, ...(h.docker!.tls ? { tls: h.docker!.tls } : {}), ...files });
  }
  return new SshHost({ name: h.name, address: h.address, port: h.port, user: h.user, become: h.become, privateKeyFile: h.privateKeyFile, knownHostsFile });
}

/** The files container of a deployment's TCP hosts. */
export function filesContainerSpec(deployment: Deployment, build: BuildConfig, deploymentId: string): FilesContainerSpec {
  return { filesImage: imageRef(build, 'base'), configRoot: deployment.globals.node_config_directory, labels: { [LABEL.deployment]: deploymentId, [LABEL.kind]: 'files' } };
}

export async function loadContext(configDir: string, opts: LoadContextOptions = {}): Promise<DeploymentContext> {
  const started = performance.now();
  const secretDefs = catalogSecrets();
  const inputsDir = opts.inputsDir ?? configDir;
  const { deployment, warnings } = loadDeployment(inputsDir, {
    requiredSecrets: secretDefs.map((s) => s.name),
    fernetSecrets: secretDefs.filter((s) => s.kind === 'fernet').map((s) => s.name),
    defaultGroups: catalogGroups(),
  });
  const deploymentId = readDeploymentId(configDir);
  if (deploymentId === undefined) {
    throw new InputError(
      `${deploymentIdPath(configDir)}: not found (the id that marks this deployment's containers and volumes)`,
      'run berth genpwd, which makes it once; for a cloud deployed before berth kept one, then run berth deploy --adopt',
    );
  }
  const g = deployment.globals;
  // Only the agent hosts get the provider bridge (the deployment host, say, does not).
  const agentGroup = g.neutron_plugin_agent === 'openvswitch' ? 'neutron-openvswitch-agent' : 'neutron-linuxbridge-agent';
  const agents = new Set(hostsOf(deployment.inventory, agentGroup));
  const withoutExternal = deployment.hosts.filter((h) => agents.has(h.name) && h.interfaces.neutronExternal === undefined).map((h) => h.name);
  if (g.enable_neutron && withoutExternal.length) {
    warnings.push(
      `neutron_external_interface is not set${deployment.hosts.length > 1 ? ` for ${withoutExternal.join(', ')}` : ''}: berth creates a veth pair ${EXTERNAL_VETH}/${EXTERNAL_VETH}-host on each Neutron agent host ` +
        'for the flat provider network physnet1 (its traffic stays on that host); set it to a spare interface to reach a real network',
    );
  }
  const galera = hostsOf(deployment.inventory, 'mariadb');
  if (g.enable_mariadb && galera.length > 1 && galera.length % 2 === 0) {
    warnings.push(
      `${deployment.inventory.path}: [mariadb] has ${galera.length} hosts (${galera.join(', ')}): a Galera cluster keeps working only while more than half of its nodes do, ` +
        `so losing ${galera.length / 2} of them stops the database${galera.length === 2 ? ' (either one, with two)' : ''}; an odd count (${galera.length + 1}) survives that`,
    );
  }
  deployment.configDir = configDir;
  const changed = new Set(changedSecrets(configDir, deployment.passwords));
  const rotations = secretDefs
    .filter((s) => changed.has(s.name))
    .map((s): SecretRotation => ({ key: s.name, how: s.rotation ?? 'the services using it restart', ...(s.cannotRotate ? { refused: s.cannotRotate } : {}) }));

  const build = loadBuildConfig(inputsDir);
  // An SSH host connects on first use (its facts, below); closeHosts() ends every connection at the end of the run.
  const knownHostsFile = join(configDir, 'known_hosts');
  const files = filesContainerSpec(deployment, build, deploymentId);
  const connect = opts.connect ?? ((h: DeploymentHost) => connectHost(h, knownHostsFile, files));
  const hosts = new Map<string, Host>(deployment.hosts.map((h) => [h.name, opts.sharing?.hosts.get(h.name) ?? connect(h)]));
  for (const host of hosts.values()) opened.add(host);
  const configured = performance.now();
  const { facts, unreachable } = await gatherFacts(hosts, wantedInterfaces(deployment), opts.forks ?? DEFAULT_FORKS);
  const gathered = performance.now();
  const desired = plan({ deployment, overrides: readOverrideFiles(inputsDir), images: build, facts, upgrade: opts.upgrade }, catalog);
  const timings = { startMs: started, configMs: configured - started, factsMs: gathered - configured, planMs: performance.now() - gathered };
  warnings.push(...desired.warnings);
  return {
    deployment,
    deploymentId,
    inputsDir,
    warnings,
    build,
    plan: desired,
    hosts,
    unreachable,
    secrets: Object.values(deployment.passwords),
    rotations,
    toolLabels: { [LABEL.deployment]: deploymentId, [LABEL.kind]: 'tool' },
    timings,
  };
}

/**
 * Each host's facts, at most `forks` hosts at a time. The engine's ping comes first: a host that
 * does not answer is unreachable (kept with its reason, the others go on); any other failure stops.
 */
export async function gatherFacts(
  hosts: ReadonlyMap<string, Host>,
  wanted: Readonly<Record<string, string[]>>,
  forks: number,
): Promise<{ facts: Record<string, HostFacts>; unreachable: Map<string, string> }> {
  const limit = pLimit(forks);
  const facts: Record<string, HostFacts> = {};
  const unreachable = new Map<string, string>();
  // Every host settles before a failure is thrown: the run then ends with no call under way.
  const settled = await Promise.allSettled(
    [...hosts].map(([name, host]) =>
      limit(async () => {
        try {
          await host.ping();
          facts[name] = await host.facts(wanted[name] ?? []);
        } catch (err) {
          if (!isUnreachable(err)) throw err;
          unreachable.set(name, (err as Error).message);
        }
      }),
    ),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return { facts, unreachable };
}

/** The inventory hosts that are this machine (ansible_connection=local): a missing image there is built, not pulled. */
export function localHosts(ctx: Pick<DeploymentContext, 'deployment'>): Set<string> {
  return new Set(ctx.deployment.hosts.filter((h) => h.connection === 'local').map((h) => h.name));
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

/**
 * Where tools acting on the cloud (init-runonce, tempest) run: the first host of [deployment], as
 * in kolla-ansible's inventories (`localhost ansible_connection=local`; berth init writes it).
 */
export function toolHostName(inv: Inventory): string {
  const name = hostsOf(inv, 'deployment')[0];
  if (name === undefined) {
    throw new InputError(
      `${inv.path}: no host in [deployment], where berth runs the tools that act on the cloud (init-runonce, tempest)`,
      'add the machine berth runs on, as kolla-ansible inventories do: [deployment] then "localhost ansible_connection=local" (berth init writes it)',
    );
  }
  return name;
}

export function toolHost(ctx: Pick<DeploymentContext, 'deployment' | 'hosts' | 'unreachable'>): Host {
  const name = toolHostName(ctx.deployment.inventory);
  const reason = ctx.unreachable.get(name);
  if (reason !== undefined) throw new EngineError(`the deployment host ${name} is unreachable: ${reason}`, 'make it reachable, or name another host under [deployment]');
  return ctx.hosts.get(name)!;
}
