import { atEveryInterface } from '../endpoints.js';
import type { ServiceDef } from '../types.js';

const url = 'http://{{ api_address }}:8778';
// Registered in Keystone: through the VIP when haproxy serves it, else at the service's first host.
const endpoint = 'http://{{ service_address.placement }}:8778';

export const placement: ServiceDef = {
  name: 'placement',
  enableKey: 'enable_placement',
  group: 'placement-api',
  groups: { placement: ['control'], 'placement-api': ['placement'] },
  dependsOn: ['mariadb', 'memcached', 'keystone'],
  frontends: [{ name: 'placement_api', container: 'placement_api', port: '8778', mode: 'http', check: { path: '/' } }],
  databases: [{ name: 'placement', user: 'placement', passwordKey: 'placement_database_password' }],
  keystone: {
    type: 'placement',
    name: 'placement',
    description: 'Placement API',
    endpoints: atEveryInterface(endpoint),
    user: { name: 'placement', passwordKey: 'placement_keystone_password', roles: ['admin'] },
  },
  upgrade: {
    checks: [{ name: 'check', container: 'placement_api', command: "sh -c 'placement-status upgrade check || [ $? -eq 1 ]'" }],
    after: [{ name: 'online_data_migrations', container: 'placement_api', command: 'placement-manage db online_data_migrations' }],
  },
  containers: [
    {
      name: 'placement_api',
      image: 'placement-api',
      command: 'uwsgi --ini /etc/placement/placement-uwsgi.ini',
      configFiles: [
        { template: 'placement/placement.conf.j2', dest: '/etc/placement/placement.conf', owner: 'placement', perm: '0600', iniOverrides: true },
        { template: 'placement/placement-uwsgi.ini.j2', dest: '/etc/placement/placement-uwsgi.ini', owner: 'placement', perm: '0600' },
      ],
      permissions: [{ path: '/var/log/kolla/placement', owner: 'placement:placement', recurse: true }],
      ports: ['8778'],
      healthcheck: { test: `healthcheck_curl ${url}`, intervalSeconds: 10 },
    },
  ],
  jobs: [{ name: 'placement_bootstrap', container: 'placement_api', phase: 'before', environment: { KOLLA_BOOTSTRAP: '1' }, inputs: [] }],
};
