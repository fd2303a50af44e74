import type { ServiceDef } from '../types.js';

export const mariadb: ServiceDef = {
  name: 'mariadb',
  enableKey: 'enable_mariadb',
  group: 'mariadb',
  groups: { mariadb: ['control'] },
  dependsOn: [],
  secrets: [{ name: 'database_password', kind: 'password', rotation: 'MariaDB root account: set live in the running server (unix socket), no restart' }],
  containers: [
    {
      name: 'mariadb',
      image: 'mariadb-server',
      // bootstrap.sql makes the TCP root account with the current password at every start, so a
      // restart can never bring back an old password (the empty data directory is initialized by
      // the image's start hook before this).
      command: 'mariadbd --init-file=/etc/mysql/bootstrap.sql',
      configFiles: [
        { template: 'mariadb/galera.cnf.j2', dest: '/etc/mysql/mariadb.conf.d/99-berth.cnf', owner: 'mysql', perm: '0600', iniOverrides: true },
        {
          template: 'mariadb/bootstrap.sql.j2',
          dest: '/etc/mysql/bootstrap.sql',
          owner: 'mysql',
          perm: '0600',
          // root@localhost authenticates by unix socket, so no old password is needed to set the new one.
          onChange: { exec: 'mariadb --protocol=socket < /var/lib/kolla/config_files/bootstrap.sql', user: 'root' },
        },
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
};
