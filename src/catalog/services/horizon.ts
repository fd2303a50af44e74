import type { ServiceDef } from '../types.js';

// The dashboard: Debian's openstack-dashboard under uwsgi, sessions in memcached, no database.
// Its port is horizon_port (kolla-ansible's key, default 80).
export const horizon: ServiceDef = {
  name: 'horizon',
  enableKey: 'enable_horizon',
  group: 'horizon',
  groups: { horizon: ['control'] },
  dependsOn: ['memcached', 'keystone'],
  frontends: [{ name: 'horizon', container: 'horizon', port: '{{ globals.horizon_port }}', mode: 'http', check: { path: '/auth/login/' } }],
  secrets: [{ name: 'horizon_secret_key', kind: 'password', rotation: 'session key: horizon restarts; users log in again' }],
  containers: [
    {
      name: 'horizon',
      image: 'horizon',
      command: 'uwsgi --ini /etc/openstack-dashboard/horizon-uwsgi.ini',
      configFiles: [
        { template: 'horizon/local_settings.py.j2', dest: '/etc/openstack-dashboard/local_settings.py', owner: 'horizon', perm: '0600' },
        { template: 'horizon/horizon-uwsgi.ini.j2', dest: '/etc/openstack-dashboard/horizon-uwsgi.ini', owner: 'horizon', perm: '0600' },
      ],
      permissions: [{ path: '/var/log/kolla/horizon', owner: 'horizon:horizon', recurse: true }],
      ports: ['{{ globals.horizon_port }}'],
      healthcheck: { test: 'healthcheck_curl http://{{ api_address }}:{{ globals.horizon_port }}/auth/login/', intervalSeconds: 10 },
    },
  ],
};
