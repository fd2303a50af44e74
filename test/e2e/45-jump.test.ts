// The jump upstream does not support in one step: a Zed cloud (40-zed's, with Heat and Neutron on
// Open vSwitch) moves to 2025.1 over four releases. Resources are made first (a project, an image,
// a network with a router, a Heat stack, a server on that network); `berth upgrade` moves the cloud
// to 2025.1, the resources are there and work, nova runs without its FFU workaround, RabbitMQ 4
// started afresh with 3.10's state kept; tempest's smoke tests pass on the result; `berth rollback`
// puts Zed back with its database and RabbitMQ state, and the resources are there again.
// About 20 minutes with the images of both releases built: it runs only when named
// (scripts/test jump), and before an upgrade change is called done.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerAvailable, ok, TestCloud } from './harness.js';

const named = (process.env.BERTH_E2E_NAMED ?? '').split(/\s+/).includes('jump');
const hasDocker = named && dockerAvailable();
const cloud = new TestCloud('jump');
const run = cloud.run.bind(cloud);
const zed = ['openstack_release: "zed"', 'enable_heat: yes'];
const epoxy = ['openstack_release: "2025.1"', 'enable_heat: yes'];

describe('berth upgrade from zed to 2025.1 in one step, and its rollback (all-in-one)', { skip: !hasDocker && 'runs only when named: scripts/test jump' }, () => {
  before(() => {
    cloud.writeConfig(zed);
    cloud.destroy();
  });

  after(() => cloud.teardown());

  test('zed deployed, with the resources the jump must keep', async (t) => {
    const t0 = Date.now();
    const r = run(['up']);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    t.diagnostic(`berth up (zed, images cached or built): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(cloud.computeMicroversion(), '2.93');
    await cloud.makeResources('e2e-jump', '10.78.0.0/24', ['--network', 'e2e-jump-net'], (m) => t.diagnostic(m));
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
    cloud.assertResources('e2e-jump');
    assert.notEqual(cloud.computeMicroversion(), '2.93');
    assert.doesNotMatch(ok('docker', ['exec', 'nova_conductor', 'cat', '/etc/nova/nova.conf']), /disable_compute_service_check_for_ffu/);
    assert.match(ok('docker', ['exec', 'rabbitmq', 'rabbitmqctl', 'version']), /^4\./m);
    assert.equal(ok('docker', ['exec', 'rabbitmq', 'sh', '-c', 'test -d /var/lib/rabbitmq/mnesia.before-2025.1 && echo kept']).trim(), 'kept');
    cloud.checkClean();
    const again = run(['deploy']);
    assert.equal(again.status, 0, `${again.out}\n${again.err}`);
    assert.match(again.out, /localhost\s+\d+\s+0\s+0/, 'recap: nothing changed');
  });

  test('berth tempest on the upgraded cloud: the smoke tests pass', (t) => {
    // Tempest's image, flavors and networks (the demo project's), made on the upgraded cloud.
    const init = run(['init-runonce']);
    assert.equal(init.status, 0, `${init.out}\n${init.err}`);
    const results = join(cloud.work, 'tempest-results');
    const t0 = Date.now();
    const r = run(['tempest', '--results-dir', results]);
    t.diagnostic(`tempest smoke after the jump: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
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
    assert.equal(cloud.computeMicroversion(), '2.93');
    assert.match(ok('docker', ['exec', 'rabbitmq', 'rabbitmqctl', 'version']), /^3\./m);
    cloud.assertResources('e2e-jump');
    cloud.writeConfig(zed);
    cloud.checkClean();
  });
});
