import { atEveryInterface } from '../endpoints.js';
import type { ConfigFileDef, ContainerDef, ServiceDef } from '../types.js';

// Registered in Keystone: through the VIP when haproxy serves it, else at the service's first host.
const endpoint = 'http://{{ service_address.neutron }}:9696';
const neutronConf: ConfigFileDef = { template: 'neutron/neutron.conf.j2', dest: '/etc/neutron/neutron.conf', owner: 'neutron', perm: '0600', iniOverrides: true };
const permissions: ContainerDef['permissions'] = [{ path: '/var/log/kolla/neutron', owner: 'neutron:neutron', recurse: true }];
// What neutron's privsep daemon keeps (neutron.privileged.default) must be in the container's
// bounding set, or the daemon cannot start; NET_RAW for arping and dnsmasq. No full privilege.
const agentCaps = ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH'];
// Namespaces an agent makes (qdhcp-, qrouter-) are bind mounts under /run/netns: shared
// propagation carries them to the host and from there into the other agents' containers.
const netns = '/run/netns:/run/netns:shared';
// The metadata agent's unix socket, which the haproxy proxies spawned by the l3 and dhcp agents reach.
const metadataSocket = 'neutron_metadata_socket:/var/lib/neutron/kolla';
const neutronDbManage = 'neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini';

/** An agent: one process, host networking, reporting to neutron-server over RabbitMQ. */
function agent(name: string, ini: { template: string; dest: string }, extra: Partial<ContainerDef>): ContainerDef {
  const process = `neutron-${name}-agent`;
  return {
    name: `neutron_${name.replace(/-/g, '_')}_agent`,
    image: process,
    command: `${process} --config-file /etc/neutron/neutron.conf --config-file ${ini.dest}`,
    configFiles: [neutronConf, { ...ini, owner: 'neutron', perm: '0600', iniOverrides: true }],
    permissions,
    // The process name is cut to 15 characters by the kernel, as ss shows it.
    healthcheck: { test: `healthcheck_port ${process.slice(0, 15)} {{ globals.rabbitmq_port }}`, intervalSeconds: 10 },
    // kolla-ansible's group for it: neutron-dhcp-agent, neutron-l3-agent...
    group: `neutron-${name}-agent`,
    // An agent's first RPC calls go to queues the server declares; sent earlier, they time out (60 s).
    after: ['neutron_server'],
    ...extra,
  };
}

