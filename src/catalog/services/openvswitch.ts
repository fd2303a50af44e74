import type { ServiceDef } from '../types.js';

// The daemons' run directory: the database socket, pidfiles and control sockets, and the bridges'
// management sockets that ovs-ofctl uses. A host path, shared with the neutron agent that drives them.
const run = '/run/openvswitch:/run/openvswitch';

// Open vSwitch for ML2's openvswitch agent (kolla-ansible's roles/openvswitch): ovsdb-server and
// ovs-vswitchd, one container each, on every host that runs the agent. The database is on a named
// volume, so the bridges and ports survive a container's recreation; the agent and os-vif reach it
// at tcp:127.0.0.1:6640, their default.
export const openvswitch: ServiceDef = {
  name: 'openvswitch',
  enableKey: 'enable_openvswitch',
  // Wherever the Open vSwitch agent runs (kolla-ansible's [openvswitch:children] network, compute).
  group: 'openvswitch',
  groups: { openvswitch: ['neutron-openvswitch-agent'] },
  dependsOn: [],
  containers: [
    {
      name: 'openvswitch_db',
      image: 'openvswitch',
      // The start wrapper creates the database on the volume on the first start and converts it to
      // a newer schema after an image upgrade. manager_options: remotes added with ovs-vsctl set-manager.
      command:
        'ovsdb-server-start --remote=punix:/run/openvswitch/db.sock --remote=ptcp:6640:127.0.0.1 ' +
        '--remote=db:Open_vSwitch,Open_vSwitch,manager_options --pidfile=/run/openvswitch/ovsdb-server.pid -vconsole:info',
      configFiles: [],
      volumes: ['openvswitch_db:/var/lib/openvswitch', run],
      healthcheck: { test: 'ovsdb-client list-dbs unix:/run/openvswitch/db.sock', intervalSeconds: 10 },
    },
    {
      name: 'openvswitch_vswitchd',
      image: 'openvswitch',
      command: 'ovs-vswitchd-start unix:/run/openvswitch/db.sock --mlockall --pidfile=/run/openvswitch/ovs-vswitchd.pid -vconsole:info',
      configFiles: [],
      volumes: [run],
      // Not --privileged (this kernel refuses it, and it is more than needed): NET_ADMIN for netlink
      // and TUNSETIFF (a netdev bridge's ports are TAP devices vswitchd makes), NET_RAW for the
      // AF_PACKET sockets a netdev datapath reads other ports (veths) through, IPC_LOCK for --mlockall,
      // SYS_NICE for its threads' priorities.
      capAdd: ['NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'SYS_NICE'],
      devices: ['/dev/net/tun'],
      healthcheck: { test: 'ovs-appctl version', intervalSeconds: 10 },
      after: ['openvswitch_db'],
    },
  ],
  // The kernel module for system bridges (loaded in the host's namespaces, which have the modules);
  // destroy removes what vswitchd leaves in the kernel once its container is gone: the system
  // datapath, or the persistent TAP devices of netdev bridges and their ports.
  hostSetup: {
    image: 'openvswitch',
    setup: 'openvswitch/host-setup.sh.j2',
    teardown: 'openvswitch/host-teardown.sh.j2',
    containers: ['openvswitch_vswitchd'],
    capAdd: ['SYS_MODULE'],
  },
};
