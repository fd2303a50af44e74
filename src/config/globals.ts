// globals.yml: kolla-ansible's key names, so an operator's existing file mostly works. The type keeps
// the snake_case names too: they are what operators write and what service templates refer to.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InputError } from './errors.js';
import { knownReleases, releaseAtLeast, releaseNamed } from './releases.js';
import { imageNamingFields, isIpAddress, patterns, releaseField, shown, text } from './values.js';
import { didYouMean, readYamlFile, validateYaml, type YamlFile } from './yaml-file.js';

// kolla-ansible writes `enable_haproxy: "yes"` (a string, which Ansible's bool filter reads); YAML 1.1
// already turns unquoted yes/no into booleans, so quoted forms are the only ones left to handle.
const truthy = new Set(['yes', 'true', 'on', 'y']);
const falsy = new Set(['no', 'false', 'off', 'n']);
const yesNo = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  return truthy.has(s) ? true : falsy.has(s) ? false : v;
}, z.boolean({ error: 'expected yes/no (or true/false)' }));
const flag = (byDefault: boolean) => yesNo.default(byDefault);

// kolla-ansible's defaults quote port numbers ("3306"); accept both.
const numeric = (v: unknown): unknown => (typeof v === 'string' && /^\d{1,10}$/.test(v.trim()) ? Number(v) : v);
const port = (byDefault: number) =>
  z
    .preprocess(numeric, z.number({ error: 'expected a port number' }).int('expected a port number').min(1, 'expected a port number (1-65535)').max(65535, 'expected a port number (1-65535)'))
    .default(byDefault);

const ipAddress = z.string({ error: 'expected an IP address' }).max(45, { error: 'not an IP address', abort: true }).refine(isIpAddress, 'not an IP address');
const interfaceName = z
  .string({ error: 'expected a network interface name such as eth0' })
  .regex(patterns.interfaceName, 'not a network interface name (at most 15 letters, digits, _ . : @ -)');