// Networking with ML2 and the mechanism neutron_plugin_agent names: openvswitch (the default, as in
// kolla-ansible; the daemons are the openvswitch service) or linuxbridge. VXLAN tenant networks
// (l2population, no multicast), a flat provider network `physnet1` on neutron_external_interface
// (through the br-ex bridge with openvswitch). Every agent is its own container; the agents that
// wire ports and make namespaces need writable /proc/sys for sysctls there.
export const neutron: ServiceDef = {
  name: 'neutron',
  enableKey: 'enable_neutron',
  group: 'neutron-server',
  // kolla-ansible's: the server on control, the agents on the `neutron` group (network hosts); the
  // mechanism's agent also on compute hosts, where it wires the instances' ports.
  groups: {
    neutron: ['network'],
    'neutron-server': ['control'],
    'neutron-dhcp-agent': ['neutron'],
    'neutron-l3-agent': ['neutron'],
    'neutron-metadata-agent': ['neutron'],
    'neutron-openvswitch-agent': ['neutron', 'compute'],
    'neutron-linuxbridge-agent': ['neutron', 'compute'],
  },
  // openvswitch when it is enabled: the agents and the host setup's br-ex need its database.
  dependsOn: ['mariadb', 'memcached', 'rabbitmq', 'keystone', 'openvswitch'],
  frontends: [{ name: 'neutron_server', container: 'neutron_server', port: '9696', mode: 'http', check: { path: '/' } }],
  databases: [{ name: 'neutron', user: 'neutron', passwordKey: 'neutron_database_password' }],
  rabbitmqUser: { user: 'neutron', passwordKey: 'neutron_rabbitmq_password' },
  secrets: [{ name: 'metadata_secret', kind: 'password', rotation: 'metadata proxy secret: nova-api and the neutron metadata agent restart' }],
  keystone: {
    type: 'network',
    name: 'neutron',
    description: 'OpenStack Networking',
    endpoints: atEveryInterface(endpoint),
    // 'service': neutron sends port events to nova with a service token.
    user: { name: 'neutron', passwordKey: 'neutron_keystone_password', roles: ['admin', 'service'] },
  },
  // Expand while the old server runs; the contract branch once the new one does (neutron_bootstrap's
  // upgrade head applies both for a new image: on one host the server is replaced right after).
  upgrade: {
    before: [{ name: 'expand', container: 'neutron_server', command: `${neutronDbManage} upgrade --expand` }],
    after: [{ name: 'contract', container: 'neutron_server', command: `${neutronDbManage} upgrade --contract` }],
  },
  containers: [
    {
      name: 'neutron_server',
      image: 'neutron-server',
      command: 'neutron-server --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini',
      configFiles: [
        neutronConf,
        { template: 'neutron/ml2_conf.ini.j2', dest: '/etc/neutron/plugins/ml2/ml2_conf.ini', owner: 'neutron', perm: '0600', iniOverrides: true },
      ],
      permissions,
      ports: ['9696'],
      healthcheck: { test: 'healthcheck_curl http://{{ api_address }}:9696', intervalSeconds: 10 },
    },
    agent('openvswitch', { template: 'neutron/openvswitch_agent.ini.j2', dest: '/etc/neutron/plugins/ml2/openvswitch_agent.ini' }, {
      capAdd: agentCaps,
      // iptables_hybrid turns on bridge netfilter (net.bridge.bridge-nf-call-*) for its qbr bridges.
      writableProcSys: true,
      // ovs-ofctl reaches vswitchd through the bridges' management sockets there.
      volumes: ['/run/openvswitch:/run/openvswitch'],
      when: { neutron_plugin_agent: ['openvswitch'] },
    }),
    agent('linuxbridge', { template: 'neutron/linuxbridge_agent.ini.j2', dest: '/etc/neutron/plugins/ml2/linuxbridge_agent.ini' }, {
      capAdd: agentCaps,
      writableProcSys: true,
      when: { neutron_plugin_agent: ['linuxbridge'] },
    }),
    agent('dhcp', { template: 'neutron/dhcp_agent.ini.j2', dest: '/etc/neutron/dhcp_agent.ini' }, {
      capAdd: agentCaps,
      writableProcSys: true,
      volumes: [netns, metadataSocket],
    }),
    agent('l3', { template: 'neutron/l3_agent.ini.j2', dest: '/etc/neutron/l3_agent.ini' }, {
      capAdd: agentCaps,
      writableProcSys: true,
      volumes: [netns, metadataSocket],
    }),
    agent('metadata', { template: 'neutron/metadata_agent.ini.j2', dest: '/etc/neutron/metadata_agent.ini' }, {
      volumes: [metadataSocket],
    }),
  ],
  // /run/netns a shared mount, the provider network's veth when no interface is given, and with
  // openvswitch the provider bridge br-ex holding that interface; destroy removes namespaces,
  // bridges, devices and rules. It runs in the planned agent's image, which has that mechanism's
  // tools (ovs-vsctl, or ebtables).
  hostSetup: {
    image: 'neutron-{{ globals.neutron_plugin_agent }}-agent',
    setup: 'neutron/host-setup.sh.j2',
    teardown: 'neutron/host-teardown.sh.j2',
    containers: ['neutron_openvswitch_agent', 'neutron_linuxbridge_agent', 'neutron_dhcp_agent', 'neutron_l3_agent'],
  },
  jobs: [
    // neutron-db-manage upgrade head (core and ML2 tables). Reruns for a new image (an upgrade).
    { name: 'neutron_bootstrap', container: 'neutron_server', phase: 'before', environment: { KOLLA_BOOTSTRAP: '1' }, inputs: [] },
  ],
};
