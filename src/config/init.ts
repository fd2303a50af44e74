// `berth init`: a working all-in-one configuration for this machine, written once. Existing files
// are the operator's and are never overwritten.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { moduleAvailability, readModuleFacts } from '../engine/kernel-modules.js';
import { InputError } from './errors.js';
import { defaultRelease } from './releases.js';

export interface DetectedHost {
  interface: string;
  address: string;
  hostname: string;
  /** Open vSwitch's datapath for this machine and why (see chooseOvsDatapath). */
  ovsDatapath: OvsDatapathChoice;
}

export interface OvsDatapathChoice {
  value: 'system' | 'netdev';
  why: string;
}

/**
 * system (the kernel datapath, kolla-ansible's choice) when the kernel has or can load the
 * openvswitch module; netdev (ovs-vswitchd switching in userspace, needing only TUN/TAP) otherwise.
 */
export function chooseOvsDatapath(kernel: { available: boolean; why: string }): OvsDatapathChoice {
  return kernel.available ? { value: 'system', why: kernel.why } : { value: 'netdev', why: kernel.why };
}

/** The datapath berth init chooses on this machine, from its kernel's openvswitch facts. */
export function detectOvsDatapath(): OvsDatapathChoice {
  return chooseOvsDatapath(moduleAvailability(readModuleFacts('openvswitch')));
}

