// The previous release stays deployable, and a cloud on it moves to 2025.1 in one step: OpenStack
// Zed from Debian 12's packages, the starting point of the jump. Its images are built (cached after
// the first run), `berth up` deploys the default services and Heat, with Neutron on Open vSwitch as
// on 2025.1; a token is issued, a server on a tenant network goes ACTIVE, a second deploy changes
// nothing. Then the jump upstream does not support in one step (four releases): resources are made
// (a project, an image, a network with a router, a Heat stack, a server), `berth upgrade` moves the
// cloud to 2025.1, the resources are there and work, tempest's smoke tests pass; `berth rollback`
// puts Zed back with its database, and the resources are there again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerAvailable, ok, TestCloud } from './harness.js';

const hasDocker = dockerAvailable();
const cloud = new TestCloud('zed');
const run = cloud.run.bind(cloud);
const openstack = cloud.openstack.bind(cloud);
const zed = ['openstack_release: "zed"', 'enable_heat: yes'];
const epoxy = ['openstack_release: "2025.1"', 'enable_heat: yes'];

/** The compute API's highest microversion: 2.93 on Zed, 2.96 or more on 2025.1. */
function maxMicroversion(): string {
  const versions = JSON.parse(openstack(['versions', 'show', '--service', 'compute', '--interface', 'public', '-f', 'json'])) as { 'Max Microversion': string | null }[];
  return versions.map((v) => v['Max Microversion']).find((m) => m) ?? '';
}

/** What must survive the jump and its rollback. */
function assertResources(): void {
  assert.match(openstack(['project', 'show', 'e2e-jump', '-f', 'value', '-c', 'name']), /^e2e-jump\s*$/);
  assert.match(openstack(['image', 'show', 'e2e-jump-image', '-f', 'value', '-c', 'status']), /^active\s*$/);
  assert.match(openstack(['router', 'show', 'e2e-jump-router', '-f', 'value', '-c', 'status']), /^ACTIVE\s*$/);
  assert.match(openstack(['network', 'show', 'e2e-jump-net', '-f', 'value', '-c', 'status']), /^ACTIVE\s*$/);
  assert.match(openstack(['stack', 'show', 'e2e-jump-stack', '-f', 'value', '-c', 'stack_status']), /^CREATE_COMPLETE\s*$/);
  assert.match(openstack(['server', 'show', 'e2e-jump-server', '-f', 'value', '-c', 'status']), /^ACTIVE\s*$/);
}

function checkClean(): void {
  const r = run(['check']);
  assert.equal(r.status, 0, `${r.out}\n${r.err}`);
}

