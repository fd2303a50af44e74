// Images on many hosts, the pure parts: docker_registry's modes, which images each host needs,
// the pull stream's progress, the missing-image message, and deploy refusing before any change.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { catalogSecrets } from '../../src/catalog/index.js';
import { InputError } from '../../src/config/errors.js';
import { genpwd } from '../../src/config/passwords.js';
import { ensureDeploymentId } from '../../src/deployment/identity.js';
import { sameMachine, type RegistrySite } from '../../src/deployment/registry.js';
import type { HostFacts } from '../../src/engine/host.js';
import { PullProgress } from '../../src/engine/pull-progress.js';
import { imagesByHost, missingImageLines, missingImages, missingImagesError, registryMode } from '../../src/plan/images.js';
import { deploy } from '../../src/reconcile/deploy.js';
import { progressText } from '../../src/ui/pull-report.js';
import { memoryContext, MemoryHost } from './memory-host.js';

const inventory = `[control]
ctl01 ansible_host=10.0.0.11
[network:children]
control
[compute]
cmp01 ansible_host=10.0.0.21
[deployment]
localhost ansible_connection=local
`;

const facts: Record<string, HostFacts> = {
  ctl01: { hostname: 'ctl01', addresses: { eth0: '10.0.0.11' }, interfaces: ['lo', 'eth0'] },
  cmp01: { hostname: 'cmp01', addresses: { eth0: '10.0.0.21' }, interfaces: ['lo', 'eth0'] },
  localhost: { hostname: 'laptop', addresses: {}, interfaces: ['lo'] },
};

async function contextOf(globals: string): ReturnType<typeof memoryContext> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-registry-'));
  writeFileSync(join(dir, 'globals.yml'), `network_interface: eth0\n${globals}`);
  writeFileSync(join(dir, 'multinode'), inventory);
  genpwd(dir, catalogSecrets());
  ensureDeploymentId(dir);
  return memoryContext(dir, facts);
}

test('docker_registry: empty, loopback (with a port), or an operator registry', () => {
  assert.deepEqual(registryMode(''), { kind: 'none' });
  assert.deepEqual(registryMode('127.0.0.1:4000'), { kind: 'loopback', address: '127.0.0.1', port: 4000 });
  assert.deepEqual(registryMode('localhost:5000'), { kind: 'loopback', address: 'localhost', port: 5000 });
  assert.deepEqual(registryMode('192.0.2.10:4000'), { kind: 'remote', address: '192.0.2.10:4000' });
  assert.deepEqual(registryMode('registry.example.com'), { kind: 'remote', address: 'registry.example.com' });
  assert.throws(() => registryMode('127.0.0.1'), (e: Error) => e instanceof InputError && /without a port/.test(e.message) && /127\.0\.0\.1:4000/.test(e.hint ?? ''));
});

test("each host needs its own containers' and jobs' images, under docker_registry's name; the deployment host none", async () => {
  const { ctx } = await contextOf('docker_registry: "127.0.0.1:4000"\nenable_heat: "no"\nenable_horizon: "no"\n');
  const byHost = imagesByHost(ctx.plan);
  assert.deepEqual([...byHost.keys()], ctx.plan.hosts);
  assert.deepEqual(byHost.get('localhost'), []);
  const ctl = byHost.get('ctl01')!;
  const cmp = byHost.get('cmp01')!;
  assert.ok(ctl.includes(`127.0.0.1:4000/berth/keystone:${ctx.build.tag}`), ctl.join(' '));
  // The toolbox runs the database and registration jobs, on control.
  assert.ok(ctl.includes(`127.0.0.1:4000/berth/toolbox:${ctx.build.tag}`));
  assert.ok(cmp.includes(`127.0.0.1:4000/berth/nova-compute:${ctx.build.tag}`));
  assert.ok(!cmp.some((r) => r.includes('/keystone:')), 'no keystone on a compute host');
  assert.deepEqual(cmp, [...cmp].sort(), 'sorted, no duplicates');
  assert.equal(new Set(cmp).size, cmp.length);
  // --limit's selection.
  assert.deepEqual([...imagesByHost(ctx.plan, ['cmp01']).keys()], ['cmp01']);
});

test('the missing images of a host, from one image list', () => {
  const tags = new Map([['berth/base:2025.1', 'sha256:a'], ['127.0.0.1:4000/berth/memcached:2025.1', 'sha256:b']]);
  assert.deepEqual(missingImages(['127.0.0.1:4000/berth/memcached:2025.1', '127.0.0.1:4000/berth/keystone:2025.1', 'berth/base:2025.1'], tags), ['127.0.0.1:4000/berth/keystone:2025.1']);
  // Docker Hub's names may come back with their registry spelled out.
  assert.deepEqual(missingImages(['berth/x:1'], new Map([['docker.io/berth/x:1', 'sha256:c']])), []);
});

