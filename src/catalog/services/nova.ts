import { atEveryInterface } from '../endpoints.js';
import type { ConfigFileDef, ContainerDef, ServiceDef } from '../types.js';

// Registered in Keystone: through the VIP when haproxy serves it, else at the service's first host.
const endpoint = 'http://{{ service_address.nova }}:8774/v2.1';
const novaConf: ConfigFileDef = { template: 'nova/nova.conf.j2', dest: '/etc/nova/nova.conf', owner: 'nova', perm: '0600', iniOverrides: true };
const permissions = [{ path: '/var/log/kolla/nova', owner: 'nova:nova', recurse: true }];

// libvirtd's socket directory, shared by nova_compute and nova_libvirt.
const libvirtSocket = 'nova_libvirt_run:/run/libvirt';
// nova-compute's state: its node identity (compute_id, which 2023.2+ refuses to start without once
// the service is registered, so it must survive a recreated container) and the instances' disks,
// which nova_libvirt reads too.
const computeState = 'nova_compute:/var/lib/nova';
const computePermissions = [...permissions, { path: '/var/lib/nova', owner: 'nova:nova' }];

/**
 * libvirtd with QEMU, one per compute host. Capabilities instead of --privileged: tap devices and
 * bridges (NET_ADMIN, /dev/net/tun), QEMU's memory locking and priorities; /dev/kvm with kvm.
 */
function libvirt(virtType: 'qemu' | 'kvm'): ContainerDef {
  const conf = (name: string): ConfigFileDef => ({ template: `nova/${name}.j2`, dest: `/etc/libvirt/${name}`, owner: 'root', perm: '0600' });
  return {
    name: 'nova_libvirt',
    image: 'nova-libvirt',
    command: 'libvirtd',
    // Beside nova_compute, whatever hosts that group names.
    group: 'nova-compute',
    when: { nova_compute_virt_type: [virtType] },
    configFiles: [conf('libvirtd.conf'), conf('qemu.conf')],
    capAdd: ['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE', 'IPC_LOCK', 'SYS_NICE'],
    devices: virtType === 'kvm' ? ['/dev/net/tun', '/dev/kvm'] : ['/dev/net/tun'],
    // Domain definitions and libvirt's state outlive the container.
    volumes: [libvirtSocket, computeState, 'libvirtd:/var/lib/libvirt', 'nova_libvirt_qemu:/etc/libvirt/qemu'],
    healthcheck: { test: 'virsh -c qemu:///system version', intervalSeconds: 10 },
  };
}

/** A nova service connected to its message queue (conductor, scheduler, compute). */
function rpcService(name: string, extra: Partial<ContainerDef> = {}): ContainerDef {
  return {
    name: `nova_${name}`,
    image: `nova-${name}`,
    command: `nova-${name}`,
    configFiles: [novaConf],
    permissions,
    healthcheck: { test: `healthcheck_port nova-${name} {{ globals.rabbitmq_port }}`, intervalSeconds: 10 },
    group: `nova-${name}`,
    ...extra,
  };
}

