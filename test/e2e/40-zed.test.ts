// The previous release stays deployable: OpenStack Zed from Debian 12's packages, the starting
// point of the jump to 2025.1. Its images are built (cached after
// the first run), `berth up` deploys the default services and Heat, with Neutron on Open vSwitch as
// on 2025.1; a token is issued, a server on a tenant network goes ACTIVE, a second deploy changes
// nothing. The jump from this cloud to 2025.1 is its own suite (45-jump, run when named).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerAvailable, TestCloud } from './harness.js';

const hasDocker = dockerAvailable();
const cloud = new TestCloud('zed');
const run = cloud.run.bind(cloud);
const openstack = cloud.openstack.bind(cloud);
const zed = ['openstack_release: "zed"', 'enable_heat: yes'];

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
    assert.equal(cloud.computeMicroversion(), '2.93');
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
});