test('the missing-image message: one line per host with the image and berth pull (berth build for this machine)', () => {
  const missing = new Map([
    ['cmp01', ['r/berth/nova-compute:1', 'r/berth/neutron-openvswitch-agent:1']],
    ['ctl01', []],
    ['localhost', ['r/berth/toolbox:1']],
  ]);
  assert.deepEqual(missingImageLines(missing, new Set(['localhost'])), [
    'cmp01: image r/berth/nova-compute:1 and 1 more not on the host; run berth pull --limit cmp01',
    'localhost: image r/berth/toolbox:1 not on the host; run berth build (this machine builds them)',
  ]);
  const err = missingImagesError(missing, new Set(['localhost']))!;
  assert.ok(err instanceof InputError);
  assert.match(err.message, /^2 host\(s\) lack images their containers need; nothing was changed:\n {2}cmp01: /);
  assert.match(err.hint ?? '', /berth pull/);
  assert.equal(missingImagesError(new Map([['ctl01', []]]), new Set()), undefined);
});

test('deploy refuses a host lacking an image before any change, after one image list per host', async () => {
  const { ctx, hosts } = await contextOf('enable_heat: "no"\nenable_horizon: "no"\n');
  const cmp = hosts.get('cmp01')!;
  const ref = imagesByHost(ctx.plan).get('cmp01')![0]!;
  cmp.missingImages.add(ref);
  await assert.rejects(
    deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId, localHosts: new Set(['localhost']) }),
    (e: Error) => e instanceof InputError && e.message.includes(`cmp01: image ${ref} not on the host; run berth pull --limit cmp01`) && !e.message.includes('ctl01:'),
  );
  for (const h of hosts.values()) {
    assert.ok(!h.calls.some((c) => /^(create|start|syncDir|ensureVolume|remove)/.test(c)), `${h.name}: nothing changed (${h.calls.join(', ')})`);
  }
  const ctl = hosts.get('ctl01')!;
  assert.equal(ctl.calls.filter((c) => c === 'imageTags').length, 1);
  assert.equal(ctl.calls.filter((c) => c.startsWith('imageId')).length, 0, 'no inspect per image');
  // Outside --limit, a missing image is not this run's business.
  const limited = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId, dryRun: true, limit: new Set(['ctl01']) });
  assert.ok(limited.length > 0);
});

test("the pull stream's progress: layers, bytes, the outcome, an error event inside a 200", () => {
  const p = new PullProgress();
  const events = [
    { status: 'Pulling from berth/memcached', id: '2025.1' },
    { status: 'Already exists', id: 'aaaaaaaaaaaa' },
    { status: 'Pulling fs layer', id: 'bbbbbbbbbbbb' },
    { status: 'Pulling fs layer', id: 'cccccccccccc' },
    { status: 'Downloading', id: 'bbbbbbbbbbbb', progressDetail: { current: 1000, total: 4000 } },
    { status: 'Downloading', id: 'cccccccccccc', progressDetail: { current: 500, total: 500 } },
    { status: 'Download complete', id: 'cccccccccccc' },
  ];
  for (const ev of events) p.feed(ev);
  assert.deepEqual(p.snapshot(), { layers: 3, layersDone: 1, bytesDone: 1500, bytesTotal: 4500 });
  for (const ev of [
    { status: 'Download complete', id: 'bbbbbbbbbbbb' },
    { status: 'Extracting', id: 'bbbbbbbbbbbb', progressDetail: { current: 4000, total: 4000 } },
    { status: 'Pull complete', id: 'bbbbbbbbbbbb' },
    { status: 'Pull complete', id: 'cccccccccccc' },
    { status: 'Digest: sha256:0123abcd' },
    { status: 'Status: Downloaded newer image for 127.0.0.1:4000/berth/memcached:2025.1' },
  ]) p.feed(ev);
  assert.deepEqual(p.snapshot(), { layers: 3, layersDone: 3, bytesDone: 4500, bytesTotal: 4500 });
  assert.equal(p.upToDate, false);
  assert.equal(p.digest, 'sha256:0123abcd');
  assert.equal(p.error, undefined);
  assert.equal(progressText(p.snapshot()), '3/3 layers, 4.5 kB of 4.5 kB');

  const same = new PullProgress();
  same.feed({ status: 'Status: Image is up to date for 127.0.0.1:4000/berth/base:2025.1' });
  assert.equal(same.upToDate, true);

  const failed = new PullProgress();
  failed.feed({ status: 'Pulling from berth/x', id: '1' });
  failed.feed({ error: 'manifest unknown', errorDetail: { message: 'manifest for 127.0.0.1:4000/berth/x:1 not found: manifest unknown' } });
  assert.match(failed.error ?? '', /manifest unknown/);
});

test('the registry host and this machine: local hosts share one loopback, SSH hosts each have their own', () => {
  const site = (hostName: string, local: string[]): RegistrySite => ({ port: 4000, hostName, host: new MemoryHost(hostName), localHosts: new Set(local) });
  assert.equal(sameMachine(site('localhost', ['localhost', 'aio']), 'aio'), true);
  assert.equal(sameMachine(site('localhost', ['localhost']), 'cmp01'), false);
  assert.equal(sameMachine(site('ctl01', ['localhost']), 'ctl01'), true);
  assert.equal(sameMachine(site('ctl01', ['localhost']), 'localhost'), false);
});
