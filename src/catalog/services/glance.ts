import { atEveryInterface } from '../endpoints.js';
import type { ServiceDef } from '../types.js';

const url = 'http://{{ api_address }}:9292';
// Registered in Keystone: through the VIP when haproxy serves it, else at the service's first host.
const endpoint = 'http://{{ service_address.glance }}:9292';

export const glance: ServiceDef = {
  name: 'glance',
  enableKey: 'enable_glance',
  group: 'glance-api',
  groups: { glance: ['control'], 'glance-api': ['glance'] },
  dependsOn: ['mariadb', 'memcached', 'keystone'],
  frontends: [{ name: 'glance_api', container: 'glance_api', port: '9292', mode: 'http', check: { path: '/' } }],
  databases: [{ name: 'glance', user: 'glance', passwordKey: 'glance_database_password' }],
  keystone: {
    type: 'image',
    name: 'glance',
    description: 'OpenStack Image',
    endpoints: atEveryInterface(endpoint),
    user: { name: 'glance', passwordKey: 'glance_keystone_password', roles: ['admin'] },
  },
  upgrade: {
    before: [
      { name: 'expand', container: 'glance_api', command: 'glance-manage db expand' },
      { name: 'migrate', container: 'glance_api', command: 'glance-manage db migrate' },
    ],
    after: [{ name: 'contract', container: 'glance_api', command: 'glance-manage db contract' }],
  },
  containers: [
    {
      name: 'glance_api',
      image: 'glance-api',
      command: 'glance-api',
      configFiles: [
        { template: 'glance/glance-api.conf.j2', dest: '/etc/glance/glance-api.conf', owner: 'glance', perm: '0600', iniOverrides: true },
        { template: 'glance/glance-api-paste.ini.j2', dest: '/etc/glance/glance-api-paste.ini', owner: 'glance', perm: '0600' },
      ],
      // The file store: images live on this volume, or a directory of the host (kolla-ansible's key).
      volumes: ['{{ globals.glance_file_datadir_volume }}:/var/lib/glance/images'],
      // As kolla-ansible: a named volume is local to its host, so one glance serves every image.
      firstHostOnly: {
        when: "{{ not globals.glance_file_datadir_volume.startsWith('/') }}",
        why: 'its images are files in the glance volume of that host; set glance_file_datadir_volume to a directory shared by every glance host (NFS, CephFS) to run it on all of them',
      },
      permissions: [
        { path: '/var/lib/glance/images', owner: 'glance:glance' },
        { path: '/var/log/kolla/glance', owner: 'glance:glance', recurse: true },
      ],
      ports: ['9292'],
      healthcheck: { test: `healthcheck_curl ${url}`, intervalSeconds: 10 },
    },
  ],
  // The schema; reruns for a new image (an upgrade), not for a config change.
  jobs: [{ name: 'glance_bootstrap', container: 'glance_api', phase: 'before', environment: { KOLLA_BOOTSTRAP: '1' }, inputs: [] }],
};
