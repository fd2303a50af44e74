import type { ServiceDef } from '../types.js';

export const rabbitmq: ServiceDef = {
  name: 'rabbitmq',
  enableKey: 'enable_rabbitmq',
  group: 'rabbitmq',
  groups: { rabbitmq: ['control'] },
  dependsOn: [],
  // The management UI: through the VIP, to whichever node answers (each shows the whole cluster).
  frontends: [{ name: 'rabbitmq_management', container: 'rabbitmq', port: '{{ globals.rabbitmq_management_port }}', mode: 'http', check: { path: '/' } }],
  // RabbitMQ 4.0 (2025.1) starts only on the state of a 3.13 with every feature flag enabled; Zed's
  // 3.10 cannot get there in place. Users, vhosts and permissions are rendered definitions and
  // queues are declared again by their clients, so 4.0 starts afresh and 3.10's Mnesia is kept.
  upgrade: { freshState: { release: '2025.1', container: 'rabbitmq', path: '/var/lib/rabbitmq/mnesia', clientsHave: 'rabbitmqUser' } },
  secrets: [{ name: 'rabbitmq_cluster_cookie', kind: 'password', rotation: 'Erlang cookie: RabbitMQ restarts (its clients reconnect)' }],
  containers: [
    {
      name: 'rabbitmq',
      image: 'rabbitmq',
      command: '/usr/lib/rabbitmq/bin/rabbitmq-server',
      configFiles: [
        { template: 'rabbitmq/rabbitmq.conf.j2', dest: '/etc/rabbitmq/rabbitmq.conf', owner: 'rabbitmq', perm: '0600' },
        { template: 'rabbitmq/rabbitmq-env.conf.j2', dest: '/etc/rabbitmq/rabbitmq-env.conf', owner: 'rabbitmq', perm: '0600' },
        { template: 'rabbitmq/erl_inetrc.j2', dest: '/etc/rabbitmq/erl_inetrc', owner: 'rabbitmq', perm: '0600' },
        { template: 'rabbitmq/enabled_plugins.j2', dest: '/etc/rabbitmq/enabled_plugins', owner: 'rabbitmq', perm: '0600' },
        // Users of every enabled service, with password hashes computed by the plan. Loaded at boot,
        // and imported into the running broker when they change: connected clients stay connected.
        {
          template: 'rabbitmq/definitions.json.j2',
          dest: '/etc/rabbitmq/definitions.json',
          owner: 'rabbitmq',
          perm: '0600',
          onChange: { exec: 'kolla_set_configs && rabbitmqctl import_definitions /etc/rabbitmq/definitions.json' },
        },
        { template: 'rabbitmq/erlang.cookie.j2', dest: '/var/lib/rabbitmq/.erlang.cookie', owner: 'rabbitmq', perm: '0400' },
      ],
      volumes: ['rabbitmq:/var/lib/rabbitmq'],
      permissions: [
        { path: '/var/lib/rabbitmq', owner: 'rabbitmq:rabbitmq', recurse: true },
        { path: '/var/log/kolla/rabbitmq', owner: 'rabbitmq:rabbitmq', recurse: true },
      ],
      ports: ['{{ globals.rabbitmq_port }}', '{{ globals.rabbitmq_management_port }}', '25672', '4369'],
      healthcheck: { test: 'healthcheck_listen beam.smp {{ globals.rabbitmq_port }}', intervalSeconds: 10 },
      // A node leaving its cluster hands its queues' leadership over before it stops.
      stopTimeoutSeconds: 60,
      // One node at a time, the next once this one is back in the cluster with every other one.
      rollout: 'rolling',
      rolloutGate: "rabbitmq-diagnostics -q check_running && [ \"$(rabbitmqctl -q cluster_status --formatter json | jq '.running_nodes | length')\" -eq {{ rabbitmq_nodes | length }} ]",
    },
  ],
};
