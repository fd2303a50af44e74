// The catalog: every service berth can deploy, in one list. Adding a service = adding its
// definition file here and its templates under templates/<service>/.
import { InputError } from '../config/errors.js';
import { glance } from './services/glance.js';
import { heat } from './services/heat.js';
import { horizon } from './services/horizon.js';
import { keystone } from './services/keystone.js';
import { loadbalancer } from './services/loadbalancer.js';
import { mariadb } from './services/mariadb.js';
import { memcached } from './services/memcached.js';
import { neutron } from './services/neutron.js';
import { nova } from './services/nova.js';
import { openvswitch } from './services/openvswitch.js';
import { placement } from './services/placement.js';
import { rabbitmq } from './services/rabbitmq.js';
import type { SecretDef, ServiceDef } from './types.js';

export const catalog: readonly ServiceDef[] = [loadbalancer, mariadb, memcached, rabbitmq, keystone, glance, placement, openvswitch, neutron, nova, heat, horizon];

/** Services in an order where each comes after everything it depends on. */
export function dependencyOrder(services: readonly ServiceDef[]): ServiceDef[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const ordered: ServiceDef[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: ServiceDef, path: string[]): void => {
    if (state.get(s.name) === 'done') return;
    if (state.get(s.name) === 'visiting') throw new InputError(`service dependencies form a cycle: ${[...path, s.name].join(' → ')}`);
    state.set(s.name, 'visiting');
    for (const dep of s.dependsOn) {
      const d = byName.get(dep);
      if (d) visit(d, [...path, s.name]);
    }
    state.set(s.name, 'done');
    ordered.push(s);
  };
  for (const s of services) visit(s, []);
  return ordered;
}

/** Every service's inventory groups with their default children (kolla-ansible's multinode layout). */
export function catalogGroups(services: readonly ServiceDef[] = catalog): Record<string, readonly string[]> {
  const groups: Record<string, readonly string[]> = {};
  for (const svc of services) {
    for (const [name, children] of Object.entries(svc.groups)) {
      const known = groups[name];
      if (known && known.join() !== children.join()) throw new Error(`catalog: group ${name} has two different defaults (${svc.name})`);
      groups[name] = children;
    }
  }
  return groups;
}

/**
 * Every secret the catalog needs in passwords.yml, for genpwd and validation, with how a new value
 * reaches a running cloud: the shared mechanisms (database accounts, RabbitMQ and Keystone users)
 * change the account first, with credentials that still work, and then restart the service.
 */
export function catalogSecrets(services: readonly ServiceDef[] = catalog): SecretDef[] {
  const seen = new Map<string, SecretDef>();
  const add = (s: SecretDef): void => void (seen.has(s.name) || seen.set(s.name, s));
  for (const svc of services) {
    for (const s of svc.secrets ?? []) add({ rotation: `${svc.name} restarts`, ...s });
    for (const db of svc.databases ?? []) {
      add({ name: db.passwordKey, kind: 'password', rotation: `database account ${db.user}: changed by ${svc.name}_database, then ${svc.name} restarts` });
    }
    if (svc.rabbitmqUser) {
      const u = svc.rabbitmqUser;
      add({ name: u.passwordKey, kind: 'password', rotation: `RabbitMQ user ${u.user}: imported into the running broker, then ${svc.name} restarts` });
    }
    if (svc.keystone?.user) {
      const u = svc.keystone.user;
      add({ name: u.passwordKey, kind: 'password', rotation: `Keystone user ${u.name}: changed by ${svc.name}_keystone, then ${svc.name} restarts` });
    }
    for (const d of svc.keystone?.domains ?? []) {
      if (d.admin) add({ name: d.admin.passwordKey, kind: 'password', rotation: `Keystone user ${d.admin.name}: changed by ${svc.name}_keystone, then ${svc.name} restarts` });
    }
  }
  return [...seen.values()];
}
