// berth's TcpHost against the fleet simulator (bench/sim, which acts out berth's host scripts on
// its simulated files): the files container made on first use with its image pulled, facts, a
// config directory written, read back, changed and removed, the marker and mtimes decide() reads,
// a kernel module, and an engine that refuses connections reported as the host unreachable. The
// same class runs against this machine's real engine in test/e2e/18-tcp.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFleet, type Fleet } from '../../bench/sim/fleet.js';
import { isUnreachable } from '../../src/engine/host.js';
import { moduleAvailability } from '../../src/engine/kernel-modules.js';
import { FILES_CONTAINER, TcpHost } from '../../src/engine/tcp-host.js';

const BASE = 'registry.sim:4000/berth/base:2025.1';

describe('TcpHost against simulated engines', () => {
  let fleet: Fleet;
  const hosts: TcpHost[] = [];
  const tcpHost = (i: number): TcpHost => {
    const e = fleet.engines[i]!;
    const host = new TcpHost({ name: e.name, address: e.host, port: e.port, filesImage: BASE, configRoot: '/etc/berth', labels: { 'berth.deployment': 'sim', 'berth.kind': 'files' } });
    hosts.push(host);
    return host;
  };

  before(async () => {
    fleet = await startFleet({ engines: 2, first: '127.78.0.1', port: 0, latencies: { pull: 20, exec: 2 }, registry: [BASE] });
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await fleet.close();
  });

  test('facts, a config directory round trip, the marker, a kernel module', async () => {
    const host = tcpHost(0);
    const e = fleet.engines[0]!;
    assert.match(await host.ping(), /^\d+\./);
    const facts = await host.facts(['eth0', 'lo']);
    assert.deepEqual(facts, { hostname: e.name, addresses: { eth0: e.host, lo: '127.0.0.1' }, prefixes: { eth0: 8, lo: 8 }, interfaces: ['eth0', 'lo'] });
    assert.equal((await host.inspect(FILES_CONTAINER))?.running, true, 'made on first use, its image pulled');

    const dir = '/etc/berth/keystone';
    assert.equal(await host.readDir(dir), undefined);
    const before = Date.now();
    assert.equal(await host.syncDir(dir, { 'config.json': '{}', 'keystone.conf': '[DEFAULT]\n' }), true);
    assert.equal(await host.syncDir(dir, { 'config.json': '{}', 'keystone.conf': '[DEFAULT]\n' }), false);
    assert.equal(await host.syncDir(dir, { 'config.json': '{"a": 1}' }), true);
    await host.writeMarker(dir, 'applied');
    const state = await host.configState(dir);
    assert.deepEqual(state.files, { 'config.json': '{"a": 1}' });
    assert.equal(state.marker, 'applied');
    // Not floored to the second: the pax mtime came through.
    assert.ok(state.filesWrittenAt! >= before, `mtime ${state.filesWrittenAt} before the write at ${before}`);
    const states = await host.configStates([dir, '/etc/berth/none']);
    assert.deepEqual(states.get(dir), state);
    assert.deepEqual(states.get('/etc/berth/none'), {});
    await host.removeDir(dir);
    assert.equal(await host.readDir(dir), undefined);
    assert.equal(moduleAvailability(await host.kernelModule('openvswitch')).available, true);
  });

  test('an engine that refuses connections: the host is unreachable, the other answers', async () => {
    const [lost, other] = [tcpHost(1), tcpHost(0)];
    await fleet.fault(1, 'refuse');
    await assert.rejects(lost.ping(), (err: unknown) => isUnreachable(err) && /does not answer \(ECONNREFUSED\)/.test((err as Error).message));
    assert.match(await other.ping(), /^\d+\./);
    await fleet.fault(1, 'recover');
    assert.match(await lost.ping(), /^\d+\./);
  });
});
