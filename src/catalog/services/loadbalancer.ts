import type { HandOffDef, ServiceDef } from '../types.js';

// keepalived watches this file (track_file): 1 puts its VRRP instance in FAULT, so the VIP moves to
// another host at once (a priority-0 advertisement), while this host's haproxy still serves; 0
// makes it a backup again. Both containers mount the directory, so either can hand the VIP off
// before it is replaced.
const handOffFile = '/var/lib/kolla/haproxy/hand-off';
const vipHandOff: HandOffDef = {
  holds: "ip -o addr show to {{ load_balancer.vip }} | grep -q .",
  handOff: `echo 1 > ${handOffFile}`,
  resume: `echo 0 > ${handOffFile}`,
};

// The VIP and what answers on it: keepalived holds kolla_internal_vip_address on one loadbalancer
// host (VRRP, moving when that host or its haproxy dies), haproxy on every one of them serves each
// service's frontends (the catalog's `frontends`) from the service's hosts, with health checks.
// haproxy binds the VIP with `transparent`, so it listens on hosts that do not hold it.
export const loadbalancer: ServiceDef = {
  name: 'loadbalancer',
  enableKey: 'enable_haproxy',
  group: 'loadbalancer',
  groups: { loadbalancer: ['network'] },
  dependsOn: [],
  precedesAll: true,
  secrets: [
    { name: 'keepalived_password', kind: 'password', rotation: 'VRRP authentication: keepalived restarts on each host in turn' },
    { name: 'haproxy_password', kind: 'password', rotation: "haproxy's statistics page: haproxy restarts on each host in turn" },
  ],
  containers: [
    {
      name: 'haproxy',
      image: 'haproxy',
      // -W: master-worker; -db: stay in the foreground, log to stderr.
      command: 'haproxy -W -db -f /etc/haproxy/haproxy.cfg',
      configFiles: [
        {
          template: 'loadbalancer/haproxy.cfg.j2',
          dest: '/etc/haproxy/haproxy.cfg',
          owner: 'root',
          perm: '0600',
          // A reload: the master (the oldest haproxy) starts new workers on the checked file; the old
          // ones finish their connections. Nothing is refused meanwhile.
          onChange: { exec: 'kolla_set_configs && haproxy -c -q -f /etc/haproxy/haproxy.cfg && kill -USR2 "$(pgrep -o -x haproxy)"', user: 'root' },
        },
      ],
      // The admin socket berth drains servers through during rolling changes.
      volumes: ['haproxy_socket:/var/lib/kolla/haproxy'],
      // Binding an address the host does not hold (`transparent`).
      capAdd: ['NET_ADMIN'],
      // One host at a time, the VIP holder last, after it handed the VIP to a haproxy that runs.
      rollout: 'rolling',
      handOff: vipHandOff,
      ports: ['{{ globals.haproxy_stats_port }}'],
      // Its statistics page answers (401 without the password): haproxy runs as haproxy, whose
      // sockets root in the container cannot list without SYS_PTRACE.
      healthcheck: { test: 'healthcheck_curl http://{{ api_address }}:{{ globals.haproxy_stats_port }}/', intervalSeconds: 10 },
    },
    {
      name: 'keepalived',
      image: 'keepalived',
      command: 'keepalived --dont-fork --log-console --log-detail --vrrp -f /etc/keepalived/keepalived.conf',
      configFiles: [{ template: 'loadbalancer/keepalived.conf.j2', dest: '/etc/keepalived/keepalived.conf', owner: 'root', perm: '0600' }],
      capAdd: ['NET_ADMIN', 'NET_BROADCAST', 'NET_RAW'],
      // The hand-off file, beside haproxy's socket.
      volumes: ['haproxy_socket:/var/lib/kolla/haproxy'],
      when: { enable_keepalived: [true] },
      rollout: 'rolling',
      handOff: vipHandOff,
      // keepalived's VRRP child is alive.
      healthcheck: { test: 'pgrep -x keepalived >/dev/null', intervalSeconds: 10 },
      after: ['haproxy'],
    },
  ],
};
