// Service users with fixed IDs, the same on every image and host, so files on volumes keep their
// owner across images and upgrades. The numbers are Kolla's, so volumes move between the two.
export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const ids: Record<string, number> = {
  kolla: 42400,
  glance: 42415,
  heat: 42418,
  horizon: 42420,
  keystone: 42425,
  mysql: 42434,
  neutron: 42435,
  nova: 42436,
  rabbitmq: 42439,
  tempest: 42447,
  memcached: 42457,
  placement: 42482,
};

export const serviceUsers: Record<string, ServiceUser> = Object.fromEntries(
  Object.entries(ids).map(([name, id]) => [name, { name, uid: id, gid: id, home: `/var/lib/${name}` }]),
);