export function initConfig(configDir: string, detected: DetectedHost): { written: string[] } {
  mkdirSync(configDir, { recursive: true });
  const written: string[] = [];
  const files: [string, string][] = [
    ['globals.yml', globalsText(detected)],
    ['all-in-one', allInOneText()],
  ];
  for (const [name, text] of files) {
    const path = join(configDir, name);
    try {
      // 'wx' makes "never overwrite" atomic, not a check followed by a write.
      writeFileSync(path, text, { flag: 'wx', mode: 0o644 });
      written.push(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return { written };
}

function globalsText(d: DetectedHost): string {
  return `# berth globals.yml: the keys are kolla-ansible's where the setting is the same.
# Written by berth init on ${d.hostname}; edit freely, berth init will not overwrite it.

# The interface and address services listen on. The VIP defaults to this host's address
# in an all-in-one deployment; give a free address on that network for a multinode one.
network_interface: "${d.interface}"
kolla_internal_vip_address: "${d.address}"
#api_interface: "{{ network_interface }}"
#kolla_external_vip_address: "{{ kolla_internal_vip_address }}"

# High availability (docs/ha.md): with more than one host in [control], haproxy and keepalived
# run on the loadbalancer hosts and keepalived holds kolla_internal_vip_address, which must then
# be a free address of the API network, no host's own. Galera, the RabbitMQ cluster and rolling
# restarts follow from the inventory.
#enable_haproxy: "yes"
#keepalived_virtual_router_id: "51"
#keepalived_traffic_mode: "multicast"

# The OpenStack release: "2025.1" (Epoxy, from Debian 13 trixie's packages; the default) or
# "zed" (from Debian 12 bookworm's; kept to upgrade from). It picks the Debian suite of the
# images, their tag, and what differs in the services' configuration. Neutron's Linux bridge
# agent exists only on zed.
#openstack_release: "${defaultRelease}"

# Images: <docker_registry>/<docker_namespace>/<image>:<openstack_tag> (the tag defaults to the release)
#openstack_tag: "${defaultRelease}"
#docker_registry: ""
#docker_namespace: "berth"

# Where each host keeps the rendered configuration of its containers.
#node_config_directory: "/etc/berth"

# Services.
enable_mariadb: "yes"
enable_memcached: "yes"
enable_rabbitmq: "yes"
enable_keystone: "yes"
enable_glance: "yes"
enable_placement: "yes"
enable_nova: "yes"
enable_neutron: "yes"
enable_heat: "yes"
enable_horizon: "yes"

# Networking: ML2 with the Open vSwitch agent (openvswitch, kolla-ansible's default) or the
# linuxbridge agent. The flat provider network physnet1 uses neutron_external_interface, a spare
# interface with no address (in the OVS bridge br-ex); unset, berth makes a veth pair (berth-ext)
# whose traffic stays on the host. VXLAN tunnels use tunnel_interface's address.
#neutron_plugin_agent: "openvswitch"
#neutron_external_interface: "eth1"
#tunnel_interface: "{{ network_interface }}"

# Open vSwitch's datapath: system (the kernel's openvswitch module) or netdev (userspace switching
# in ovs-vswitchd; needs only TUN/TAP; slower, and experimental upstream). berth init chose
# ${d.ovsDatapath.value} on ${d.hostname}: ${d.ovsDatapath.why.replace(/\n/g, ' ')}.
ovs_datapath_type: "${d.ovsDatapath.value}"

# nova-compute's driver: fake (a real Nova driver that keeps instances in Nova's books only, for
# machines without a hypervisor), qemu (libvirt with QEMU emulation) or kvm (needs /dev/kvm).
#nova_compute_virt_type: "fake"

#horizon_port: 80

#keystone_token_provider: "fernet"
#fernet_token_expiry: 86400
#openstack_region_name: "RegionOne"
#openstack_logging_debug: "no"
`;
}

function allInOneText(): string {
  const groups = ['control', 'network', 'compute', 'storage', 'monitoring', 'deployment'];
  return (
    '# berth inventory (Ansible INI): every service runs on this machine.\n' +
    '# For several hosts write a `multinode` file beside this one; berth uses it when present.\n\n' +
    groups.map((g) => `[${g}]\nlocalhost ansible_connection=local\n`).join('\n')
  );
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The interface of the default route and its IPv4 address, else the first non-loopback IPv4
 * interface. The sources are parameters so tests need no particular machine.
 */
export function detectDefaultInterface(sources: { routeTable?: string | null; interfaces?: Interfaces } = {}): { interface: string; address: string } {
  const interfaces = sources.interfaces ?? networkInterfaces();
  const routeTable = sources.routeTable === undefined ? readRouteTable() : sources.routeTable;
  const preferred = routeTable === null ? undefined : defaultRouteInterface(routeTable);
  if (preferred) {
    const address = ipv4Of(interfaces[preferred]);
    if (address) return { interface: preferred, address };
  }
  for (const [name, infos] of Object.entries(interfaces)) {
    const address = ipv4Of(infos);
    if (address) return { interface: name, address };
  }
  throw new InputError('no network interface with an IPv4 address found', 'set network_interface and kolla_internal_vip_address in globals.yml');
}

/** The IPv4 address of a named interface on this machine (loopback too, when named: tests bind there). */
export function interfaceAddress(
  name: string,
  interfaces: Interfaces = networkInterfaces(),
  hint = 'set network_interface (or api_interface) in globals.yml, or kolla_internal_vip_address',
): string {
  const address = ipv4Of(interfaces[name]) ?? interfaces[name]?.find((i) => i.family === 'IPv4')?.address;
  if (!address) {
    const known = Object.keys(interfaces).filter((n) => ipv4Of(interfaces[n]));
    throw new InputError(`network interface "${name}" has no IPv4 address on this machine${known.length ? ` (found: ${known.join(', ')})` : ''}`, hint);
  }
  return address;
}

function ipv4Of(infos: NetworkInterfaceInfo[] | undefined): string | undefined {
  return infos?.find((i) => i.family === 'IPv4' && !i.internal)?.address;
}

function readRouteTable(): string | null {
  try {
    return readFileSync('/proc/net/route', 'utf8');
  } catch {
    return null;
  }
}

/** /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ...; the default route has destination and mask 0. */
function defaultRouteInterface(table: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of table.split('\n').slice(1)) {
    const [iface, destination, , , , , metric, mask] = line.trim().split(/\s+/);
    if (!iface || destination !== '00000000' || mask !== '00000000') continue;
    const m = Number(metric);
    if (!best || m < best.metric) best = { iface, metric: m };
  }
  return best?.iface;
}
