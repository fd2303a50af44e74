// The deploy engine end to end on this machine: `berth up` from nothing, the real OpenStack client
// against the result, no-op deploys, an override, repair after a container is removed by hand, bad
// input refused before anything changes, and no secret anywhere it must not be.
// Everything binds to 127.0.0.2 (loopback), so no traffic leaves the machine.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { dockerAvailable, E2E_DEPLOYMENT_ID, imageTag, ok, repoRoot, sh, startedAt as containerStarts, TestCloud } from './harness.js';

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

  test('a second deploy while one runs is refused and names the holder', async () => {
    ok('docker', ['rm', '-f', 'memcached', 'keystone']);
    const first = spawn(join(repoRoot, 'berth'), ['--config-dir', configDir, 'deploy'], { stdio: 'ignore' });
    for (let i = 0; i < 200 && !existsSync(join(configDir, 'deploy.lock')); i++) await sleep(100);
    const second = run(['deploy']);
    assert.equal(second.status, 2, second.out + second.err);
    assert.match(second.err, new RegExp(`locked by berth deploy \\(pid ${first.pid} on \\S+, started `));
    const code = await new Promise((r) => first.once('exit', r));
    assert.equal(code, 0);
    assert.equal(existsSync(join(configDir, 'deploy.lock')), false, 'the lock is released');
    assert.equal(run(['check']).status, 0);
  });

  test("another deployment's containers are never touched: deploy, stop and destroy stop before any change", () => {
    const other = join(work, 'other-deployment');
    cpSync(configDir, other, { recursive: true });
    for (const f of ['deployment-id', 'applied-secrets.json', 'passwords.yml']) rmSync(join(other, f), { force: true });
    assert.equal(run(['genpwd'], other).status, 0);
    const theirs = readFileSync(join(configDir, 'deployment-id'), 'utf8').trim();
    const before = startedAt();
    const snapshot = managedContainers();
    for (const cmd of [['deploy'], ['plan'], ['stop'], ['destroy', '--yes-i-really-really-mean-it']]) {
      const r = run(cmd, other);
      assert.equal(r.status, 2, `${cmd.join(' ')}: ${r.out}${r.err}`);
      assert.match(r.err, new RegExp(`localhost: container mariadb belongs to deployment ${theirs}`), cmd.join(' '));
      assert.match(r.err, /nothing was changed/);
    }
    assert.deepEqual(startedAt(), before);
    assert.equal(managedContainers(), snapshot);
    assert.match(ok('docker', ['volume', 'inspect', '-f', '{{index .Labels "berth.deployment"}}', 'mariadb']).trim(), new RegExp(`^${theirs}$`));
  });

  test('--adopt takes a cloud over (a lost deployment-id): containers recreated, jobs rerun, its own secrets applied; and back', () => {
    const other = join(work, 'other-deployment');
    const otherId = readFileSync(join(other, 'deployment-id'), 'utf8').trim();
    const adopted = run(['deploy', '--adopt'], other);
    assert.equal(adopted.status, 0, adopted.out + adopted.err);
    // eslint-disable-next-line no-control-regex
    assert.match(adopted.out.replace(/\x1B\[[0-9;]*m/g, ''), /recreate\s+mariadb\s+adopted/);
    assert.equal(run(['check'], other).status, 0);
    assert.equal(ok('docker', ['inspect', '-f', '{{index .Config.Labels "berth.deployment"}}', 'keystone']).trim(), otherId);
    // Now the first config directory's deploy is the stranger, until it adopts the cloud back.
    const refused = run(['deploy']);
    assert.equal(refused.status, 2);
    assert.match(refused.err, new RegExp(`container keystone belongs to deployment ${otherId}`));
    const back = run(['deploy', '--adopt']);
    assert.equal(back.status, 0, back.out + back.err);
    assert.equal(run(['check']).status, 0);
    assert.match(run(['plan']).out, /No changes/);
    assert.match(openstack(['project', 'show', 'e2e-project', '-f', 'value', '-c', 'name']), /e2e-project/, 'the data survived both');
  });

  test('a job container created but never started is not taken for a finished job', () => {
    const labels = JSON.parse(ok('docker', ['inspect', '-f', '{{json .Config.Labels}}', 'keystone_bootstrap'])) as Record<string, string>;
    const image = ok('docker', ['inspect', '-f', '{{.Config.Image}}', 'keystone_bootstrap']).trim();
    ok('docker', ['rm', '-f', 'keystone_bootstrap']);
    ok('docker', ['create', '--name', 'keystone_bootstrap', ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), image, 'true']);
    assert.match(ok('docker', ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'keystone_bootstrap']), /created 0/);
    const plan = run(['plan']);
    assert.match(plan.out, /run\s+keystone_bootstrap\s+never finished/);
    assert.equal(run(['deploy']).status, 0);
    assert.match(ok('docker', ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'keystone_bootstrap']), /exited 0/);
    assert.match(run(['plan']).out, /No changes/);
  });

  test('an image rebuilt under the same tag recreates its containers and reruns their database sync', () => {
    const original = ok('docker', ['image', 'inspect', '-f', '{{.Id}}', `berth/keystone:${imageTag}`]).trim();
    try {
      // A different image under the same reference, as a rebuild or an upgrade leaves it.
      sh('docker', ['build', '-t', `berth/keystone:${imageTag}`, '--label', 'e2e.rebuilt=yes', '-'], { input: `FROM berth/keystone:${imageTag}\n` });
      assert.notEqual(ok('docker', ['image', 'inspect', '-f', '{{.Id}}', `berth/keystone:${imageTag}`]).trim(), original);
      const plan = run(['plan']);
      assert.match(plan.out, new RegExp(`recreate\\s+keystone\\s+image berth/keystone:${imageTag} was rebuilt or pulled`));
      assert.match(plan.out, new RegExp(`run\\s+keystone_bootstrap\\s+image berth/keystone:${imageTag} was rebuilt or pulled`));
      assert.equal(run(['deploy']).status, 0);
      assert.match(run(['plan']).out, /No changes/);
    } finally {
      ok('docker', ['tag', original, `berth/keystone:${imageTag}`]);
    }
    assert.equal(run(['deploy']).status, 0);
    assert.equal(run(['check']).status, 0);
  });

  test('an unhealthy container is restarted by deploy', async () => {
    // keystone's processes frozen: its healthcheck times out until Docker calls it unhealthy.
    ok('docker', ['exec', '-u', 'root', 'keystone', 'sh', '-c', 'kill -STOP -1']);
    for (let i = 0; i < 180 && ok('docker', ['inspect', '-f', '{{.State.Health.Status}}', 'keystone']).trim() !== 'unhealthy'; i++) await sleep(1000);
    assert.equal(ok('docker', ['inspect', '-f', '{{.State.Health.Status}}', 'keystone']).trim(), 'unhealthy');
    const check = run(['check']);
    assert.equal(check.status, 1);
    assert.match(run(['plan']).out, /restart\s+keystone\s+container is unhealthy/);
    const r = run(['deploy']);
    assert.equal(r.status, 0, r.out + r.err);
    assert.equal(run(['check']).status, 0);
    assert.match(openstack(['token', 'issue', '-f', 'value', '-c', 'id']), /^\S{20,}\s*$/);
  });

  test('rotating secrets keeps the cloud working; a secret berth cannot rotate stops before any change', () => {
    const path = join(configDir, 'passwords.yml');
    const original = readFileSync(path, 'utf8');
    const set = (text: string, key: string, value: string): string => text.replace(new RegExp(`^${key}: .*$`, 'm'), `${key}: ${value}`);
    // A credential key: refused, nothing changed.
    const before = startedAt();
    writeFileSync(path, set(original, 'keystone_credential_key0', Buffer.alloc(32, 'credential').toString('base64url') + '='), { mode: 0o600 });
    for (const cmd of [['deploy'], ['plan']]) {
      const r = run(cmd);
      assert.equal(r.status, 2, r.out + r.err);
      assert.match(r.err, /keystone_credential_key0 changed since the last deploy, and berth cannot rotate it/);
    }
    assert.deepEqual(startedAt(), before);
    // One of each kind: MariaDB root, a database account, the admin, a Keystone service user's
    // kind (none in this cloud besides admin), a RabbitMQ user, the Erlang cookie, a token key.
    const rotated: Record<string, string> = {
      database_password: 'rotated-root-Pw1',
      keystone_database_password: 'rotated-keystone-db-Pw2',
      keystone_admin_password: 'rotated-admin-Pw3',
      keystone_rabbitmq_password: 'rotated-rabbit-Pw4',
      rabbitmq_cluster_cookie: 'ROTATEDCOOKIEVALUE0123456789',
      keystone_fernet_key1: Buffer.alloc(32, 'rotated').toString('base64url') + '=',
    };
    let text = original;
    for (const [k, v] of Object.entries(rotated)) text = set(text, k, v);
    writeFileSync(path, text, { mode: 0o600 });
    const plan = run(['plan']);
    assert.equal(plan.status, 0, plan.err);
    assert.match(plan.out, /Secrets to rotate \(6\)/);
    for (const k of Object.keys(rotated)) assert.match(plan.out, new RegExp(`^  ${k}: `, 'm'), k);
    for (const v of Object.values(rotated)) assert.ok(!plan.out.includes(v), 'plan prints no value');
    assert.match(plan.out, /apply\s+mariadb\s+bootstrap\.sql changed/);
    const r = run(['deploy']);
    assert.equal(r.status, 0, r.out + r.err);
    assert.equal(run(['check']).status, 0);
    // The new admin password works (clouds.yaml was rewritten), the database took the new root password.
    assert.match(openstack(['token', 'issue', '-f', 'value', '-c', 'id']), /^\S{20,}\s*$/);
    assert.match(openstack(['project', 'show', 'e2e-project', '-f', 'value', '-c', 'name']), /e2e-project/);
    assert.match(
      ok('docker', ['run', '--rm', '--network', 'host', '-e', `MYSQL_PWD=${rotated.database_password}`, `berth/toolbox:${imageTag}`, 'mariadb', '-h', '127.0.0.2', '-u', 'root', '-N', '-e', 'SELECT 1']),
      /^1$/m,
    );
    assert.match(run(['plan']).out, /No changes/);
    assert.doesNotMatch(run(['plan']).out, /Secrets to rotate/);
  });

  test('deploys killed (kill -9 of the process group) at random moments are finished by the next deploy', async () => {
    const seed = Number(process.env.BERTH_E2E_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`# fault injection seed: ${seed} (replay with BERTH_E2E_SEED=${seed})`);
    const random = mulberry32(seed);
    for (let round = 1; round <= 3; round++) {
      // Real work: every container and job goes, the data volume stays.
      const all = ok('docker', ['ps', '-aq', '--filter', 'label=berth.managed=true']).trim().split('\n');
      ok('docker', ['rm', '-f', ...all]);
      const delayMs = Math.floor(500 + random() * 25_000);
      console.log(`# round ${round}: kill after ${delayMs} ms`);
      const child = spawn(join(repoRoot, 'berth'), ['--config-dir', configDir, 'deploy'], { stdio: 'ignore', detached: true });
      const exited = new Promise((r) => child.once('exit', r));
      await Promise.race([sleep(delayMs), exited]);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // It finished first.
      }
      await exited;
      const r = run(['deploy']);
      assert.equal(r.status, 0, `seed ${seed} round ${round}: ${r.out}${r.err}`);
      assert.equal(run(['check']).status, 0, `seed ${seed} round ${round}`);
      assert.match(openstack(['project', 'show', 'e2e-project', '-f', 'value', '-c', 'name']), /e2e-project/, 'data made before survives');
      assert.match(run(['plan']).out, /No changes/);
    }
  });

  test('no secret in any output, in docker inspect, or on any process command line', () => {
    outputs.push(run(['ps']).out, run(['check']).out, run(['logs', 'keystone']).out, run(['logs', 'mariadb']).out);
    assert.ok(cloud.assertNoSecretLeaked().length >= 5);
    for (const c of services) {
      const mode = ok('docker', ['exec', '-u', 'root', c, 'sh', '-c', 'stat -c %a /var/lib/kolla/config_files/config.json']).trim();
      assert.equal(mode, '600', c);
    }
  });

  test("a killed tool run (tempest) leaves a container labelled with the deployment, which destroy removes", async () => {
    const child = spawn(join(repoRoot, 'berth'), ['--config-dir', configDir, 'tempest', '--regex', 'tempest\\.api\\.identity\\.v3\\.test_tokens', '--results-dir', join(work, 'tempest')], {
      stdio: 'ignore',
      detached: true,
    });
    const tools = (): string[] => ok('docker', ['ps', '-aq', '--filter', `label=berth.deployment=${E2E_DEPLOYMENT_ID}`, '--filter', 'label=berth.kind=tool']).trim().split('\n').filter(Boolean);
    for (let i = 0; i < 240 && tools().length === 0; i++) await sleep(250);
    process.kill(-child.pid!, 'SIGKILL');
    assert.equal(tools().length, 1, 'the tool container outlives the killed run');
    const r = run(['destroy', '--yes-i-really-really-mean-it']);
    assert.equal(r.status, 0, r.out + r.err);
    assert.match(r.out, /removed tool container berth_tool_/);
    assert.match(r.out, /Kept:\n.*globals\.yml, passwords\.yml/);
    assert.deepEqual(tools(), []);
    assert.equal(ok('docker', ['ps', '-aq', '--filter', `label=berth.deployment=${E2E_DEPLOYMENT_ID}`]).trim(), '');
    assert.equal(ok('docker', ['volume', 'ls', '-q', '--filter', `label=berth.deployment=${E2E_DEPLOYMENT_ID}`]).trim(), '');
  });
});

/** A small seeded generator, so a failing kill schedule can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
