import type { ServiceDef } from '../types.js';

// MariaDB; a Galera cluster when [mariadb] has more than one host (templates see `galera`). The
// image's start hook decides how a Galera node starts: it joins a Primary component when a peer
// reports one, bootstraps a new cluster only as the first node with an empty data directory or as
// the node Galera marked safe_to_bootstrap, and refuses to join a cluster other than its own data's
// (that would overwrite it). `berth mariadb-recovery` handles a cluster that stopped all at once.
export const mariadb: ServiceDef = {
  name: 'mariadb',
  enableKey: 'enable_mariadb',
  group: 'mariadb',
  groups: { mariadb: ['control'] },
  dependsOn: [],
  // All clients on one node, the others waiting as backups: concurrent writes to several Galera
  // nodes fail with deadlocks OpenStack's services do not retry. Healthy = that node is Synced.
  frontends: [
    {
      name: 'mariadb',
      container: 'mariadb',
      port: '{{ globals.database_port }}',
      mode: 'tcp',
      activeBackup: true,
      check: { port: '{{ globals.mariadb_clustercheck_port }}', container: 'mariadb_clustercheck' },
      timeout: '3600s',
    },
  ],
  secrets: [
    { name: 'database_password', kind: 'password', rotation: 'MariaDB root account: set live in the running server (unix socket), no restart' },
    { name: 'mariadb_monitor_password', kind: 'password', rotation: 'MariaDB monitor account (cluster state only): set live, then the clustercheck restarts' },
    { name: 'mariadb_backup_database_password', kind: 'password', rotation: 'MariaDB backup account (state transfers, berth mariadb-backup): set live, then MariaDB restarts one node at a time' },
  ],
  // The server's own tables after a new server version, on each node (a no-op within one version).
  upgrade: { after: [{ name: 'tables', container: 'mariadb', command: 'mariadb-upgrade --protocol=socket', user: 'root', everyHost: true }] },
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
        // The monitor account's client settings: the start hook asks peers whether they are Primary.
        { template: 'mariadb/monitor.cnf.j2', dest: '/etc/mysql/monitor.cnf', owner: 'mysql', perm: '0600' },
        // mariadb-backup's account, for berth mariadb-backup (run in this container, next to the data).
        { template: 'mariadb/backup.cnf.j2', dest: '/etc/mysql/backup.cnf', owner: 'mysql', perm: '0600' },
        {
          template: 'mariadb/bootstrap.sql.j2',
          dest: '/etc/mysql/bootstrap.sql',
          owner: 'mysql',
          perm: '0600',
          // root@localhost authenticates by unix socket, so no old password is needed to set the new one.
          onChange: { exec: 'mariadb --protocol=socket < /var/lib/kolla/config_files/bootstrap.sql', user: 'root' },
        },
      ],
      // Backups stay on the host in their own volume (berth mariadb-backup, --to copies one out).
      volumes: ['mariadb:/var/lib/mysql', 'mariadb_backup:/backup'],
      permissions: [
        { path: '/var/lib/mysql', owner: 'mysql:mysql' },
        { path: '/backup', owner: 'mysql:mysql' },
        { path: '/var/log/kolla/mariadb', owner: 'mysql:mysql', recurse: true },
      ],
      ports: ['{{ globals.database_port }}'],
      healthcheck: {
        test: "{% if galera %}mariadb --protocol=socket -sNe \"SHOW STATUS LIKE 'wsrep_local_state_comment'\" | grep -q Synced{% else %}healthcheck_listen mariadbd {{ globals.database_port }}{% endif %}",
        intervalSeconds: 10,
        // A joining node receives a full copy of the data first.
        startPeriodSeconds: 300,
      },
      // A clean shutdown (InnoDB flushed, Galera's state saved): a newer MariaDB upgrades only such data.
      stopTimeoutSeconds: 60,
      rollout: 'serial',
    },
    {
      // haproxy's question "is this node Synced?" as HTTP on mariadb_clustercheck_port: 200 or 503.
      name: 'mariadb_clustercheck',
      image: 'mariadb-server',
      command: 'socat TCP-LISTEN:{{ globals.mariadb_clustercheck_port }},bind={{ api_address }},reuseaddr,fork EXEC:/usr/local/bin/galera-clustercheck',
      configFiles: [{ template: 'mariadb/monitor.cnf.j2', dest: '/etc/mysql/monitor.cnf', owner: 'mysql', perm: '0600' }],
      when: { enable_haproxy: [true] },
      rollsWith: 'mariadb',
      ports: ['{{ globals.mariadb_clustercheck_port }}'],
      healthcheck: { test: 'healthcheck_listen socat {{ globals.mariadb_clustercheck_port }}', intervalSeconds: 10 },
    },
  ],
};
