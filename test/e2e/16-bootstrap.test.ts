// berth bootstrap-servers against fresh hosts: test-host containers with only sshd (test/hosts,
// image `sshd`), one logged in as root, one as a user with passwordless sudo (ansible_become). The
// CLI installs Docker Engine from the Debian mirror, merges daemon.json, starts dockerd (no systemd
// here), sets modules, sysctls, /etc/hosts and /run/netns; a second run changes nothing; host keys
// are shown and recorded, a changed one refused. Test hosts use slots 41-49, names berth-th-boot*.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { fingerprint } from '../../src/engine/known-hosts.js';
import { SshHost } from '../../src/engine/ssh-host.js';
import { BASE_IMAGE, inHost, removeTestHosts, startTestHosts, testKey, waitReady, type TestHost } from '../hosts/hosts.js';
import { berth, dockerAvailable, e2eTempDir } from './harness.js';

const hasDocker = dockerAvailable();
const hasBase = hasDocker && spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0;
if (hasDocker && !hasBase) console.error(`# e2e bootstrap: ${BASE_IMAGE} is missing (the 10-images suite builds it); skipped`);

const work = e2eTempDir('boot');
const configDir = join(work, 'config');
const knownHostsFile = join(configDir, 'known_hosts');
// Not loopback: listed in insecure-registries. Nothing needs to answer there.
const REGISTRY = '172.30.77.1:4999';
let key: { privateKeyFile: string; publicKey: string };
let hosts: TestHost[] = [];
let root: TestHost;
let become: TestHost;

const inventoryLine = (h: TestHost): string =>
  `${h.container} ansible_host=${h.address} ansible_user=${h.user} ansible_ssh_private_key_file=${key.privateKeyFile}${h.user === 'root' ? '' : ' ansible_become=yes'}`;

function hostKeyFingerprint(h: TestHost): string {
  return fingerprint(Buffer.from(inHost(h, 'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub').stdout.trim(), 'base64'));
}

/** The recap's rows: host → [ok, changed, failed, skipped, unreachable, time]. */
function recap(stdout: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of stripVTControlCharacters(stdout).split('\n')) {
    const m = /^(berth-th-boot\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(yes|no)\s+(.+)$/.exec(line);
    if (m) rows.set(m[1]!, m.slice(2).map((x) => x.trim()));
  }
  return rows;
}

