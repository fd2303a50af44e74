// Addresses and names of the hosts, from their facts (read off each host before planning) and the
// inventory: what kolla-ansible takes from ansible facts. Pure.
import type { Deployment, DeploymentHost } from '../config/deployment.js';
import { InputError } from '../config/errors.js';
import { hostsOf } from '../config/inventory.js';
import type { HostFacts } from './types.js';

/**
 * Stands in for a fact of a host the plan has none for (it was unreachable). Whatever is rendered
 * with it names that host, and reconcile skips it rather than deploy a wrong address.
 */
const unknownMark = (host: string, what: string): string => `berth-unknown(${host}:${what})`;
const unknownPattern = /berth-unknown\(([^:)]+):[a-z]+\)/g;
/**
 * Stands in for an interface a host does not have: an error only where something rendered uses
 * it (a control host needs no tunnel_interface address, a deployment-only host no api_interface).
 */
const missingMark = (host: string, setting: string): string => `berth-missing(${host}:${setting})`;
const missingPattern = /berth-missing\([^)]+\)/;

/** Hosts whose unknown facts a rendered value uses (sorted). */
export function unknownHostsIn(text: string): string[] {
  return [...new Set([...text.matchAll(unknownPattern)].map((m) => m[1]!))].sort();
}

/**
 * The bridge neutron's host setup moves the tunnel address onto (netdev datapath between hosts):
 * after the first deploy the tunnel interface itself has none.
 */
export const TUNNEL_BRIDGE = 'br-tunnel';

/** The interfaces whose addresses the plan needs from each host. */
export function wantedInterfaces(deployment: Deployment): Record<string, string[]> {
  return Object.fromEntries(
    deployment.hosts.map((h) => {
      const tunnel = deployment.globals.enable_neutron && h.tunnelAddress === undefined ? [h.interfaces.tunnel, TUNNEL_BRIDGE] : [];
      return [h.name, [...new Set([h.interfaces.api, ...tunnel])]];
    }),
  );
}

export interface Addressing {
  /** The address a host's services bind to and are reached at (its api_interface's). */
  api(host: string): string;
  /** Neutron's VXLAN endpoint on the host. */
  tunnel(host: string): string;
  hostname(host: string): string;
  /** kolla_internal_vip_address, else the first control host's API address. */
  vip: string;
  /** Throws the InputError of the first missing interface address that `rendered` uses. */
  check(rendered: string): void;
}

export function addressing(deployment: Deployment, facts: Readonly<Record<string, HostFacts>>): Addressing {
  const g = deployment.globals;
  const path = deployment.inventory.path;
  const byName = new Map(deployment.hosts.map((h) => [h.name, h]));
  // All-in-one (only local hosts): without a load balancer the VIP is this machine's own address,
  // so services bind to it (the e2e clouds each take a loopback address this way).
  const allLocal = deployment.hosts.every((h) => h.connection === 'local');
  const missing = new Map<string, InputError>();
  const interfaceAddress = (h: DeploymentHost, iface: string, setting: string): string => {
    const f = facts[h.name];
    if (!f) return unknownMark(h.name, setting.replace(/_.*/, ''));
    const address = f.addresses[iface];
    if (address !== undefined) return address;
    const mark = missingMark(h.name, setting);
    missing.set(
      mark,
      new InputError(
        `${path}:${h.line}: host "${h.name}": its ${setting} ${iface} has no IPv4 address on that host (its interfaces: ${f.interfaces.join(', ') || 'none'})`,
        `set ${setting} for this host in the inventory (on its line, or in [<group>:vars]), or in globals.yml, to an interface with an IPv4 address`,
      ),
    );
    return mark;
  };
  const host = (name: string): DeploymentHost => {
    const h = byName.get(name);
    if (!h) throw new Error(`plan: no host ${name}`);
    return h;
  };
  const api = (name: string): string => {
    const h = host(name);
    if (allLocal && g.kolla_internal_vip_address !== null) return g.kolla_internal_vip_address;
    return interfaceAddress(h, h.interfaces.api, 'api_interface');
  };
  const firstControl = hostsOf(deployment.inventory, 'control')[0];
  let vip = g.kolla_internal_vip_address;
  if (g.enable_haproxy === true) assertFreeVip(deployment, facts);
  if (vip === null) {
    if (firstControl === undefined) {
      throw new InputError(`${path}: no host in [control], and kolla_internal_vip_address is not set`, 'add a host under [control], or set kolla_internal_vip_address in globals.yml');
    }
    vip = api(firstControl);
  }
  return {
    api,
    tunnel: (name) => {
      const h = host(name);
      if (h.tunnelAddress !== undefined) return h.tunnelAddress;
      const moved = facts[name]?.addresses[h.interfaces.tunnel] === undefined ? facts[name]?.addresses[TUNNEL_BRIDGE] : undefined;
      return moved ?? interfaceAddress(h, h.interfaces.tunnel, 'tunnel_interface');
    },
    hostname: (name) => facts[name]?.hostname ?? unknownMark(name, 'hostname'),
    vip,
    check: (rendered) => {
      const mark = missingPattern.exec(rendered)?.[0];
      if (mark !== undefined) throw missing.get(mark)!;
    },
  };
}

