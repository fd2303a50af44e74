// Everything `berth deploy` reads from the config directory, validated and resolved into one typed
// value. Nothing after this point reads operator files (see DESIGN.md, "Data flows one way").
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { InputError } from './errors.js';
import { loadGlobals, type Globals } from './globals.js';
import { interfaceAddress } from './init.js';
import { hostsOf, hostVars, loadInventory, type Inventory, type InventoryOptions } from './inventory.js';
import { loadPasswords } from './passwords.js';

export interface DeploymentHost {
  name: string;
  /** Where berth reaches the host, and for a local host the address its services bind to. */
  address: string;
  connection: 'local' | 'ssh';
  user: string;
  port: number;
  /** ansible_become: privileged work on the host goes through `sudo -n` (for a user other than root). */
  become: boolean;
  /** ansible_ssh_private_key_file, ~ expanded; unset: the SSH agent and ~/.ssh/id_* keys. */
  privateKeyFile?: string;
  /** Neutron's VXLAN endpoint: the host's address on tunnel_interface (only resolved with Neutron on). */
  tunnelAddress?: string;
}

/** Globals with the addresses that depend on the inventory filled in. */
export type ResolvedGlobals = Omit<Globals, 'kolla_internal_vip_address' | 'kolla_external_vip_address'> & {
  kolla_internal_vip_address: string;
  kolla_external_vip_address: string;
};

export interface Deployment {
  configDir: string;
  globals: ResolvedGlobals;
  inventory: Inventory;
  passwords: Record<string, string>;
  hosts: DeploymentHost[];
}

export interface LoadDeploymentOptions {
  requiredSecrets: readonly string[];
  /** Of those, the ones that must be Fernet keys. */
  fernetSecrets?: readonly string[];
  /** Groups besides the top-level ones that may hold hosts directly (the catalog's per-service groups). */
  knownGroups?: InventoryOptions['knownGroups'];
  /** This machine's IPv4 address on an interface; replaceable so tests do not depend on the machine. */
  localAddress?: (iface: string) => string;
}

/** `~/x` → the home directory's x, as Ansible reads ansible_ssh_private_key_file. */
function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

export function loadDeployment(configDir: string, opts: LoadDeploymentOptions): { deployment: Deployment; warnings: string[] } {
  const { globals, warnings } = loadGlobals(configDir);
  const inventoryPath = ['multinode', 'all-in-one'].map((name) => join(configDir, name)).find((p) => existsSync(p));
  if (!inventoryPath) {
    throw new InputError(
      `${configDir}: no inventory (neither multinode nor all-in-one)`,
      'run berth init to write an all-in-one inventory, or write a multinode one',
    );
  }
  const inventory = loadInventory(inventoryPath, { knownGroups: opts.knownGroups });
  const passwords = loadPasswords(configDir, opts.requiredSecrets, opts.fernetSecrets);
  if (inventory.hosts.size === 0) throw new InputError(`${inventoryPath}: no hosts`, 'list at least one host under [control]');

  // Only asked when needed (so a multinode deploy never depends on this machine's interfaces), each once.
  const detected = new Map<string, string>();
  const addressOn = (iface: string, hint?: string): string => {
    if (!detected.has(iface)) detected.set(iface, opts.localAddress ? opts.localAddress(iface) : interfaceAddress(iface, undefined, hint));
    return detected.get(iface)!;
  };
  const localAddress = (): string => addressOn(globals.api_interface);
  const tunnelAddress = (iface: string): string =>
    addressOn(iface, 'set tunnel_interface in globals.yml (the VXLAN endpoint interface), or tunnel_address for the host in the inventory');
  const hosts = [...inventory.hosts.values()].map((host): DeploymentHost => {
    const vars = hostVars(inventory, host.name);
    const where = `${inventoryPath}:${host.line}`;
    const connection = vars.ansible_connection ?? (host.name === 'localhost' ? 'local' : 'ssh');
    if (!['local', 'ssh', 'smart', 'paramiko'].includes(connection)) {
      throw new InputError(`${where}: host "${host.name}": ansible_connection=${connection} is not supported`, 'use local or ssh');
    }
    const isLocal = connection === 'local';
    const port = Number(vars.ansible_port ?? 22);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InputError(`${where}: host "${host.name}": ansible_port must be a port number`);
    }
    return {
      name: host.name,
      address: vars.ansible_host ?? (isLocal ? (globals.kolla_internal_vip_address ?? localAddress()) : host.name),
      connection: isLocal ? 'local' : 'ssh',
      // Ansible's default: the user running the command.
      user: vars.ansible_user ?? vars.ansible_ssh_user ?? userInfo().username,
      port,
      become: /^(yes|true|on|y|1)$/i.test(vars.ansible_become ?? 'no'),
      ...(vars.ansible_ssh_private_key_file ? { privateKeyFile: expandHome(vars.ansible_ssh_private_key_file) } : {}),
      ...(globals.enable_neutron
        ? { tunnelAddress: vars.tunnel_address ?? (isLocal ? tunnelAddress(globals.tunnel_interface) : (vars.ansible_host ?? host.name)) }
        : {}),
    };
  });

  let vip = globals.kolla_internal_vip_address;
  if (vip === null) {
    const first = hostsOf(inventory, 'control')[0];
    if (first === undefined) {
      throw new InputError(
        `${inventoryPath}: no host in [control], and kolla_internal_vip_address is not set`,
        'add a host under [control], or set kolla_internal_vip_address in globals.yml',
      );
    }
    vip = hosts.find((h) => h.name === first)!.address;
    if (isIP(vip) === 0) {
      throw new InputError(
        `${inventoryPath}: kolla_internal_vip_address is not set, and the first control host "${first}" has no IP address (ansible_host)`,
        'set kolla_internal_vip_address in globals.yml, or ansible_host for that host',
      );
    }
  }

  const deployment: Deployment = {
    configDir,
    globals: { ...globals, kolla_internal_vip_address: vip, kolla_external_vip_address: globals.kolla_external_vip_address ?? vip },
    inventory,
    passwords,
    hosts,
  };
  return { deployment, warnings };
}
