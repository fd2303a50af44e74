// The deploy engine end to end on this machine: `berth up` from nothing, the real OpenStack client
// against the result, no-op deploys, an override, repair after a container is removed by hand, bad
// input refused before anything changes, and no secret anywhere it must not be.
// Everything binds to 127.0.0.2 (loopback), so no traffic leaves the machine.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { dockerAvailable, ok, repoRoot, sh, startedAt as containerStarts, TestCloud } from './harness.js';

const hasDocker = dockerAvailable();
const cloud = new TestCloud('deploy');
const { configDir, work, outputs } = cloud;
const run = cloud.run.bind(cloud);
const openstack = cloud.openstack.bind(cloud);

// The identity cloud only: this suite is about the engine; 30-core-cloud deploys the rest.
const services = ['mariadb', 'memcached', 'rabbitmq', 'keystone'];
const startedAt = (): Record<string, string> => containerStarts(services);

function managedContainers(): string {
  return ok('docker', ['ps', '-a', '--filter', 'label=berth.managed=true', '--format', '{{.Names}} {{.ID}} {{.State}}']).split('\n').sort().join('\n');
}

describe('berth deploy (real engine, all-in-one identity cloud)', { skip: !hasDocker }, () => {
  before(() => {
    cloud.writeConfig(['enable_glance: no', 'enable_placement: no', 'enable_nova: no', 'enable_neutron: no', 'enable_heat: no', 'enable_horizon: no']);
    cloud.destroy();
  });

  after(() => cloud.teardown());

  test('berth up from nothing, then the OpenStack client works with the written clouds.yaml', () => {
    const t0 = Date.now();
    const r = run(['up']);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    console.log(`# berth up (images built): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(r.out, /HOST\s+OK\s+CHANGED\s+FAILED/);
    for (const f of ['clouds.yaml', 'admin-openrc', 'passwords.yml']) {
      assert.equal(statSync(join(configDir, f)).mode & 0o777, 0o600, f);
    }
    const clouds = parse(readFileSync(join(configDir, 'clouds.yaml'), 'utf8')) as { clouds: Record<string, unknown> };
    assert.ok(clouds.clouds['berth-admin']);

    assert.match(openstack(['token', 'issue', '-f', 'value', '-c', 'id']), /^\S{20,}\s*$/);
    openstack(['project', 'create', '--or-show', 'e2e-project']);
    openstack(['user', 'create', '--or-show', '--project', 'e2e-project', '--password', 'e2e-user-pass', 'e2e-user']);
    openstack(['role', 'add', '--project', 'e2e-project', '--user', 'e2e-user', 'admin']);
    assert.match(openstack(['role', 'assignment', 'list', '--project', 'e2e-project', '--names', '-f', 'value']), /admin e2e-user@Default/);
    assert.match(openstack(['endpoint', 'list', '--service', 'identity', '-f', 'value', '-c', 'URL']), /http:\/\/127\.0\.0\.2:5000/);
  });

  test('a deploy with nothing changed restarts and recreates nothing', () => {
    const before = startedAt();
    const t0 = Date.now();
    const r = run(['deploy']);
    assert.equal(r.status, 0, r.err);
    console.log(`# no-op deploy: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(startedAt(), before);
    assert.match(r.out, /localhost\s+\d+\s+0\s+0/, 'recap: nothing changed');
    const plan = run(['plan']);
    assert.match(plan.out, /No changes/);
  });

  test('an override in config/keystone.conf: plan names it, reconfigure restarts keystone only', () => {
    mkdirSync(join(configDir, 'config'), { recursive: true });
    writeFileSync(join(configDir, 'config', 'keystone.conf'), '[token]\nexpiration = 7200\n');
    const plan = run(['plan']);
    assert.equal(plan.status, 0, plan.err);
    const changes = plan.out.split('\n').filter((l) => /^\s+(create|recreate|restart|start|run|remove)\s/.test(l));
    assert.equal(changes.length, 1, plan.out);
    assert.match(changes[0]!, /restart\s+keystone\s+keystone\.conf changed \(token\.expiration\)/);

    const before = startedAt();
    const r = run(['reconfigure']);
    assert.equal(r.status, 0, r.err);
    const now = startedAt();
    assert.notEqual(now.keystone, before.keystone);
    for (const s of ['mariadb', 'memcached', 'rabbitmq']) assert.equal(now[s], before[s], `${s} untouched`);
    assert.match(ok('docker', ['exec', 'keystone', 'grep', '^expiration', '/etc/keystone/keystone.conf']), /expiration = 7200/);
    const expires = openstack(['token', 'issue', '-f', 'value', '-c', 'expires']).trim();
    const hours = (Date.parse(expires) - Date.now()) / 3_600_000;
    assert.ok(hours > 1.9 && hours < 2.1, `token expires in ${hours.toFixed(2)} h`);
  });

  test('a container removed by hand: check reports it, deploy brings it back, the data survives', () => {
    ok('docker', ['rm', '-f', 'mariadb']);
    const check = run(['check']);
    assert.equal(check.status, 1);
    assert.match(check.out, /mariadb\s+missing/);
    const r = run(['deploy']);
    assert.equal(r.status, 0, r.err);
    assert.equal(run(['check']).status, 0);
    assert.match(openstack(['project', 'show', 'e2e-project', '-f', 'value', '-c', 'name']), /e2e-project/);
  });

  test('bad input: one line with file:line, exit 2, nothing changed on the host', () => {
    const snapshot = managedContainers();
    const variant = (name: string, edit: (dir: string) => void): string => {
      const dir = join(work, name);
      cpSync(configDir, dir, { recursive: true });
      edit(dir);
      return dir;
    };
    const cases: [string, string, RegExp][] = [
      ['malformed-yaml', variant('malformed-yaml', (d) => writeFileSync(join(d, 'globals.yml'), 'network_interface: [lo\n')), /globals\.yml:\d+:\d+/],
      ['unknown-key', variant('unknown-key', (d) => writeFileSync(join(d, 'globals.yml'), 'network_interface: lo\nenable_keystnoe: yes\n')), /globals\.yml:2:1: .*enable_keystnoe.*did you mean "enable_keystone"/],
      ['wrong-type', variant('wrong-type', (d) => writeFileSync(join(d, 'globals.yml'), 'network_interface: lo\ndatabase_port: many\n')), /globals\.yml:2:\d+: .*database_port/],
      ['unknown-group', variant('unknown-group', (d) => writeFileSync(join(d, 'all-in-one'), '[contrl]\nlocalhost ansible_connection=local\n')), /all-in-one:1: .*contrl.*control/],
      ['duplicate-host', variant('duplicate-host', (d) => writeFileSync(join(d, 'all-in-one'), '[control]\nlocalhost ansible_connection=local\nlocalhost ansible_connection=local\n')), /all-in-one:3: .*duplicate/i],
      ['no-passwords', variant('no-passwords', (d) => rmSync(join(d, 'passwords.yml'))), /passwords\.yml.*genpwd/s],
    ];
    for (const [name, dir, pattern] of cases) {
      for (const cmd of [['deploy'], ['plan']]) {
        const r = run(cmd, dir);
        assert.equal(r.status, 2, `${name} ${cmd[0]}: exit ${r.status}\n${r.err}`);
        assert.match(r.err, pattern, name);
        assert.doesNotMatch(r.err, /\n\s+at /, `${name}: no stack trace`);
        assert.equal(r.err.trim().split('\n')[0]!.startsWith('berth: '), true, name);
      }
    }
    assert.equal(managedContainers(), snapshot);
  });

  test('a deploy killed halfway is finished by the next deploy', async () => {
    assert.equal(run(['destroy', '--yes-i-really-really-mean-it']).status, 0);
    const child = spawn(join(repoRoot, 'berth'), ['--config-dir', configDir, 'deploy'], { stdio: 'ignore' });
    // Kill it once the first service is being created, mid-flight.
    for (let i = 0; i < 120 && sh('docker', ['inspect', 'mariadb_bootstrap']).status !== 0; i++) await sleep(250);
    await sleep(1500);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const r = run(['deploy']);
    assert.equal(r.status, 0, r.out + r.err);
    assert.equal(run(['check']).status, 0);
    assert.match(openstack(['token', 'issue', '-f', 'value', '-c', 'id']), /^\S{20,}\s*$/);
    assert.match(run(['plan']).out, /No changes/);
  });

  test('no secret in any output, in docker inspect, or on any process command line', () => {
    outputs.push(run(['ps']).out, run(['check']).out, run(['logs', 'keystone']).out, run(['logs', 'mariadb']).out);
    assert.ok(cloud.assertNoSecretLeaked().length >= 5);
    for (const c of services) {
      const mode = ok('docker', ['exec', '-u', 'root', c, 'sh', '-c', 'stat -c %a /var/lib/kolla/config_files/config.json']).trim();
      assert.equal(mode, '600', c);
    }
  });
});
