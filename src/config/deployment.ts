// Everything `berth deploy` reads from the config directory, validated and resolved into one typed
// value. Nothing after this point reads operator files (see DESIGN.md, "Data flows one way").
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { InputError } from './errors.js';
import { loadGlobals, type Globals } from './globals.js';
import { hostsOf, hostVars, loadInventory, type Inventory, type InventoryOptions } from './inventory.js';
import { loadPasswords } from './passwords.js';
import { isLoopback, parseDockerHost } from './values.js';

export interface DeploymentHost {
  name: string;
  /** Where berth reaches the host: ansible_host, else its inventory name. */
  address: string;
  /** local: this machine's socket; ssh; tcp: Docker's remote API (berth_docker_host). */
  connection: 'local' | 'ssh' | 'tcp';
  /** berth_docker_host's endpoint, with berth_docker_tls_dir's files read (none only on loopback). */
  docker?: { address: string; port: number; tls?: { ca: Buffer; cert: Buffer; key: Buffer } };
  user: string;
  port: number;
  /** ansible_become: privileged work on the host goes through `sudo -n` (for a user other than root). */
  become: boolean;
  /** ansible_ssh_private_key_file, ~ expanded; unset: the SSH agent and ~/.ssh/id_* keys. */
  privateKeyFile?: string;
  /** The inventory line where the host first appears. */
  line: number;
  /** Its interfaces: globals.yml's, overridden by its own or its groups' inventory variables. */
  interfaces: HostInterfaces;
  /** tunnel_address from the inventory: Neutron's VXLAN endpoint instead of tunnel_interface's address. */
  tunnelAddress?: string;
}

export interface HostInterfaces {
  network: string;
  /** Its IPv4 address is the one the host's services bind to and are reached at. */
  api: string;
  /** Its IPv4 address is Neutron's VXLAN endpoint. */
  tunnel: string;
  /** The flat provider network's interface; unset: berth's veth pair. */
  neutronExternal?: string;
}

export interface Deployment {
  configDir: string;
  /** kolla_internal_vip_address may be null here: the plan resolves it from the first control host's facts. */
  globals: Globals;
  inventory: Inventory;
  passwords: Record<string, string>;
  hosts: DeploymentHost[];
}

export interface LoadDeploymentOptions {
  requiredSecrets: readonly string[];
  /** Of those, the ones that must be Fernet keys. */
  fernetSecrets?: readonly string[];
  /** Groups besides the top-level ones that may hold hosts directly. */
  knownGroups?: InventoryOptions['knownGroups'];
  /** The catalog's per-service groups and their default children. */
  defaultGroups?: InventoryOptions['defaultGroups'];
  /** false: passwords.yml is not read (bootstrap-servers runs before genpwd); `passwords` is empty. */
  passwords?: boolean;
}

/** `~/x` → the home directory's x, as Ansible reads ansible_ssh_private_key_file. */
function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** The config directory's inventory: `multinode` wins over `all-in-one`; undefined when neither is there. */
export function findInventory(configDir: string): string | undefined {
  return ['multinode', 'all-in-one'].map((name) => join(configDir, name)).find((p) => existsSync(p));
}

