import { atEveryInterface } from '../endpoints.js';
import type { ConfigFileDef, ServiceDef } from '../types.js';

const url = 'http://{{ api_address }}:8004';
// Registered in Keystone: through the VIP when haproxy serves it, else at the service's first host.
const endpoint = 'http://{{ service_address.heat }}:8004';
const heatConf: ConfigFileDef = { template: 'heat/heat.conf.j2', dest: '/etc/heat/heat.conf', owner: 'heat', perm: '0600', iniOverrides: true };
const permissions = [{ path: '/var/log/kolla/heat', owner: 'heat:heat', recurse: true }];

// Orchestration: heat-api (the REST API) and heat-engine (runs stacks, over RabbitMQ). Template
// users (wait conditions, software deployments) live in the stack domain `heat`, managed by
// heat_domain_admin; stack operations are deferred through Keystone trusts to the heat user.
export const heat: ServiceDef = {
  name: 'heat',
  enableKey: 'enable_heat',
  group: 'heat-api',
  groups: { heat: ['control'], 'heat-api': ['heat'], 'heat-engine': ['heat'] },
  dependsOn: ['mariadb', 'memcached', 'rabbitmq', 'keystone'],
  frontends: [{ name: 'heat_api', container: 'heat_api', port: '8004', mode: 'http', check: { path: '/' } }],
  databases: [{ name: 'heat', user: 'heat', passwordKey: 'heat_database_password' }],
  rabbitmqUser: { user: 'heat', passwordKey: 'heat_rabbitmq_password' },
  keystone: {
    type: 'orchestration',
    name: 'heat',
    description: 'Orchestration',
    endpoints: atEveryInterface(`${endpoint}/v1/%(tenant_id)s`),
    user: { name: 'heat', passwordKey: 'heat_keystone_password', roles: ['admin'] },
    roles: ['heat_stack_owner', 'heat_stack_user'],
    domains: [
      {
        name: 'heat',
        description: 'Owns users and projects created by heat',
        admin: { name: 'heat_domain_admin', passwordKey: 'heat_domain_admin_password', role: 'admin' },
      },
    ],
  },
  containers: [
    {
      name: 'heat_api',
      image: 'heat-api',
      command: 'heat-api',
      configFiles: [heatConf, { template: 'heat/api-paste.ini.j2', dest: '/etc/heat/api-paste.ini', owner: 'heat', perm: '0600' }],
      permissions,
      ports: ['8004'],
      healthcheck: { test: `healthcheck_curl ${url}`, intervalSeconds: 10 },
    },
    {
      name: 'heat_engine',
      image: 'heat-engine',
      command: 'heat-engine',
      rollout: 'rolling',
      configFiles: [heatConf],
      permissions,
      healthcheck: { test: 'healthcheck_port heat-engine {{ globals.rabbitmq_port }}', intervalSeconds: 10 },
      group: 'heat-engine',
    },
  ],
  // The schema; reruns for a new image (an upgrade), not for a config change.
  jobs: [{ name: 'heat_bootstrap', container: 'heat_api', phase: 'before', environment: { KOLLA_BOOTSTRAP: '1' }, inputs: [] }],
};
