import type { ServiceDef } from '../types.js';

// Stored credentials (EC2, application credential secrets, TOTP) are encrypted with these keys: a
// new key without keystone-manage credential_migrate would leave them unreadable.
const credentialKey = {
  why: 'keystone encrypts stored credentials with it; a new value would make them unreadable',
  hint: 'put the previous value back in passwords.yml (berth has no credential key rotation yet)',
};

const identityUrl = 'http://{{ keystone_address }}:{{ globals.keystone_public_port }}';

export const keystone: ServiceDef = {
  name: 'keystone',
  enableKey: 'enable_keystone',
  group: 'keystone',
  groups: { keystone: ['control'] },
  // Not rabbitmq: keystone sends no notifications (driver noop), so it need not wait for it.
  dependsOn: ['mariadb', 'memcached'],
  frontends: [{ name: 'keystone', container: 'keystone', port: '{{ globals.keystone_public_port }}', mode: 'http', check: { path: '/v3' } }],
  secrets: [
    { name: 'keystone_admin_password', kind: 'password', rotation: 'admin user: set by keystone_bootstrap; clouds.yaml and admin-openrc are rewritten' },
    // The demo user of `berth init-runonce`.
    { name: 'demo_password', kind: 'password', rotation: 'demo user: set by the next berth init-runonce' },
    { name: 'keystone_fernet_key0', kind: 'fernet', rotation: 'token key: keystone restarts; tokens issued before are no longer valid' },
    { name: 'keystone_fernet_key1', kind: 'fernet', rotation: 'token key: keystone restarts; tokens issued before are no longer valid' },
    { name: 'keystone_credential_key0', kind: 'fernet', cannotRotate: credentialKey },
    { name: 'keystone_credential_key1', kind: 'fernet', cannotRotate: credentialKey },
  ],
  databases: [{ name: 'keystone', user: 'keystone', passwordKey: 'keystone_database_password' }],
  rabbitmqUser: { user: 'keystone', passwordKey: 'keystone_rabbitmq_password' },
  // Expand and migrate while the old keystone still runs; contract once only the new one does.
  upgrade: {
    before: [
      { name: 'expand', container: 'keystone', command: 'keystone-manage db_sync --expand' },
      { name: 'migrate', container: 'keystone', command: 'keystone-manage db_sync --migrate' },
    ],
    after: [{ name: 'contract', container: 'keystone', command: 'keystone-manage db_sync --contract' }],
  },
  containers: [
    {
      name: 'keystone',
      image: 'keystone',
      command: 'uwsgi --ini /etc/keystone/keystone-uwsgi.ini',
      configFiles: [
        { template: 'keystone/keystone.conf.j2', dest: '/etc/keystone/keystone.conf', owner: 'keystone', perm: '0600', iniOverrides: true },
        { template: 'keystone/keystone-uwsgi.ini.j2', dest: '/etc/keystone/keystone-uwsgi.ini', owner: 'keystone', perm: '0600' },
        { template: 'keystone/fernet_key_0.j2', dest: '/etc/keystone/fernet-keys/0', owner: 'keystone', perm: '0600' },
        { template: 'keystone/fernet_key_1.j2', dest: '/etc/keystone/fernet-keys/1', owner: 'keystone', perm: '0600' },
        { template: 'keystone/credential_key_0.j2', dest: '/etc/keystone/credential-keys/0', owner: 'keystone', perm: '0600' },
        { template: 'keystone/credential_key_1.j2', dest: '/etc/keystone/credential-keys/1', owner: 'keystone', perm: '0600' },
        // Read by keystone_bootstrap only: a new admin password needs no restart of keystone.
        { template: 'keystone/admin-password.j2', dest: '/etc/keystone/admin-password', owner: 'keystone', perm: '0600', onChange: 'nothing' },
      ],
      permissions: [{ path: '/var/log/kolla/keystone', owner: 'keystone:keystone', recurse: true }],
      ports: ['{{ globals.keystone_public_port }}'],
      healthcheck: { test: `healthcheck_curl ${identityUrl}/v3`, intervalSeconds: 10 },
    },
  ],
  jobs: [
    {
      // db_sync, then the admin project/user/role and the identity endpoints (keystone-manage
      // bootstrap, idempotent). Reruns when the admin password or the endpoints change.
      name: 'keystone_bootstrap',
      container: 'keystone',
      phase: 'before',
      inputs: ['admin-password'],
      environment: {
        KOLLA_BOOTSTRAP: '1',
        OS_BOOTSTRAP_USERNAME: '{{ globals.keystone_admin_user }}',
        OS_BOOTSTRAP_PROJECT_NAME: '{{ globals.keystone_admin_project }}',
        OS_BOOTSTRAP_ROLE_NAME: 'admin',
        OS_BOOTSTRAP_SERVICE_NAME: 'keystone',
        OS_BOOTSTRAP_REGION_ID: '{{ globals.openstack_region_name }}',
        OS_BOOTSTRAP_ADMIN_URL: identityUrl,
        OS_BOOTSTRAP_INTERNAL_URL: identityUrl,
        OS_BOOTSTRAP_PUBLIC_URL: identityUrl,
      },
    },
  ],
};
