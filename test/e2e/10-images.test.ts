// Builds the whole image set from nothing (no registry) with the real builder, then runs the
// images: the container contract (start script, COPY_ALWAYS / COPY_ONCE, --check) and the tools.
// Later e2e suites reuse these images: the build key makes their builds no-ops.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultRelease } from '../../src/config/releases.js';
import { berth, dockerAvailable, e2eTempDir, ok, sh } from './harness.js';

// The default release's images; the zed suite builds its own.
const tag = defaultRelease;

const hasDocker = dockerAvailable();
const configDir = e2eTempDir('build');
const logDir = join(configDir, 'logs');
const containers: string[] = [];

interface Summary {
  type: 'summary';
  results: { name: string; status: string; size?: number }[];
}

function buildJson(args: string[]): { status: number | null; summary: Summary; stderr: string } {
  const r = berth(['--config-dir', configDir, '--format', 'json', 'build', '--log-dir', logDir, ...args]);
  const summary = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Summary | { type: string })
    .find((e): e is Summary => e.type === 'summary');
  assert.ok(summary, `no summary in output: ${r.stdout}${r.stderr}`);
  return { status: r.status, summary, stderr: r.stderr };
}

/** A config.json directory like the one berth renders for a container: root-owned, 0600. */
function configFiles(strategyNote: string, content: string): string {
  const dir = e2eTempDir('cfg');
  writeFileSync(join(dir, 'test.conf'), content, { mode: 0o600 });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      command: `sleep infinity`,
      config_files: [
        { source: '/var/lib/kolla/config_files/test.conf', dest: '/etc/keystone/test.conf', owner: 'keystone', perm: '0640' },
        { source: '/var/lib/kolla/config_files/absent.conf', dest: '/etc/keystone/absent.conf', owner: 'keystone', perm: '0600', optional: true },
      ],
      directories: [{ path: '/var/lib/keystone/made', owner: 'keystone:keystone', perm: '0750' }],
      permissions: [{ path: '/var/log/kolla/keystone', owner: 'keystone:keystone', recurse: true }],
      note: strategyNote,
    }),
    { mode: 0o600 },
  );
  chmodSync(dir, 0o700);
  return dir;
}

function startContainer(name: string, dir: string, strategy: string): void {
  sh('docker', ['rm', '-f', name]);
  containers.push(name);
  ok('docker', [
    'run', '-d', '--name', name,
    '-e', `KOLLA_CONFIG_STRATEGY=${strategy}`,
    '-v', `${dir}:/var/lib/kolla/config_files:ro`,
    `berth/keystone:${tag}`,
  ]);
  waitFor(() => sh('docker', ['exec', name, 'test', '-f', '/run_command']).status === 0, `${name} to start`);
}