// Cells v2 with one cell: the API database (nova_api), cell0 (nova_cell0, instances that failed to
// schedule) and cell1 (nova). nova-compute runs on the compute group and has no database
// credentials; conductor, scheduler and the API run on control.
export const nova: ServiceDef = {
  name: 'nova',
  enableKey: 'enable_nova',
  group: 'nova-api',
  groups: {
    nova: ['control'],
    'nova-api': ['nova'],
    'nova-conductor': ['nova'],
    'nova-scheduler': ['nova'],
    'nova-compute': ['compute'],
  },
  // Neutron (when enabled) first: nova-compute binds instance ports through it.
  dependsOn: ['mariadb', 'memcached', 'rabbitmq', 'keystone', 'glance', 'placement', 'neutron'],
  frontends: [
    { name: 'nova_api', container: 'nova_api', port: '8774', mode: 'http', check: { path: '/' } },
    { name: 'nova_metadata', container: 'nova_api', port: '8775', mode: 'http', check: { path: '/' } },
  ],
  databases: [
    { name: 'nova_api', user: 'nova_api', passwordKey: 'nova_api_database_password' },
    { name: 'nova', user: 'nova', passwordKey: 'nova_database_password' },
    { name: 'nova_cell0', user: 'nova', passwordKey: 'nova_database_password' },
  ],
  rabbitmqUser: { user: 'nova', passwordKey: 'nova_rabbitmq_password' },
  keystone: {
    type: 'compute',
    name: 'nova',
    description: 'OpenStack Compute',
    endpoints: atEveryInterface(endpoint),
    // 'service': nova sends service tokens (its [service_user]) that glance and placement check.
    user: { name: 'nova', passwordKey: 'nova_keystone_password', roles: ['admin', 'service'] },
  },
  // The schemas move with nova_bootstrap (api_db sync, db sync: it reruns for a new image).
  upgrade: {
    // Exit 1 is warnings only. It queries instances with the new models: across releases it runs
    // after nova's db sync, once the computes run the new release too.
    // A failed check is repeated at the end of the output, which berth shows the last lines of.
    checks: [
      {
        name: 'check',
        container: 'nova_api',
        command: "sh -c 'nova-status upgrade check > /tmp/nova-status; rc=$?; cat /tmp/nova-status; grep -B1 -A4 \"Result: Failure\" /tmp/nova-status; [ $rc -le 1 ]'",
        newSchema: true,
        // After the jump: until the computes have recorded their new version (once their driver is up).
        retrySeconds: 180,
      },
    ],
    after: [{ name: 'online_data_migrations', container: 'nova_api', command: 'nova-manage db online_data_migrations' }],
  },
  containers: [
    {
      // The compute API and the metadata API in one process, as kolla does.
      name: 'nova_api',
      image: 'nova-api',
      command: 'nova-api',
      configFiles: [novaConf, { template: 'nova/api-paste.ini.j2', dest: '/etc/nova/api-paste.ini', owner: 'nova', perm: '0600' }],
      permissions,
      ports: ['8774', '8775'],
      healthcheck: { test: 'healthcheck_curl http://{{ api_address }}:8774', intervalSeconds: 10 },
    },
    // Rolling: RPC requests wait in their queues for the copies still running.
    rpcService('conductor', { rollout: 'rolling' }),
    rpcService('scheduler', { rollout: 'rolling' }),
    // The fake driver: a real Nova driver that keeps instances in Nova's books only (no hypervisor).
    rpcService('compute', {
      when: { nova_compute_virt_type: ['fake'] },
      volumes: [computeState],
      permissions: computePermissions,
    }),
    // The libvirt driver, talking to nova_libvirt over its socket on a shared volume. Its privsep
    // contexts (os-vif plugging ports into bridges, instance files) keep NET_ADMIN, SYS_ADMIN and
    // DAC_READ_SEARCH, so those must be in the container's bounding set.
    rpcService('compute', {
      when: { nova_compute_virt_type: ['qemu', 'kvm'] },
      capAdd: ['NET_ADMIN', 'SYS_ADMIN', 'DAC_READ_SEARCH'],
      // With ML2/OVS's hybrid firewall os-vif makes the port's qbr bridge itself and sets its
      // sysctls (IPv6 off, ARP filtering) under /proc/sys, which Docker mounts read-only.
      writableProcSys: true,
      volumes: [libvirtSocket, computeState],
      permissions: [...computePermissions, { path: '/var/lib/nova/instances', owner: 'nova:nova' }],
      after: ['nova_libvirt'],
    }),
    ...(['qemu', 'kvm'] as const).map((virtType) => libvirt(virtType)),
  ],
  jobs: [
    // api_db sync, cell0 and cell1 mappings, db sync. Reruns for a new image (an upgrade).
    { name: 'nova_bootstrap', container: 'nova_api', phase: 'before', environment: { KOLLA_BOOTSTRAP: '1' }, inputs: [] },
    // Maps compute hosts into cell1 once they have registered. The host list is part of the job's
    // environment, so a new compute host reruns it.
    {
      name: 'nova_discover_hosts',
      container: 'nova_api',
      phase: 'after',
      environment: { NOVA_DISCOVER_HOSTS: "{{ group_hostnames['nova-compute'] | join(' ') }}" },
      inputs: [],
    },
  ],
};