// Every string has a length limit and a pattern: these values reach shell commands (healthchecks,
// job scripts), file names, bind mounts, INI files and the admin-openrc berth writes.
const fields = {
  kolla_internal_vip_address: ipAddress.optional(),
  kolla_external_vip_address: ipAddress.optional(),
  network_interface: z
    .string({
      error: (i) =>
        i.input === undefined
          ? 'is required (the interface of the management/API network, e.g. eth0)'
          : 'expected a network interface name such as eth0',
    })
    .pipe(interfaceName),
  api_interface: interfaceName.optional(),
  // Neutron's VXLAN endpoint interface; defaults to network_interface.
  tunnel_interface: interfaceName.optional(),
  // The flat provider network's interface; unset: berth makes a veth pair (berth-ext) on each Neutron agent host.
  neutron_external_interface: interfaceName.optional(),
  // nova-compute's driver: fake (no hypervisor: instances exist in Nova's books only), or libvirt with
  // QEMU (emulation, no /dev/kvm needed) or KVM.
  nova_compute_virt_type: z.enum(['fake', 'qemu', 'kvm'], { error: 'expected fake, qemu or kvm' }).default('fake'),
  // ML2's mechanism: the Open vSwitch agent (kolla-ansible's default) or the linuxbridge agent.
  neutron_plugin_agent: z.enum(['openvswitch', 'linuxbridge'], { error: 'expected openvswitch or linuxbridge' }).default('openvswitch'),
  // Open vSwitch's datapath: system (the kernel's openvswitch module) or netdev (userspace, in
  // ovs-vswitchd itself: for hosts whose kernel has no openvswitch module; slower, experimental upstream).
  ovs_datapath_type: z.enum(['system', 'netdev'], { error: 'expected system or netdev' }).default('system'),
  // Unset: on exactly when neutron is on with the openvswitch agent (kolla-ansible's rule).
  enable_openvswitch: yesNo.optional(),
  // Unset: on when [control] has more than one host (an HA cloud), off for one (its services are
  // reached at that host's own address). keepalived follows haproxy, as in kolla-ansible.
  enable_haproxy: yesNo.optional(),
  enable_keepalived: yesNo.optional(),
  // VRRP's router id (1-255): unique per VIP on one network segment.
  keepalived_virtual_router_id: z
    .preprocess(numeric, z.number({ error: 'expected a number from 1 to 255' }).int('expected a whole number').min(1, 'expected 1-255').max(255, 'expected 1-255'))
    .default(51),
  // VRRP adverts by multicast (kolla-ansible's default) or unicast to each peer (networks that drop multicast).
  keepalived_traffic_mode: z.enum(['multicast', 'unicast'], { error: 'expected multicast or unicast' }).default('multicast'),
  openstack_release: releaseField,
  ...imageNamingFields,
  // Where glance's file store keeps images: a named volume (local to one host, so glance runs on one
  // host), or an absolute directory that every glance host shares (NFS, CephFS).
  glance_file_datadir_volume: text('a volume name or an absolute directory (letters, digits, _ . - and /, no "..")', 255, /^(?!.*\.\.)(\/[A-Za-z0-9_./-]*|[A-Za-z0-9][A-Za-z0-9_.-]*)$/).default('glance'),
  node_config_directory: text('an absolute path of letters, digits, _ . - and /', 255, patterns.absoluteDirectory).default('/etc/berth'),
  enable_mariadb: flag(true),
  enable_memcached: flag(true),
  enable_rabbitmq: flag(true),
  enable_keystone: flag(true),
  enable_glance: flag(true),
  enable_placement: flag(true),
  enable_nova: flag(true),
  enable_horizon: flag(true),
  enable_heat: flag(true),
  enable_neutron: flag(true),
  keystone_token_provider: z.literal('fernet', { error: 'berth supports only "fernet"' }).default('fernet'),
  // Up to a year: Keystone keeps this many seconds of fernet keys around.
  fernet_token_expiry: z
    .preprocess(numeric, z.number({ error: 'expected a number of seconds' }).int('expected a whole number of seconds').min(1, 'must be at least 1 second').max(31_536_000, 'must be at most 31536000 (a year)'))
    .default(86400),
  database_port: port(3306),
  rabbitmq_port: port(5672),
  // RabbitMQ's management UI and HTTP API, on each node's API address (and through haproxy on the VIP).
  rabbitmq_management_port: port(15672),
  memcached_port: port(11211),
  keystone_public_port: port(5000),
  horizon_port: port(80),
  // haproxy's statistics page, on the API address of each loadbalancer host.
  haproxy_stats_port: port(1984),
  // Galera's replication and state transfer ports, and the clustercheck haproxy asks whether a node is Synced.
  mariadb_wsrep_port: port(4567),
  mariadb_ist_port: port(4568),
  mariadb_sst_port: port(4444),
  mariadb_clustercheck_port: port(4569),
  openstack_region_name: text('a region name (letters, digits, _ . -)', 64, patterns.regionName).default('RegionOne'),
  keystone_admin_user: text('a user name (letters, digits, _ . @ -)', 64, patterns.keystoneName).default('admin'),
  keystone_admin_project: text('a project name (letters, digits, _ . -)', 64, patterns.regionName).default('admin'),
  openstack_logging_debug: flag(false),
};

const interfaceHint = 'write the name of a network interface as `ip link` shows it, e.g. eth0';
const hints: Record<string, string> = {
  kolla_internal_vip_address: 'write an IPv4 or IPv6 address',
  kolla_external_vip_address: 'write an IPv4 or IPv6 address',
  network_interface: interfaceHint,
  api_interface: interfaceHint,
  tunnel_interface: interfaceHint,
  neutron_external_interface: interfaceHint,
  openstack_release: `write one of ${knownReleases()}, quoted`,
  openstack_tag: 'image tags are up to 128 letters, digits, _, . and -, starting with a letter, digit or _',
  docker_registry: 'write host or host:port, e.g. 192.0.2.10:4000, or "" for none',
  docker_namespace: 'lowercase letters and digits, separated by ., _, - or /',
  node_config_directory: 'write an absolute path such as /etc/berth: letters, digits, _, ., - and /, no ".."',
  openstack_region_name: 'up to 64 letters, digits, _, . and -, e.g. RegionOne',
  keystone_admin_user: 'up to 64 letters, digits, _, ., @ and -, e.g. admin',
  keystone_admin_project: 'up to 64 letters, digits, _, . and -, e.g. admin',
};