function waitFor(cond: () => boolean, what: string, seconds = 30): void {
  for (let i = 0; i < seconds * 4; i++) {
    if (cond()) return;
    sh('sleep', ['0.25']);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const exec = (name: string, args: string[], user = 'root'): string => ok('docker', ['exec', '-u', user, name, ...args]).trim();

describe('berth build (real engine)', { skip: !hasDocker }, () => {
  before(() => mkdirSync(logDir, { recursive: true }));
  after(() => {
    for (const c of containers) sh('docker', ['rm', '-f', c]);
  });

  test('builds every image from nothing', () => {
    const t0 = Date.now();
    const { status, summary, stderr } = buildJson([]);
    assert.equal(status, 0, stderr);
    const names = summary.results.map((r) => r.name);
    for (const n of ['debian-rootfs', 'base', 'openstack-base', 'mariadb-server', 'memcached', 'rabbitmq', 'keystone', 'toolbox', 'registry']) {
      assert.ok(names.includes(n), `${n} is in the set`);
    }
    for (const r of summary.results) assert.ok(['built', 'cached'].includes(r.status), `${r.name}: ${r.status}`);
    console.log(`# build of the set: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  test('a rebuild with nothing changed builds nothing', () => {
    const { status, summary } = buildJson([]);
    assert.equal(status, 0);
    for (const r of summary.results) assert.equal(r.status, 'cached', r.name);
  });

  test('the keystone image answers keystone-manage --version: 2025.1 is keystone 27', () => {
    const out = ok('docker', ['run', '--rm', '--entrypoint', 'keystone-manage', `berth/keystone:${tag}`, '--version']);
    assert.match(out.trim(), /^27\.\d+\.\d+/);
  });

  test('the toolbox has the openstack client, the mariadb client and jq', () => {
    const out = ok('docker', ['run', '--rm', `berth/toolbox:${tag}`, 'sh', '-c', 'openstack --version && mariadb --version && jq --version']);
    assert.match(out, /openstack \d/);
    assert.match(out, /mariadb/i);
    assert.match(out, /jq-1\./);
  });

  test('COPY_ALWAYS: files land with owner and mode; --check detects a hand edit; restart copies again', () => {
    const dir = configFiles('always', 'token_expiration = 3600\n');
    const name = 'berth-e2e-copy-always';
    startContainer(name, dir, 'COPY_ALWAYS');
    assert.equal(exec(name, ['stat', '-c', '%U:%G %a', '/etc/keystone/test.conf']), 'keystone:keystone 640');
    assert.equal(exec(name, ['cat', '/etc/keystone/test.conf']), 'token_expiration = 3600');
    assert.equal(exec(name, ['stat', '-c', '%U:%G %a', '/var/lib/keystone/made']), 'keystone:keystone 750');
    assert.equal(sh('docker', ['exec', name, 'test', '-e', '/etc/keystone/absent.conf']).status, 1, 'optional file skipped');
    assert.equal(exec(name, ['id', '-un'], ''), 'keystone', 'the command runs as the image user');
    assert.equal(exec(name, ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']).trim(), 'dumb-init --single-child -- kolla_start');

    assert.equal(sh('docker', ['exec', '-u', 'root', name, 'kolla_set_configs', '--check']).status, 0);
    exec(name, ['sh', '-c', 'echo tampered >> /etc/keystone/test.conf']);
    const check = sh('docker', ['exec', '-u', 'root', name, 'kolla_set_configs', '--check']);
    assert.equal(check.status, 1, check.stderr);
    assert.match(check.stderr, /test\.conf differs/);
    // The service user may run the check too: it re-executes itself through sudo.
    assert.equal(sh('docker', ['exec', name, 'kolla_set_configs', '--check']).status, 1);

    writeFileSync(join(dir, 'test.conf'), 'token_expiration = 7200\n');
    ok('docker', ['restart', '-t', '1', name]);
    waitFor(() => sh('docker', ['exec', name, 'grep', '-q', '7200', '/etc/keystone/test.conf']).status === 0, 'new config after restart');
    assert.equal(sh('docker', ['exec', '-u', 'root', name, 'kolla_set_configs', '--check']).status, 0);
  });

  test('COPY_ONCE: a restart does not copy again', () => {
    const dir = configFiles('once', 'version = 1\n');
    const name = 'berth-e2e-copy-once';
    startContainer(name, dir, 'COPY_ONCE');
    assert.equal(exec(name, ['cat', '/etc/keystone/test.conf']), 'version = 1');
    writeFileSync(join(dir, 'test.conf'), 'version = 2\n');
    ok('docker', ['restart', '-t', '1', name]);
    waitFor(() => sh('docker', ['exec', name, 'true']).status === 0, 'restart');
    sh('sleep', ['1']);
    assert.equal(exec(name, ['cat', '/etc/keystone/test.conf']), 'version = 1');
    assert.match(ok('docker', ['logs', name]) + sh('docker', ['logs', name]).stderr, /COPY_ONCE: configuration already in place/);
  });

  test('healthcheck helpers see a listening service', () => {
    const name = 'berth-e2e-memcached';
    sh('docker', ['rm', '-f', name]);
    containers.push(name);
    ok('docker', ['run', '-d', '--name', name, '--entrypoint', 'memcached', `berth/memcached:${tag}`, '-l', '127.0.0.1', '-p', '11211']);
    waitFor(() => sh('docker', ['exec', name, 'healthcheck_listen', 'memcached', '11211']).status === 0, 'memcached to listen');
    assert.equal(sh('docker', ['exec', name, 'healthcheck_listen', 'memcached', '11299']).status, 1);
    assert.equal(sh('docker', ['exec', name, 'healthcheck_curl', 'http://127.0.0.1:1/']).status, 1);
  });

  test('push: into a registry (our registry image), and a clear failure when it is down', async () => {
    const name = 'berth-e2e-registry';
    const registry = '127.0.0.1:5055';
    sh('docker', ['rm', '-f', name]);
    containers.push(name);
    ok('docker', ['run', '-d', '--name', name, '--network', 'host', '-e', `REGISTRY_HTTP_ADDR=${registry}`, `berth/registry:${tag}`]);
    waitFor(() => sh('docker', ['exec', name, 'healthcheck_listen', 'docker-registry', '5055']).status === 0, 'the registry');
    writeFileSync(join(configDir, 'build.yml'), `docker_registry: "${registry}"\npush_retries: 1\n`);
    // An image someone built FROM berth's base inherits its labels, build key included: it must not
    // be taken for base's twin.
    const foreign = sh('docker', ['build', '-q', '-t', 'berth-e2e-foreign:latest', '-'], { input: `FROM berth/base:${tag}\nRUN echo foreign > /foreign\n` });
    assert.equal(foreign.status, 0, foreign.stderr);
    try {
      // Same build keys under the registry's name: tagged, not rebuilt.
      const { status, summary } = buildJson(['memcached']);
      assert.equal(status, 0);
      for (const r of summary.results) assert.equal(r.status, 'cached', r.name);
      const push = berth(['--config-dir', configDir, 'push', 'memcached']);
      assert.equal(push.status, 0, push.stderr + push.stdout);
      assert.match(push.stdout, /2 pushed, 0 failed/);
      const catalog = (await (await fetch(`http://${registry}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories.sort(), ['berth/base', 'berth/memcached']);
      const tags = (await (await fetch(`http://${registry}/v2/berth/memcached/tags/list`)).json()) as { tags: string[] };
      assert.deepEqual(tags.tags, [tag]);

      ok('docker', ['stop', '-t', '1', name]);
      const down = berth(['--config-dir', configDir, 'push', 'memcached']);
      assert.equal(down.status, 1);
      assert.match(down.stdout, new RegExp(`FAILED\\s+127\\.0\\.0\\.1:5055/berth/memcached:${tag.replace('.', '\\.')} .*2 attempt`));
    } finally {
      writeFileSync(join(configDir, 'build.yml'), '');
      sh('docker', ['rmi', `${registry}/berth/memcached:${tag}`, `${registry}/berth/base:${tag}`, `${registry}/berth/debian-rootfs:${tag}`, 'berth-e2e-foreign:latest']);
    }
  });

  test('a failed image skips its subtree, not its siblings, and the run exits 1', () => {
    const extra = e2eTempDir('images');
    const image = (name: string, parent: string, run: string): void => {
      mkdirSync(join(extra, name));
      writeFileSync(join(extra, name, 'image.yml'), `parent: ${parent}\n`);
      writeFileSync(join(extra, name, 'Dockerfile.j2'), `FROM {{ parent_ref }}\nRUN ${run}\n`);
    };
    image('e2e-broken', 'base', 'echo this image fails on purpose && false');
    image('e2e-broken-child', 'e2e-broken', 'true');
    image('e2e-sibling', 'base', `echo ${Date.now()} > /e2e-sibling`);
    writeFileSync(join(configDir, 'build.yml'), `extra_image_dirs: [${extra}]\n`);
    try {
      const { status, summary } = buildJson(['e2e-.*']);
      assert.equal(status, 1);
      const byName = new Map(summary.results.map((r) => [r.name, r.status]));
      assert.equal(byName.get('e2e-broken'), 'failed');
      assert.equal(byName.get('e2e-broken-child'), 'skipped');
      assert.equal(byName.get('e2e-sibling'), 'built');
      assert.equal(byName.get('base'), 'cached');
    } finally {
      writeFileSync(join(configDir, 'build.yml'), '');
      sh('docker', ['rmi', '-f', `berth/e2e-sibling:${tag}`]);
    }
  });
});
