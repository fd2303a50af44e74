// What `berth bootstrap-servers` wants on each host, computed from the configuration (pure): the
// kernel modules and sysctls its services need, Docker's daemon.json merged into the host's own,
// and the /etc/hosts block naming every host. The engine's script (engine/bootstrap.ts) applies it.
import type { Deployment } from '../config/deployment.js';
import { hostsOf } from '../config/inventory.js';

/** The hosts bootstrap-servers prepares: kolla-ansible's `baremetal` group, whose default children are these. */
const BAREMETAL_DEFAULT = ['control', 'network', 'compute', 'storage', 'monitoring'];

export function bootstrapHosts(deployment: Deployment): string[] {
  const inv = deployment.inventory;
  const own = hostsOf(inv, 'baremetal');
  const hosts = new Set(own.length ? own : BAREMETAL_DEFAULT.flatMap((g) => hostsOf(inv, g)));
  // In inventory order, so output and /etc/hosts read the same on every run.
  return deployment.hosts.map((h) => h.name).filter((h) => hosts.has(h));
}

export interface KernelModule {
  name: string;
  /** The deploy cannot do without it: one that cannot be loaded fails the step. */
  required: boolean;
  why: string;
}

export interface Sysctl {
  key: string;
  value: string;
  why: string;
}

export interface HostPrep {
  modules: KernelModule[];
  sysctls: Sysctl[];
}

/**
 * Modules and sysctls for one host, from what runs there. Only a module the deploy itself needs is
 * required (openvswitch for a kernel datapath); the others make a host work better or are loaded by
 * the kernel on demand anyway, so one a host cannot load is reported, not fatal.
 */
export function hostPrep(deployment: Deployment, host: string): HostPrep {
  const g = deployment.globals;
  const inv = deployment.inventory;
  const on = (group: string): boolean => hostsOf(inv, group).includes(host);
  const compute = g.enable_nova && on('nova-compute');
  const mechanismAgent = g.enable_neutron && on(`neutron-${g.neutron_plugin_agent}-agent`);
  const neutronAgents = g.enable_neutron && (mechanismAgent || on('neutron-dhcp-agent') || on('neutron-l3-agent'));
  const l3 = g.enable_neutron && on('neutron-l3-agent');
  const ovs = g.enable_openvswitch && on('openvswitch');
  const libvirt = compute && g.nova_compute_virt_type !== 'fake';
  // Instances' ports are filtered by iptables on Linux bridges: iptables_hybrid's qbr bridges, or
  // linuxbridge's own (as kolla-ansible's nova-cell role does for compute hosts).
  const bridgeFilter = compute || mechanismAgent;

  const modules: KernelModule[] = [];
  const add = (name: string, why: string, required = false): void => {
    if (!modules.some((m) => m.name === name)) modules.push({ name, required, why });
  };
  if (bridgeFilter) add('br_netfilter', 'iptables on the bridges that carry instance ports');
  // Debian's iptables and ebtables in the agent images are the nft variants.
  if (neutronAgents) add('nf_tables', "neutron's iptables and ebtables rules (nft backend)");
  if (ovs && g.ovs_datapath_type === 'system') add('openvswitch', 'Open vSwitch kernel datapath (ovs_datapath_type: system)', true);
  if (ovs || libvirt) add('tun', '/dev/net/tun for ' + [ovs ? 'ovs-vswitchd' : '', libvirt ? 'QEMU' : ''].filter(Boolean).join(' and '));
  if (libvirt && g.nova_compute_virt_type === 'kvm') add('vhost_net', "virtio-net in the host's kernel for KVM instances");

  const sysctls: Sysctl[] = [{ key: 'net.ipv4.ip_forward', value: '1', why: 'routing for Docker and the cloud' }];
  if (bridgeFilter) {
    sysctls.push(
      { key: 'net.bridge.bridge-nf-call-iptables', value: '1', why: 'br_netfilter: bridged IPv4 through iptables' },
      { key: 'net.bridge.bridge-nf-call-ip6tables', value: '1', why: 'br_netfilter: bridged IPv6 through ip6tables' },
    );
  }
  if (l3) {
    // kolla-ansible's for L3 agent hosts: loose reverse-path filtering off for routed namespaces, and
    // neighbour tables sized for many routers.
    sysctls.push(
      { key: 'net.ipv4.conf.all.rp_filter', value: '0', why: 'routers in namespaces (as kolla-ansible set it)' },
      { key: 'net.ipv4.conf.default.rp_filter', value: '0', why: 'routers in namespaces (as kolla-ansible set it)' },
    );
    for (const v of ['ipv4', 'ipv6']) {
      for (const [n, value] of [['1', '128'], ['2', '28672'], ['3', '32768']] as const) {
        sysctls.push({ key: `net.${v}.neigh.default.gc_thresh${n}`, value, why: 'neighbour table for many routers (kolla-ansible)' });
      }
    }
  }
  return { modules, sysctls };
}

export function modulesLoadConf(modules: readonly KernelModule[]): string {
  return ['# Written by berth bootstrap-servers: kernel modules its services need, loaded at boot.', ...modules.map((m) => `# ${m.why}\n${m.name}`), ''].join('\n');
}