describe('berth bootstrap-servers (sshd-only test hosts)', { skip: !hasBase }, () => {
  before(async () => {
    key = testKey(join(work, 'key'));
    hosts = startTestHosts(
      [
        { name: 'boot-root', image: 'sshd', slot: 41 },
        { name: 'boot-become', image: 'sshd', user: 'deploy', sudo: 'nopasswd', slot: 42 },
        { name: 'boot-sudopw', image: 'sshd', user: 'deploy', sudo: 'password', slot: 43 },
      ],
      key.publicKey,
    );
    [root, become] = hosts as [TestHost, TestHost];
    await waitReady(hosts);
    for (const h of [root, become]) {
      // An operator's own daemon.json, which berth must keep: here it also puts the containers of
      // the host's dockerd under a cgroup of their own (the test host shares the machine's cgroups).
      const setup = inHost(h, `mkdir -p /etc/docker && printf '{"cgroup-parent": "${h.container}"}\\n' > /etc/docker/daemon.json && echo '192.0.2.77 operator-line' >> /etc/hosts`);
      assert.equal(setup.code, 0, setup.stderr);
    }
    mkdirSync(configDir, { recursive: true });
    // This kernel has no openvswitch module: the netdev datapath, as berth init would choose.
    writeFileSync(join(configDir, 'globals.yml'), `network_interface: eth0\novs_datapath_type: netdev\ndocker_registry: "${REGISTRY}"\n`);
    writeFileSync(join(configDir, 'multinode'), `[control]\n${inventoryLine(root)}\n[compute]\n${inventoryLine(become)}\n[deployment]\nlocalhost ansible_connection=local\n`);
  });

  after(() => {
    if (hosts.length && !process.env.BERTH_TH_KEEP) removeTestHosts(hosts);
    rmSync(work, { recursive: true, force: true });
  });

  test('a first run shows and records the host keys, installs and configures Docker Engine on both hosts', (t) => {
    const t0 = performance.now();
    const r = berth(['--config-dir', configDir, 'bootstrap-servers']);
    t.diagnostic(`first run: ${Math.round(performance.now() - t0)} ms (exit ${r.status})`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const h of [root, become]) {
      assert.ok(r.stdout.includes(`${h.container} (${h.address}:22): ssh-ed25519 ${hostKeyFingerprint(h)}: new, recorded in ${knownHostsFile}`), r.stdout);
      assert.match(readFileSync(knownHostsFile, 'utf8'), new RegExp(`^${h.address.replace(/\./g, '\\.')} ssh-ed25519 `, 'm'));
    }
    const rows = recap(r.stdout);
    for (const h of [root, become]) {
      const [ok, changed, failed, skipped, unreachable, time] = rows.get(h.container) ?? [];
      t.diagnostic(`${h.container} (${h.user}): first run ${time}, ok ${ok}, changed ${changed}`);
      assert.equal(failed, '0');
      assert.equal(skipped, '0');
      assert.equal(unreachable, 'no');
      assert.ok(Number(changed) >= 5, `${h.container}: packages, daemon.json, docker, sysctls or modules, netns, hosts changed`);
    }
    // trixie splits the client out of docker.io (bookworm hosts: BERTH_TH_BASE=berth/base:zed).
    assert.match(r.stdout, BASE_IMAGE.endsWith(':zed') ? /changed\s+packages\s+installed docker\.io / : /changed\s+packages\s+installed docker\.io .*docker-cli/);
    assert.match(r.stdout, /changed\s+docker\s+Docker Engine \S+ started \(no systemd/);
  });

  test('what the hosts have now: dockerd answering (also over SSH, with sudo), daemon.json merged, /etc/hosts block, /run/netns shared', async () => {
    for (const h of [root, become]) {
      const version = inHost(h, "docker version --format '{{.Server.Version}}'");
      assert.equal(version.code, 0, version.stderr);
      const host = new SshHost({ name: h.container, address: h.address, port: 22, user: h.user, become: h.user !== 'root', privateKeyFile: key.privateKeyFile, knownHostsFile });
      try {
        assert.equal(await host.ping(), version.stdout.trim());
      } finally {
        await host.close();
      }
      const daemon = JSON.parse(inHost(h, 'cat /etc/docker/daemon.json').stdout) as Record<string, unknown>;
      assert.equal(daemon['cgroup-parent'], h.container, "the operator's key is kept");
      assert.equal(daemon['live-restore'], true);
      assert.equal(daemon['log-driver'], 'json-file');
      assert.deepEqual(daemon['log-opts'], { 'max-size': '50m', 'max-file': '5' });
      assert.deepEqual(daemon['insecure-registries'], [REGISTRY]);
      const info = inHost(h, "docker info --format '{{.LiveRestoreEnabled}} {{.LoggingDriver}} {{json .RegistryConfig.IndexConfigs}}'").stdout;
      assert.match(info, /^true json-file /);
      assert.ok(info.includes(`"${REGISTRY}"`), info);

      const etcHosts = inHost(h, 'cat /etc/hosts').stdout;
      assert.match(etcHosts, /^192\.0\.2\.77 operator-line$/m, 'other lines untouched');
      const block = /# BEGIN berth\n([^]*?)# END berth\n/.exec(etcHosts)?.[1];
      assert.ok(block, etcHosts);
      assert.ok(block.includes(`${root.address}\t${root.container}\n`) && block.includes(`${become.address}\t${become.container}\n`), block);
      assert.ok(!block.includes('localhost'), 'the deployment host is not one of the prepared hosts');

      assert.match(inHost(h, "awk '$5 == \"/run/netns\"' /proc/self/mountinfo").stdout, /shared:\d+/);
      assert.match(inHost(h, 'cat /etc/sysctl.d/99-berth.conf').stdout, /^net\.ipv4\.ip_forward = 1$/m);
      assert.equal(inHost(h, 'test -f /etc/modules-load.d/berth.conf').code, 0);
    }
    // The compute host's modules: listed for boot (loaded only where the kernel has them as modules).
    assert.match(inHost(become, 'cat /etc/modules-load.d/berth.conf').stdout, /^br_netfilter$/m);
  });

  test('a second run changes nothing on any host and says so', (t) => {
    const t0 = performance.now();
    const r = berth(['--config-dir', configDir, 'bootstrap-servers']);
    t.diagnostic(`second run: ${Math.round(performance.now() - t0)} ms`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /known, unchanged/);
    for (const h of [root, become]) {
      const [ok, changed, failed, , , time] = recap(r.stdout).get(h.container) ?? [];
      t.diagnostic(`${h.container}: second run ${time}`);
      assert.deepEqual([ok, changed, failed], ['7', '0', '0'], r.stdout);
    }
    assert.match(stripVTControlCharacters(r.stdout), /changed 0: every host was already prepared/);
  });

  test('--limit prepares only the named host; --format json gives the recap as an event', () => {
    const r = berth(['--config-dir', configDir, '--format', 'json', 'bootstrap-servers', '--limit', become.container]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; hosts?: { host: string; changed: number }[] });
    const last = events.at(-1)!;
    assert.equal(last.type, 'recap');
    assert.deepEqual(last.hosts?.map((h) => [h.host, h.changed]), [[become.container, 0]]);
  });

  test('sudo wanting a password is said in one line with the hint', () => {
    const dir = join(work, 'sudopw');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\n');
    writeFileSync(join(dir, 'multinode'), `[control]\n${inventoryLine(hosts[2]!)}\n`);
    const r = berth(['--config-dir', dir, 'bootstrap-servers']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAILED\s+packages\n\s+host berth-th-boot-sudopw \(deploy@[\d.]+:22\): sudo asks deploy for a password.*\n\s+→ give deploy NOPASSWD sudo/);
    assert.ok(!(r.stdout + r.stderr).includes('    at '), 'no stack trace');
  });

  test('a changed host key is refused before anything is done: exit 2, the host and both fingerprints named, known_hosts kept', () => {
    const before = readFileSync(knownHostsFile, 'utf8');
    const oldPrint = hostKeyFingerprint(root);
    const regen = inHost(root, 'rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -A && kill -HUP "$(cat /run/sshd.pid)"');
    assert.equal(regen.code, 0, regen.stderr);
    spawnSync('sleep', ['0.5']);
    const newPrint = hostKeyFingerprint(root);
    assert.notEqual(newPrint, oldPrint);
    const r = berth(['--config-dir', configDir, 'bootstrap-servers']);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    const said = r.stdout + r.stderr;
    assert.match(said, new RegExp(`${root.container} \\(${root.address}:22\\): HOST KEY CHANGED: recorded ssh-ed25519 ${oldPrint.replace(/[+/]/g, '\\$&')} \\(line \\d+\\), the host shows ssh-ed25519 ${newPrint.replace(/[+/]/g, '\\$&')}: NOT recorded`));
    assert.match(r.stderr, /host key\(s\) differ .*berth-th-boot-root/);
    assert.doesNotMatch(said, /packages/, 'no host was touched');
    assert.equal(readFileSync(knownHostsFile, 'utf8'), before, 'never overwritten');
  });
});