/**
 * With a load balancer the VIP must be an address keepalived can move: set, and no host's own
 * (haproxy would fight the service on that host for its ports, and the VIP could never leave it).
 */
function assertFreeVip(deployment: Deployment, facts: Readonly<Record<string, HostFacts>>): void {
  const g = deployment.globals;
  const globalsPath = `${deployment.configDir}/globals.yml`;
  if (g.kolla_internal_vip_address === null) {
    throw new InputError(
      `${globalsPath}: kolla_internal_vip_address is not set, but enable_haproxy is on (it is by default when [control] has more than one host)`,
      'set kolla_internal_vip_address to a free address on the API network, which keepalived moves between the loadbalancer hosts; or set enable_haproxy: "no"',
    );
  }
  // keepalived puts the internal VIP on each loadbalancer host's API interface: it must be an
  // address of that interface's network, or no other machine reaches it.
  const internal = g.kolla_internal_vip_address;
  for (const name of hostsOf(deployment.inventory, 'loadbalancer')) {
    const h = deployment.hosts.find((x) => x.name === name)!;
    const address = facts[name]?.addresses[h.interfaces.api];
    const prefix = facts[name]?.prefixes?.[h.interfaces.api];
    if (address === undefined || prefix === undefined || !isIpv4(internal) || sameNetwork(internal, address, prefix)) continue;
    throw new InputError(
      `${globalsPath}: kolla_internal_vip_address ${internal} is outside the API network of loadbalancer host "${name}" (${address}/${prefix} on ${h.interfaces.api}), where keepalived would hold it`,
      `choose a free address in ${networkOf(address, prefix)}/${prefix} for kolla_internal_vip_address, or set api_interface for that host to the interface of the VIP's network`,
    );
  }
  for (const vip of [g.kolla_internal_vip_address, g.kolla_external_vip_address]) {
    if (vip === null) continue;
    for (const h of deployment.hosts) {
      const owned = Object.entries(facts[h.name]?.addresses ?? {}).find(([, address]) => address === vip);
      if (!owned) continue;
      const key = vip === g.kolla_internal_vip_address ? 'kolla_internal_vip_address' : 'kolla_external_vip_address';
      throw new InputError(
        `${globalsPath}: ${key} ${vip} is host "${h.name}"'s own address (on ${owned[0]}); with enable_haproxy the VIP must be an address no host has`,
        `choose a free address on the API network for ${key}, or set enable_haproxy: "no" to reach the services at their hosts' own addresses`,
      );
    }
  }
}

const isIpv4 = (a: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(a);
const ipv4Number = (a: string): number => a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

function sameNetwork(a: string, b: string, prefix: number): boolean {
  return ((ipv4Number(a) & maskOf(prefix)) >>> 0) === ((ipv4Number(b) & maskOf(prefix)) >>> 0);
}

function networkOf(address: string, prefix: number): string {
  const n = (ipv4Number(address) & maskOf(prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}