// Read by build-config.ts; not validated here, so the two never disagree about it.
const passedThrough = ['build'];

const globalsSchema = z.object(fields);
type Parsed = z.infer<typeof globalsSchema>;

export type Globals = Omit<Parsed, 'api_interface' | 'tunnel_interface' | 'kolla_internal_vip_address' | 'kolla_external_vip_address' | 'enable_openvswitch' | 'openstack_tag'> & {
  openstack_tag: string;
  /** Unset in globals.yml: loadDeployment decides from the inventory ([control] with more than one host). */
  enable_haproxy?: boolean;
  enable_keepalived?: boolean;
  api_interface: string;
  enable_openvswitch: boolean;
  tunnel_interface: string;
  /**
   * The interface settings that are unset or "{{ network_interface }}": for a host whose inventory
   * variables set its own network_interface, they follow that one (as kolla-ansible's defaults do).
   */
  follows_network_interface: ('api_interface' | 'tunnel_interface')[];
  /** null when unset: the deployment resolves it from the first control host. */
  kolla_internal_vip_address: string | null;
  kolla_external_vip_address: string | null;
};

export const supportedGlobals: readonly string[] = [...Object.keys(fields), ...passedThrough];

/** Real kolla-ansible globals.yml settings berth does not implement yet: warned about, then ignored. */
export const kollaOnlyGlobals: readonly string[] = [
  'kolla_base_distro', 'kolla_install_type', 'kolla_container_engine', 'openstack_tag_suffix',
  'kolla_internal_fqdn', 'kolla_external_fqdn', 'kolla_external_vip_interface', 'network_address_family',
  'neutron_ipam_driver',
  'dns_interface', 'storage_interface', 'octavia_network_interface', 'swift_storage_interface',
  'docker_registry_insecure', 'docker_registry_username',
  'kolla_enable_tls_internal', 'kolla_enable_tls_external', 'kolla_enable_tls_backend', 'kolla_certificates_dir',
  'kolla_copy_ca_into_containers', 'openstack_cacert', 'node_custom_config', 'enable_openstack_core',
  'enable_hacluster', 'enable_proxysql', 'enable_cinder', 'enable_cinder_backup',
  'enable_cinder_backend_lvm', 'enable_cinder_backend_nfs', 'enable_ceph', 'enable_fluentd', 'enable_central_logging',
  'enable_ovn', 'enable_neutron_provider_networks', 'enable_neutron_dvr', 'enable_neutron_qos',
  'enable_etcd', 'enable_grafana', 'enable_prometheus', 'enable_swift', 'enable_ironic', 'enable_octavia',
  'enable_magnum', 'enable_barbican', 'enable_designate', 'enable_manila', 'enable_skyline', 'enable_redis',
  'enable_opensearch', 'enable_masakari', 'enable_aodh', 'enable_ceilometer', 'enable_gnocchi', 'enable_zun',
  'enable_osprofiler', 'enable_mariabackup', 'enable_multipathd', 'nova_console',
  'glance_backend_file', 'glance_backend_ceph', 'cinder_volume_group', 'external_ceph_cephx_enabled',
  'openstack_service_workers', 'horizon_backend_database',
];

/** Reads and validates <configDir>/globals.yml; warnings are "file:line:col: ..." lines for the operator. */
export function loadGlobals(configDir: string): { globals: Globals; warnings: string[] } {
  const path = join(configDir, 'globals.yml');
  if (!existsSync(path)) throw new InputError(`${path}: not found`, 'run berth init to write one, or pass --config-dir');
  return parseGlobals(readYamlFile(path));
}

