// The core cloud end to end on this machine: Glance (file store), Placement and Nova (cells v2, the
// fake compute driver) next to the identity services, deployed by `berth up`, then used through the
// real OpenStack client: an image uploaded and downloaded byte for byte, a flavor, the compute host
// as a hypervisor, a server that goes ACTIVE (deleting it needs Neutron). A second deploy changes nothing.
// Everything binds to 127.0.0.2 (loopback), so no traffic leaves the machine.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { berth, dockerAvailable, ok, sh } from './harness.js';

const hasDocker = dockerAvailable();
const work = mkdtempSync(join(tmpdir(), 'berth-e2e-core-'));
const configDir = join(work, 'etc');
const nodeConfig = join(work, 'node-config');
const data = join(work, 'data');
const outputs: string[] = [];

function run(args: string[]): { status: number | null; out: string; err: string } {
  const r = berth(['--config-dir', configDir, ...args]);
  outputs.push(r.stdout, r.stderr);
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function openstack(args: string[]): string {
  const r = sh('docker', [
    'run', '--rm', '--network', 'host',
    '-v', `${join(configDir, 'clouds.yaml')}:/etc/openstack/clouds.yaml:ro`,
    '-v', `${data}:/x`,
    'berth/toolbox:zed', 'openstack', '--os-cloud', 'berth-admin', ...args,
  ]);
  outputs.push(r.stdout, r.stderr);
  if (r.status !== 0) throw new Error(`openstack ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const containers = [
  'mariadb', 'memcached', 'rabbitmq', 'keystone', 'glance_api', 'placement_api',
  'nova_api', 'nova_conductor', 'nova_scheduler', 'nova_compute',
];

function startedAt(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of containers) out[c] = ok('docker', ['inspect', '-f', '{{.State.StartedAt}}', c]).trim();
  return out;
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

describe('berth deploy (real engine, all-in-one core cloud: glance, placement, nova)', { skip: !hasDocker }, () => {
  before(() => {
    mkdirSync(configDir, { recursive: true });
    mkdirSync(data, { recursive: true });
    writeFileSync(
      join(configDir, 'globals.yml'),
      [
        '# e2e: every service on loopback',
        'network_interface: lo',
        'kolla_internal_vip_address: 127.0.0.2',
        `node_config_directory: ${nodeConfig}`,
        'enable_glance: yes',
        'enable_placement: yes',
        'enable_nova: yes',
        '',
      ].join('\n'),
    );
    writeFileSync(join(configDir, 'all-in-one'), '[control]\nlocalhost ansible_connection=local\n\n[compute:children]\ncontrol\n');
    // A clean host: whatever an earlier run left behind goes first (destroy needs a valid config).
    assert.equal(run(['genpwd']).status, 0);
    const r = run(['destroy', '--yes-i-really-really-mean-it']);
    assert.equal(r.status, 0, r.err);
  });

  after(() => {
    if (!process.env.BERTH_E2E_KEEP) run(['destroy', '--yes-i-really-really-mean-it']);
    rmSync(work, { recursive: true, force: true });
  });

  test('berth up deploys the core cloud; the services are registered in Keystone', () => {
    const t0 = Date.now();
    const r = run(['up']);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    console.log(`# berth up (core cloud): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const endpoints = openstack(['endpoint', 'list', '-f', 'value', '-c', 'Service Type', '-c', 'Interface', '-c', 'URL']);
    for (const [type, url] of [['image', 'http://127.0.0.2:9292'], ['placement', 'http://127.0.0.2:8778'], ['compute', 'http://127.0.0.2:8774/v2.1']]) {
      for (const iface of ['public', 'internal', 'admin']) assert.ok(endpoints.includes(`${type} ${iface} ${url}`), `${type} ${iface}: ${endpoints}`);
    }
  });

  test('glance: an image goes in and comes back byte for byte', () => {
    const bytes = randomBytes(1024 * 1024);
    writeFileSync(join(data, 'in.raw'), bytes);
    openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', '/x/in.raw', 'e2e-image']);
    assert.match(openstack(['image', 'show', 'e2e-image', '-f', 'value', '-c', 'status']), /^active\s*$/);
    openstack(['image', 'save', '--file', '/x/out.raw', 'e2e-image']);
    assert.ok(readFileSync(join(data, 'out.raw')).equals(bytes), 'downloaded image differs');
  });

  test('nova: services up, the compute host is a hypervisor, a server goes ACTIVE', async () => {
    const services = openstack(['compute', 'service', 'list', '-f', 'value', '-c', 'Binary', '-c', 'State']);
    for (const b of ['nova-conductor', 'nova-scheduler', 'nova-compute']) assert.match(services, new RegExp(`^${b} up$`, 'm'), services);
    assert.doesNotMatch(services, / down$/m, services);
    assert.match(openstack(['hypervisor', 'list', '-f', 'value', '-c', 'Hypervisor Hostname']), /\S/);

    openstack(['flavor', 'create', '--ram', '64', '--disk', '1', '--vcpus', '1', 'e2e-tiny']);
    // Nova (Zed) asks Neutron for a server's security groups on every show and list, and for its
    // ports on delete, even with --nic none: without Neutron the create succeeds, but the client's
    // follow-up show fails (HTTP 500, EndpointNotFound). So the state is read from the cell database.
    sh('docker', [
      'run', '--rm', '--network', 'host', '-v', `${join(configDir, 'clouds.yaml')}:/etc/openstack/clouds.yaml:ro`,
      'berth/toolbox:zed', 'openstack', '--os-cloud', 'berth-admin', '--os-compute-api-version', '2.37',
      'server', 'create', '--flavor', 'e2e-tiny', '--image', 'e2e-image', '--nic', 'none', 'e2e-server',
    ]);
    const state = await until('server active or error', 120_000, () => {
      const s = ok('docker', ['exec', 'mariadb', 'mariadb', '-N', '-e', "SELECT vm_state FROM nova.instances WHERE hostname = 'e2e-server'"]).trim();
      return s === 'active' || s === 'error' ? s : undefined;
    });
    assert.equal(state, 'active');
  });

  test('nova: a server is deleted', { todo: 'needs Neutron: nova deallocates the ports of a server it deletes' }, () => {
    openstack(['server', 'delete', '--wait', 'e2e-server']);
  });

  test('a deploy with nothing changed restarts nothing and reruns no job', () => {
    const before = startedAt();
    const jobsBefore = ok('docker', ['ps', '-a', '--filter', 'label=berth.kind=job', '--format', '{{.Names}} {{.ID}}']).split('\n').sort();
    const t0 = Date.now();
    const r = run(['deploy']);
    assert.equal(r.status, 0, r.err);
    console.log(`# no-op deploy (core cloud): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(startedAt(), before);
    assert.deepEqual(ok('docker', ['ps', '-a', '--filter', 'label=berth.kind=job', '--format', '{{.Names}} {{.ID}}']).split('\n').sort(), jobsBefore);
    assert.match(r.out, /localhost\s+\d+\s+0\s+0/, 'recap: nothing changed');
  });

  test('no secret in any output, in docker inspect, or on any process command line', () => {
    const passwords = parse(readFileSync(join(configDir, 'passwords.yml'), 'utf8')) as Record<string, string>;
    const secrets = Object.values(passwords).filter((v) => v.length >= 6);
    outputs.push(run(['logs', 'nova']).out, run(['logs', 'glance']).out);
    const ids = ok('docker', ['ps', '-aq', '--filter', 'label=berth.managed=true']).trim().split('\n');
    const inspect = ok('docker', ['inspect', ...ids]);
    const processes = ok('ps', ['-eo', 'args']);
    for (const secret of secrets) {
      assert.ok(!outputs.some((o) => o.includes(secret)), 'a secret was printed');
      assert.ok(!inspect.includes(secret), 'a secret is in docker inspect');
      assert.ok(!processes.includes(secret), 'a secret is on a command line');
    }
    // Compute hosts reach the databases through the conductor only.
    assert.doesNotMatch(ok('docker', ['exec', '-u', 'root', 'nova_compute', 'cat', '/etc/nova/nova.conf']), /mysql/);
  });
});