export function sysctlConf(sysctls: readonly Sysctl[]): string {
  return ['# Written by berth bootstrap-servers.', ...sysctls.map((s) => `# ${s.why}\n${s.key} = ${s.value}`), ''].join('\n');
}

/**
 * The registry to list as insecure (plain HTTP): a non-loopback host:port. Docker already talks
 * plain HTTP to loopback registries, and a name without a port is taken as an HTTPS registry.
 */
export function insecureRegistry(registry: string): string | undefined {
  const m = /^(\[[^\]]+\]|[^/:]+):(\d+)$/.exec(registry);
  if (!m) return undefined;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || /^127\./.test(host) || host === '::1') return undefined;
  return registry;
}

export const LOG_OPTS = { 'max-size': '50m', 'max-file': '5' };

/** daemon.json keys dockerd applies on SIGHUP; any other change needs a restart. */
const RELOADABLE = new Set(['debug', 'labels', 'live-restore', 'max-concurrent-downloads', 'max-concurrent-uploads', 'max-download-attempts', 'default-runtime', 'runtimes', 'authorization-plugins', 'insecure-registries', 'registry-mirrors', 'shutdown-timeout', 'features']);

export interface DaemonJson {
  /** The file's new text; the old text itself when nothing changes. */
  text: string;
  changed: boolean;
  /** The top-level keys that differ. */
  keys: string[];
  /** How dockerd takes the change: SIGHUP, or a restart (log options). */
  apply: 'none' | 'reload' | 'restart';
}

/**
 * Merges berth's settings into the host's daemon.json: log rotation for json-file (other log-opts
 * kept), live-restore, the insecure registry added to the list. Every other key is kept as it is.
 * Throws an Error with the reason when the old text is not a JSON object.
 */
export function mergeDaemonJson(oldText: string | undefined, registry: string): DaemonJson {
  let old: Record<string, unknown> = {};
  if (oldText !== undefined && oldText.trim() !== '') {
    const parsed: unknown = JSON.parse(oldText);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('it is not a JSON object');
    old = parsed as Record<string, unknown>;
  }
  const merged: Record<string, unknown> = { ...old };
  merged['log-driver'] ??= 'json-file';
  // Rotation options are json-file's (and local's); another driver's options are its own business.
  if (['json-file', 'local'].includes(merged['log-driver'] as string)) {
    const opts = (typeof old['log-opts'] === 'object' && old['log-opts'] !== null ? old['log-opts'] : {}) as Record<string, unknown>;
    merged['log-opts'] = { ...LOG_OPTS, ...opts };
  }
  merged['live-restore'] = true;
  const insecure = insecureRegistry(registry);
  if (insecure !== undefined) {
    const list = Array.isArray(old['insecure-registries']) ? (old['insecure-registries'] as unknown[]) : [];
    if (!list.includes(insecure)) merged['insecure-registries'] = [...list, insecure];
  }
  const keys = [...new Set([...Object.keys(old), ...Object.keys(merged)])].filter((k) => JSON.stringify(old[k]) !== JSON.stringify(merged[k]));
  if (!keys.length && oldText !== undefined) return { text: oldText, changed: false, keys, apply: 'none' };
  return {
    text: JSON.stringify(merged, null, 2) + '\n',
    changed: true,
    keys,
    apply: keys.every((k) => RELOADABLE.has(k)) ? 'reload' : 'restart',
  };
}

export const HOSTS_BEGIN = '# BEGIN berth';
export const HOSTS_END = '# END berth';

export interface HostsEntry {
  address: string;
  names: string[];
}

/** The /etc/hosts block: one line per host, between the markers. */
export function hostsBlock(entries: readonly HostsEntry[]): string {
  return [HOSTS_BEGIN, '# every host of the inventory, written by berth bootstrap-servers (replaced whole on each run)', ...entries.map((e) => `${e.address}\t${e.names.join(' ')}`), HOSTS_END, ''].join('\n');
}

/** A host's names in /etc/hosts: its hostname (and short name), and its inventory name when that differs. */
export function hostNames(hostname: string, inventoryName: string): string[] {
  const short = hostname.split('.')[0]!;
  // "localhost" in the inventory means this machine as seen from itself, not a name for others to use.
  const names = [hostname, short, inventoryName === 'localhost' ? '' : inventoryName];
  return [...new Set(names.filter((n) => n !== ''))];
}

/**
 * /etc/hosts with berth's block replaced (where it was) or appended; nothing else touched. Throws
 * when a BEGIN marker has no END: replacing up to the end of the file could delete the operator's lines.
 */
export function replaceHostsBlock(old: string, block: string): string {
  const lines = old.split('\n');
  const begin = lines.findIndex((l) => l.trim() === HOSTS_BEGIN);
  if (begin === -1) return (old === '' || old.endsWith('\n') ? old : old + '\n') + block;
  const end = lines.findIndex((l, i) => i > begin && l.trim() === HOSTS_END);
  if (end === -1) throw new Error(`it has "${HOSTS_BEGIN}" on line ${begin + 1} and no "${HOSTS_END}" after it`);
  const rest = lines.slice(end + 1).join('\n');
  return [...lines.slice(0, begin), ''].join('\n') + block + rest;
}
