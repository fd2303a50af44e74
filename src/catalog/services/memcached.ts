import type { ServiceDef } from '../types.js';

export const memcached: ServiceDef = {
  name: 'memcached',
  enableKey: 'enable_memcached',
  group: 'memcached',
  groups: { memcached: ['control'] },
  dependsOn: [],
  containers: [
    {
      name: 'memcached',
      image: 'memcached',
      command: 'memcached -l {{ api_address }} -p {{ globals.memcached_port }} -U 0 -c 5000 -m 128 -t 2',
      configFiles: [],
      ports: ['{{ globals.memcached_port }}'],
      // One at a time: the others keep their cached tokens while one restarts empty.
      rollout: 'rolling',
      healthcheck: { test: 'healthcheck_listen memcached {{ globals.memcached_port }}', intervalSeconds: 10 },
    },
  ],
};