describe('openstack_release: zed (Debian 12) all-in-one', { skip: !hasDocker }, () => {
  before(() => {
    cloud.writeConfig(zed);
    cloud.destroy();
  });

  after(() => cloud.teardown());

  test('berth up builds the zed images and deploys them', () => {
    const t0 = Date.now();
    const r = run(['up']);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    console.log(`# berth up (zed, images cached or built): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(cloud.tag, 'zed');
  });

  test('keystone issues a token; the services are Zed\'s', () => {
    assert.match(openstack(['token', 'issue', '-f', 'value', '-c', 'id']), /^gAAAA\S+\s*$/);
    // Zed's nova API tops out at microversion 2.93; 2025.1's goes past 2.95.
    assert.equal(maxMicroversion(), '2.93');
  });

  test('a server on a tenant network goes ACTIVE, its port bound by the Open vSwitch agent', async (t) => {
    openstack(['network', 'create', 'zed-net']);
    openstack(['subnet', 'create', '--network', 'zed-net', '--subnet-range', '10.42.0.0/24', 'zed-subnet']);
    openstack(['flavor', 'create', '--ram', '64', '--disk', '1', '--vcpus', '1', 'zed-tiny']);
    // The fake driver boots nothing: any bytes make an active image.
    writeFileSync(join(cloud.data, 'zed.raw'), Buffer.alloc(1024 * 1024));
    openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', '/x/zed.raw', 'zed-image']);
    await cloud.createServer('zed-server', ['--flavor', 'zed-tiny', '--image', 'zed-image', '--network', 'zed-net'], (m) => t.diagnostic(m));
    const ports = JSON.parse(openstack(['port', 'list', '--server', 'zed-server', '-f', 'json'])) as { ID: string }[];
    assert.equal(ports.length, 1);
    const port = JSON.parse(openstack(['port', 'show', '-f', 'json', ports[0]!.ID])) as { binding_vif_type: string };
    assert.equal(port.binding_vif_type, 'ovs');
    openstack(['server', 'delete', '--wait', 'zed-server']);
  });

  test('a second deploy changes nothing', () => {
    const r = run(['deploy']);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    assert.match(r.out, /localhost\s+\d+\s+0\s+0/, 'recap: nothing changed');
  });

  test('resources the jump must keep: a project, an image, a network with a router, a Heat stack, a server', async (t) => {
    openstack(['project', 'create', 'e2e-jump']);
    writeFileSync(join(cloud.data, 'jump.raw'), randomBytes(256 * 1024));
    openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', '/x/jump.raw', 'e2e-jump-image']);
    openstack(['network', 'create', 'e2e-jump-net']);
    openstack(['subnet', 'create', '--network', 'e2e-jump-net', '--subnet-range', '10.78.0.0/24', 'e2e-jump-subnet']);
    openstack(['router', 'create', 'e2e-jump-router']);
    openstack(['router', 'add', 'subnet', 'e2e-jump-router', 'e2e-jump-subnet']);
    writeFileSync(join(cloud.data, 'jump-stack.yaml'), 'heat_template_version: 2018-08-31\nresources:\n  secret: {type: OS::Heat::RandomString, properties: {length: 16}}\n');
    openstack(['stack', 'create', '-t', '/x/jump-stack.yaml', '--wait', 'e2e-jump-stack']);
    await cloud.createServer('e2e-jump-server', ['--flavor', 'zed-tiny', '--image', 'e2e-jump-image', '--network', 'e2e-jump-net'], (m) => t.diagnostic(m));
    assertResources();
  });

  test('berth upgrade from zed to 2025.1: the resources are there, nova is 2025.1 without its FFU workaround, RabbitMQ 4 started afresh', (t) => {
    cloud.writeConfig(epoxy);
    // The 2025.1 images (built by the earlier suites; cached, or built now when this suite runs alone).
    const b = run(['build']);
    assert.equal(b.status, 0, `${b.out}\n${b.err}`);
    const t0 = Date.now();
    const r = run(['upgrade']);
    t.diagnostic(`berth upgrade zed → 2025.1: ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.status}\n${r.out.split('\n').filter((l) => /^==>|restore point|set aside|upgraded/.test(l)).join('\n')}`);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    assert.match(r.out, /upgraded to 2025\.1 in /);
    assertResources();
    assert.notEqual(maxMicroversion(), '2.93');
    assert.doesNotMatch(ok('docker', ['exec', 'nova_conductor', 'cat', '/etc/nova/nova.conf']), /disable_compute_service_check_for_ffu/);
    assert.match(ok('docker', ['exec', 'rabbitmq', 'rabbitmqctl', 'version']), /^4\./m);
    assert.equal(ok('docker', ['exec', 'rabbitmq', 'sh', '-c', 'test -d /var/lib/rabbitmq/mnesia.before-2025.1 && echo kept']).trim(), 'kept');
    checkClean();
    const again = run(['deploy']);
    assert.equal(again.status, 0, `${again.out}\n${again.err}`);
    assert.match(again.out, /localhost\s+\d+\s+0\s+0/, 'recap: nothing changed');
  });

  test('berth tempest on the upgraded cloud: the smoke tests pass', () => {
    // Tempest's image, flavors and networks (the demo project's), made on the upgraded cloud.
    const init = run(['init-runonce']);
    assert.equal(init.status, 0, `${init.out}\n${init.err}`);
    const results = join(cloud.work, 'tempest-results');
    const t0 = Date.now();
    const r = run(['tempest', '--results-dir', results]);
    console.log(`# tempest smoke after the jump: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(r.status, 0, r.out + r.err);
    assert.match(r.out, /- Failed: 0/);
    const log = readFileSync(join(results, readdirSync(results)[0]!, 'output.log'), 'utf8');
    for (const api of ['identity', 'image', 'compute', 'network']) assert.match(log, new RegExp(`tempest\\.api\\.${api}\\..* \\.\\.\\. ok`), api);
  });

  test('berth rollback puts zed back: its images, its database and RabbitMQ state; the resources are there', (t) => {
    const refused = run(['rollback']);
    assert.equal(refused.status, 2, 'rolling back a finished upgrade needs the confirmation');
    const t0 = Date.now();
    const r = run(['rollback', '--yes-i-really-really-mean-it']);
    t.diagnostic(`berth rollback 2025.1 → zed: ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.status}`);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    assert.equal(maxMicroversion(), '2.93');
    assert.match(ok('docker', ['exec', 'rabbitmq', 'rabbitmqctl', 'version']), /^3\./m);
    assertResources();
    cloud.writeConfig(zed);
    checkClean();
  });
});