export function loadDeployment(configDir: string, opts: LoadDeploymentOptions): { deployment: Deployment; warnings: string[] } {
  const { globals, warnings } = loadGlobals(configDir);
  const inventoryPath = findInventory(configDir);
  if (!inventoryPath) {
    throw new InputError(
      `${configDir}: no inventory (neither multinode nor all-in-one)`,
      'run berth init to write an all-in-one inventory, or write a multinode one',
    );
  }
  const inventory = loadInventory(inventoryPath, { knownGroups: opts.knownGroups, defaultGroups: opts.defaultGroups });
  const passwords = opts.passwords === false ? {} : loadPasswords(configDir, opts.requiredSecrets, opts.fernetSecrets);
  if (inventory.hosts.size === 0) throw new InputError(`${inventoryPath}: no hosts`, 'list at least one host under [control]');
  // kolla-ansible turns haproxy on always; berth where it serves: a cloud of one control host is
  // reached at that host's own address, several need a VIP and a load balancer in front.
  globals.enable_haproxy ??= hostsOf(inventory, 'control').length > 1;
  globals.enable_keepalived ??= globals.enable_haproxy;

  const hosts = [...inventory.hosts.values()].map((host): DeploymentHost => {
    const vars = hostVars(inventory, host.name);
    const where = `${inventoryPath}:${host.line}`;
    const connection = vars.ansible_connection ?? (host.name === 'localhost' ? 'local' : 'ssh');
    if (!['local', 'ssh', 'smart', 'paramiko'].includes(connection)) {
      throw new InputError(`${where}: host "${host.name}": ansible_connection=${connection} is not supported`, 'use local or ssh');
    }
    const port = Number(vars.ansible_port ?? 22);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InputError(`${where}: host "${host.name}": ansible_port must be a port number`);
    }
    const docker = vars.berth_docker_host === undefined ? undefined : dockerEndpoint(where, host.name, connection, vars);
    return {
      name: host.name,
      address: docker?.address ?? vars.ansible_host ?? host.name,
      connection: docker ? 'tcp' : connection === 'local' ? 'local' : 'ssh',
      ...(docker ? { docker } : {}),
      // Ansible's default: the user running the command.
      user: vars.ansible_user ?? vars.ansible_ssh_user ?? userInfo().username,
      port,
      become: /^(yes|true|on|y|1)$/i.test(vars.ansible_become ?? 'no'),
      ...(vars.ansible_ssh_private_key_file ? { privateKeyFile: expandHome(vars.ansible_ssh_private_key_file) } : {}),
      line: host.line,
      interfaces: hostInterfaces(globals, vars),
      ...(vars.tunnel_address !== undefined ? { tunnelAddress: vars.tunnel_address } : {}),
    };
  });
  assertDistinctAddresses(inventoryPath, hosts);
  return { deployment: { configDir, globals, inventory, passwords, hosts }, warnings };
}

/**
 * berth_docker_host and berth_docker_tls_dir: Docker's remote API. Without TLS, whoever reaches
 * the port is root on the host, so plain TCP is for loopback only (the scale simulator's hosts).
 */
function dockerEndpoint(where: string, name: string, connection: string, vars: Record<string, string>): NonNullable<DeploymentHost['docker']> {
  const endpoint = parseDockerHost(vars.berth_docker_host!)!;
  if (connection === 'local') {
    throw new InputError(`${where}: host "${name}": berth_docker_host and ansible_connection=local together`, 'a local host is reached at this machine\'s socket: remove one of them');
  }
  const dir = vars.berth_docker_tls_dir === undefined ? undefined : expandHome(vars.berth_docker_tls_dir);
  if (dir === undefined) {
    if (isLoopback(endpoint.address)) return endpoint;
    throw new InputError(
      `${where}: host "${name}": berth_docker_host ${vars.berth_docker_host} without TLS: Docker's API gives whoever reaches it root on the host, so plain TCP is allowed only on loopback`,
      'set berth_docker_tls_dir to the directory of Docker\'s client files (ca.pem, cert.pem, key.pem, as for docker --tlsverify), or reach the host over SSH',
    );
  }
  const read = (file: string): Buffer => {
    const path = join(dir, file);
    try {
      return readFileSync(path);
    } catch (err) {
      throw new InputError(`${where}: host "${name}": berth_docker_tls_dir: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'the directory holds ca.pem, cert.pem and key.pem, as docker --tlsverify reads them from DOCKER_CERT_PATH');
    }
  };
  return { ...endpoint, tls: { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') } };
}

/**
 * A host's interfaces: its inventory variables (own or its groups') over globals.yml. Where
 * globals.yml leaves api_interface or tunnel_interface to follow network_interface, they follow
 * the host's own network_interface.
 */
export function hostInterfaces(globals: Globals, vars: Record<string, string>): HostInterfaces {
  const network = vars.network_interface ?? globals.network_interface;
  const follow = (key: 'api_interface' | 'tunnel_interface'): string => vars[key] ?? (globals.follows_network_interface.includes(key) ? network : globals[key]);
  const external = vars.neutron_external_interface ?? globals.neutron_external_interface;
  return { network, api: follow('api_interface'), tunnel: follow('tunnel_interface'), ...(external !== undefined ? { neutronExternal: external } : {}) };
}

/** Two inventory entries reached at one address are one machine: its containers would be deployed twice over each other. */
function assertDistinctAddresses(path: string, hosts: DeploymentHost[]): void {
  const seen = new Map<string, DeploymentHost>();
  for (const h of hosts) {
    if (h.connection === 'local') continue;
    const other = seen.get(h.address);
    if (other) {
      throw new InputError(
        `${path}: hosts "${other.name}" (line ${other.line}) and "${h.name}" (line ${h.line}) have the same address ${h.address} (ansible_host, else the host name)`,
        'give each host its own ansible_host; one machine is listed once, and in as many groups as it serves',
      );
    }
    seen.set(h.address, h);
  }
}
