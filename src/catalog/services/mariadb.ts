import type { ServiceDef } from '../types.js';

export const mariadb: ServiceDef = {
  name: 'mariadb',
  enableKey: 'enable_mariadb',
  group: 'control',
  dependsOn: [],
  secrets: [{ name: 'database_password', kind: 'password' }],
  containers: [
    {
      name: 'mariadb',
      image: 'mariadb-server',
      command: 'mariadbd',
      configFiles: [
        { template: 'mariadb/galera.cnf.j2', dest: '/etc/mysql/mariadb.conf.d/99-berth.cnf', owner: 'mysql', perm: '0600', iniOverrides: true },
        { template: 'mariadb/bootstrap.sql.j2', dest: '/etc/mysql/bootstrap.sql', owner: 'mysql', perm: '0600' },
      ],
      volumes: ['mariadb:/var/lib/mysql'],
      permissions: [
        { path: '/var/lib/mysql', owner: 'mysql:mysql' },
        { path: '/var/log/kolla/mariadb', owner: 'mysql:mysql', recurse: true },
      ],
      ports: ['{{ globals.database_port }}'],
      healthcheck: { test: 'healthcheck_listen mariadbd {{ globals.database_port }}', intervalSeconds: 10 },
    },
  ],
  // Initializes the data volume and the TCP root account. Never rerun for a config change: it
  // would start a second server on the volume of the running one.
  jobs: [{ name: 'mariadb_bootstrap', container: 'mariadb', environment: { KOLLA_BOOTSTRAP: '1' }, phase: 'before', inputs: [] }],
};
