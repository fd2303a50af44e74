import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runTree } from '../../src/build/schedule.js';

const tree = [
  { name: 'base' },
  { name: 'openstack-base', parent: 'base' },
  { name: 'keystone', parent: 'openstack-base' },
  { name: 'toolbox', parent: 'openstack-base' },
  { name: 'mariadb', parent: 'base' },
  { name: 'memcached', parent: 'base' },
];

test('a child starts only after its parent finished', async () => {
  const order: string[] = [];
  const finished = new Set<string>();
  const outcomes = await runTree(tree, 2, async (name) => {
    const parent = tree.find((n) => n.name === name)?.parent;
    if (parent) assert.ok(finished.has(parent), `${name} started before ${parent} finished`);
    order.push(name);
    await new Promise((r) => setTimeout(r, 5));
    finished.add(name);
    return name.length;
  });
  assert.equal(order[0], 'base');
  assert.equal(outcomes.size, tree.length);
  assert.ok([...outcomes.values()].every((o) => o.status === 'done'));
});

test('at most `concurrency` run at once, and siblings run together', async () => {
  let running = 0;
  let peak = 0;
  await runTree(tree, 2, async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 10));
    running--;
  });
  assert.equal(peak, 2);
});

test('a failure skips its subtree but not its siblings', async () => {
  const ran: string[] = [];
  const outcomes = await runTree(tree, 1, (name) => {
    ran.push(name);
    if (name === 'openstack-base') return Promise.reject(new Error('apt exploded'));
    return Promise.resolve('ok');
  });
  assert.equal(outcomes.get('openstack-base')?.status, 'failed');
  assert.deepEqual(outcomes.get('keystone'), { status: 'skipped', because: 'openstack-base' });
  assert.deepEqual(outcomes.get('toolbox'), { status: 'skipped', because: 'openstack-base' });
  assert.equal(outcomes.get('mariadb')?.status, 'done');
  assert.equal(outcomes.get('memcached')?.status, 'done');
  assert.ok(!ran.includes('keystone') && !ran.includes('toolbox'));
});

test('a node whose parent is outside the set is ready at once', async () => {
  const outcomes = await runTree([{ name: 'keystone', parent: 'openstack-base' }], 1, () => Promise.resolve(1));
  assert.equal(outcomes.get('keystone')?.status, 'done');
});