export function parseGlobals(file: YamlFile): { globals: Globals; warnings: string[] } {
  const data = file.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InputError(`${file.where([])}: globals.yml must be a mapping of settings`, 'write it as key: value lines');
  }
  const warnings: string[] = [];
  const supported: Record<string, unknown> = {};
  const candidates = [...supportedGlobals, ...kollaOnlyGlobals];
  // Keys are sorted out before the schema runs, so a typo reads as a typo, not a type error.
  for (const [key, value] of Object.entries(data)) {
    if (key in fields) {
      supported[key] = value;
    } else if (passedThrough.includes(key)) {
      continue;
    } else if (kollaOnlyGlobals.includes(key)) {
      warnings.push(`${file.where([key])}: ${key} is a kolla-ansible setting berth does not support yet; it is ignored`);
    } else {
      const suggestion = didYouMean(key, candidates);
      throw new InputError(
        `${file.where([key])}: unknown key "${shown(key)}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        'remove the key or correct its name',
      );
    }
  }
  const follows = (['api_interface', 'tunnel_interface'] as const).filter(
    (key) => supported[key] === undefined || (typeof supported[key] === 'string' && /^\s*\{\{\s*network_interface\s*\}\}\s*$/.test(supported[key])),
  );
  resolveReferences(file, supported);
  const p = validateYaml({ ...file, data: supported }, globalsSchema, supportedGlobals, hints);
  const ovsAgent = p.enable_neutron && p.neutron_plugin_agent === 'openvswitch';
  if (ovsAgent && p.enable_openvswitch === false) {
    throw new InputError(
      `${file.where(['enable_openvswitch'])}: enable_openvswitch is "no", but neutron_plugin_agent openvswitch needs the Open vSwitch daemons`,
      'remove enable_openvswitch (it follows neutron_plugin_agent), or set neutron_plugin_agent: linuxbridge',
    );
  }
  if (p.enable_neutron && p.neutron_plugin_agent === 'linuxbridge' && releaseAtLeast(releaseNamed(p.openstack_release), '2025.1')) {
    throw new InputError(
      `${file.where(['neutron_plugin_agent'])}: neutron_plugin_agent linuxbridge does not exist in OpenStack ${p.openstack_release}: neutron removed the Linux bridge driver in 2025.1`,
      'use neutron_plugin_agent: openvswitch (the default), or openstack_release: "zed" to keep linuxbridge',
    );
  }
  return {
    globals: {
      ...p,
      openstack_tag: p.openstack_tag ?? p.openstack_release,
      enable_openvswitch: p.enable_openvswitch ?? ovsAgent,
      api_interface: p.api_interface ?? p.network_interface,
      tunnel_interface: p.tunnel_interface ?? p.network_interface,
      follows_network_interface: follows,
      kolla_internal_vip_address: p.kolla_internal_vip_address ?? null,
      kolla_external_vip_address: p.kolla_external_vip_address ?? null,
    },
    warnings,
  };
}

/**
 * kolla-ansible's own globals.yml suggests values like `api_interface: "{{ network_interface }}"`.
 * A value that is exactly one reference to another setting is resolved (falling back to its default);
 * any other Jinja is refused, since a literal "{{ ... }}" would fail much later and far from here.
 */
function resolveReferences(file: YamlFile, values: Record<string, unknown>): void {
  const resolving = new Set<string>();
  const resolve = (key: string): unknown => {
    const value = key in values ? values[key] : defaultOf(key);
    if (typeof value !== 'string' || !/\{\{|\{%/.test(value)) return value;
    const ref = /^\s*\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}\s*$/.exec(value)?.[1];
    if (ref === undefined || !(ref in fields)) {
      throw new InputError(
        `${file.where([key])}: ${key}: berth does not evaluate Jinja expressions in globals.yml`,
        'write the value itself, or a single reference to another setting like "{{ network_interface }}"',
      );
    }
    if (resolving.has(ref)) throw new InputError(`${file.where([key])}: ${key}: the reference to ${ref} goes round in a circle`);
    resolving.add(key);
    const resolved = resolve(ref);
    resolving.delete(key);
    return resolved;
  };
  for (const key of Object.keys(values)) values[key] = resolve(key);
}

/** Settings of globals.yml as written, with "{{ reference }}" values resolved (for build-config.ts). */
export function resolvedSettings(file: YamlFile): Record<string, unknown> {
  const data = file.data !== null && typeof file.data === 'object' && !Array.isArray(file.data) ? (file.data as Record<string, unknown>) : {};
  const values = Object.fromEntries(Object.entries(data).filter(([key]) => key in fields));
  resolveReferences(file, values);
  return values;
}

function defaultOf(key: string): unknown {
  const field = fields[key as keyof typeof fields] as z.ZodType;
  const result = field.safeParse(undefined);
  return result.success ? result.data : undefined;
}
