// Images on many hosts: berth's registry on the deployment host (this machine) at a loopback
// docker_registry, berth push into it, berth pull onto two test hosts (one root, one with sudo)
// through remote port forwards on their SSH connections, and deploy/prechecks refusing a host that
// lacks an image. Only memcached is enabled, so the images are small (base + memcached).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REGISTRY_CONTAINER, REGISTRY_VOLUME } from '../../src/deployment/registry.js';
import { SshHost } from '../../src/engine/ssh-host.js';
import { BASE_IMAGE, inHost, removeTestHosts, startTestHosts, testKey, waitReady, type TestHost } from '../hosts/hosts.js';
import { berth, dockerAvailable, e2eTempDir, imageTag, sh } from './harness.js';

const hasDocker = dockerAvailable();
const images = ['base', 'memcached', 'registry'].map((n) => `berth/${n}:${imageTag}`);
const hasImages = hasDocker && [BASE_IMAGE, ...images].every((i) => spawnSync('docker', ['image', 'inspect', i], { stdio: 'ignore' }).status === 0);
if (hasDocker && !hasImages) console.error(`# e2e registry: ${images.join(', ')} are needed (the 10-images suite builds them); skipped`);

// A port of its own: other suites on this machine use 4000 and 5055.
const PORT = 4057;
const REGISTRY = `127.0.0.1:${PORT}`;
const tagged = images.map((i) => `${REGISTRY}/${i}`);
const memcachedRef = `${REGISTRY}/berth/memcached:${imageTag}`;

const work = e2eTempDir('reg');
const configDir = join(work, 'config');
let hosts: TestHost[] = [];
let key: { privateKeyFile: string; publicKey: string };

function run(args: string[]): { status: number | null; out: string; err: string } {
  const r = berth(['--config-dir', configDir, ...args]);
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function hostImages(h: TestHost): string {
  return inHost(h, "docker image ls --format '{{.Repository}}:{{.Tag}}'").stdout;
}

describe('registry, push and pull onto SSH hosts', { skip: !hasImages }, () => {
  before(async () => {
    key = testKey(join(work, 'key'));
    hosts = startTestHosts(
      [
        { name: 'reg-root', image: 'docker', slot: 51 },
        { name: 'reg-become', image: 'docker', user: 'deploy', sudo: 'nopasswd', slot: 52 },
      ],
      key.publicKey,
    );
    await waitReady(hosts);
    mkdirSync(configDir, { recursive: true });
    const line = (h: TestHost): string =>
      `${h.container} ansible_host=${h.address} ansible_user=${h.user} ansible_ssh_private_key_file=${key.privateKeyFile}${h.user === 'root' ? '' : ' ansible_become=yes'}`;
    writeFileSync(join(configDir, 'multinode'), `[control]\n${hosts.map(line).join('\n')}\n\n[deployment]\nlocalhost ansible_connection=local\n`);
    const off = ['haproxy', 'mariadb', 'rabbitmq', 'keystone', 'glance', 'placement', 'nova', 'horizon', 'heat', 'neutron'].map((s) => `enable_${s}: "no"`);
    writeFileSync(join(configDir, 'globals.yml'), [`openstack_release: "${imageTag}"`, 'network_interface: eth0', `docker_registry: "${REGISTRY}"`, ...off, ''].join('\n'));
    for (const cmd of [['genpwd'], ['ssh-keyscan']]) {
      const r = run(cmd);
      assert.equal(r.status, 0, r.err);
    }
    // The images as berth build names them with this docker_registry (same IDs as the built ones).
    for (const [i, ref] of images.entries()) sh('docker', ['tag', ref, tagged[i]!]);
  });

  after(() => {
    if (process.env.BERTH_TH_KEEP) return;
    spawnSync('docker', ['rm', '-f', REGISTRY_CONTAINER], { stdio: 'ignore' });
    spawnSync('docker', ['volume', 'rm', REGISTRY_VOLUME], { stdio: 'ignore' });
    // Only the tags this suite made: the images keep their berth/* names.
    spawnSync('docker', ['rmi', ...tagged], { stdio: 'ignore' });
    if (hosts.length) removeTestHosts(hosts);
    rmSync(work, { recursive: true, force: true });
  });

  test('a host lacking its images: prechecks and deploy refuse, naming host, image and berth pull', () => {
    const pre = run(['prechecks']);
    assert.equal(pre.status, 1, pre.out + pre.err);
    for (const h of hosts) assert.match(pre.err, new RegExp(`precheck failed: ${h.container}: image ${memcachedRef.replace(/\./g, '\\.')} .*not on the host; run berth pull --limit ${h.container}`));
    const dep = run(['deploy', '--limit', 'control']);
    assert.equal(dep.status, 2, dep.out + dep.err);
    assert.match(dep.err, /2 host\(s\) lack images their containers need; nothing was changed/);
    for (const h of hosts) assert.match(dep.err, new RegExp(`${h.container}: image ${memcachedRef.replace(/\./g, '\\.')} not on the host; run berth pull`));
    assert.ok(!dep.err.includes('    at '), 'no stack trace');
    for (const h of hosts) assert.equal(inHost(h, 'docker ps -aq').stdout.trim(), '', `nothing created on ${h.container}`);
  });

  test('berth push starts the registry on the deployment host (idempotent) and fills it', (t) => {
    const first = run(['push', 'memcached']);
    assert.equal(first.status, 0, first.out + first.err);
    assert.match(first.out, new RegExp(`localhost: created registry ${REGISTRY_CONTAINER} on 127\\.0\\.0\\.1:${PORT}`));
    assert.match(first.out, /2 pushed, 0 failed/);
    t.diagnostic(`push (registry created, base + memcached): ${first.out.trim().split('\n').at(-1)}`);
    const inspect = sh('docker', ['inspect', '-f', '{{index .Config.Labels "berth.kind"}} {{.HostConfig.NetworkMode}} {{range .Config.Env}}{{.}} {{end}}', REGISTRY_CONTAINER]).stdout;
    assert.match(inspect, new RegExp(`^registry host .*REGISTRY_HTTP_ADDR=127\\.0\\.0\\.1:${PORT}`));
    const again = run(['push', 'memcached']);
    assert.equal(again.status, 0, again.err);
    assert.match(again.out, /localhost: registry berth_registry runs on/);
    t.diagnostic(`push again: ${again.out.trim().split('\n').at(-1)}`);
  });

  test('berth pull: each host pulls through its SSH connection, with progress and a recap; a second pull finds everything there', (t) => {
    const t0 = Date.now();
    const first = run(['pull']);
    const ms = Date.now() - t0;
    assert.equal(first.status, 0, first.out + first.err);
    for (const h of hosts) {
      assert.match(first.out, new RegExp(`${h.container}  1 of 1 image\\(s\\) to fetch from the registry on localhost, through SSH`));
      assert.match(first.out, new RegExp(`${h.container}  .*pulled .* ${memcachedRef.replace(/\./g, '\\.')}`));
      assert.match(hostImages(h), new RegExp(memcachedRef.replace(/\./g, '\\.')));
      // The same image ID as this machine's.
      assert.equal(inHost(h, `docker image inspect -f '{{.Id}}' ${memcachedRef}`).stdout.trim(), sh('docker', ['image', 'inspect', '-f', '{{.Id}}', memcachedRef]).stdout.trim());
      // The forward is gone after the pull.
      assert.equal(inHost(h, `awk '$4 == "0A"' /proc/net/tcp | grep -ci ':${PORT.toString(16).toUpperCase().padStart(4, '0')} '`).stdout.trim(), '0');
    }
    assert.match(first.out, /HOST +PULLED +ALREADY THERE +FAILED +UNREACHABLE +BYTES +TIME/);
    t.diagnostic(`first pull (2 hosts in parallel): ${ms} ms\n${first.out.split('\n').filter((l) => /^HOST|^berth-th|^localhost/.test(l)).join('\n')}`);

    const t1 = Date.now();
    const second = run(['pull']);
    assert.equal(second.status, 0, second.err);
    for (const h of hosts) assert.match(second.out, new RegExp(`${h.container}  all 1 image\\(s\\) already there`));
    assert.match(second.out, new RegExp(`${hosts[0]!.container} +0 +1 +0 +no`));
    t.diagnostic(`second pull: ${Date.now() - t1} ms`);
  });

  test('deploy runs once the images are there; a host that lost one is refused again, before any change', () => {
    const dep = run(['deploy', '--limit', 'control']);
    assert.equal(dep.status, 0, dep.out + dep.err);
    for (const h of hosts) assert.match(inHost(h, "docker ps --format '{{.Names}}'").stdout, /memcached/);
    const lost = hosts[1]!;
    assert.equal(inHost(lost, `docker rm -f memcached >/dev/null && docker rmi ${memcachedRef}`).code, 0);
    const refused = run(['deploy', '--limit', 'control']);
    assert.equal(refused.status, 2, refused.out + refused.err);
    assert.match(refused.err, new RegExp(`1 host\\(s\\) lack images .*\\n  ${lost.container}: image ${memcachedRef.replace(/\./g, '\\.')} not on the host; run berth pull --limit ${lost.container}`));
    assert.equal(inHost(lost, 'docker ps -aq --filter name=memcached').stdout.trim(), '', 'nothing created');
    const pull = run(['pull', '--limit', lost.container]);
    assert.equal(pull.status, 0, pull.err);
    const again = run(['deploy', '--limit', 'control']);
    assert.equal(again.status, 0, again.out + again.err);
  });

  test('a port taken on a host is said, naming host and port', async () => {
    // Another SSH session holds the host's 127.0.0.1:PORT (as a forward of its own would).
    const squatter = new SshHost({ name: hosts[0]!.container, address: hosts[0]!.address, port: 22, user: 'root', become: false, privateKeyFile: key.privateKeyFile, knownHostsFile: join(configDir, 'known_hosts') });
    const held = await squatter.exposeLoopback(PORT, () => Promise.reject(new Error('unused')));
    try {
      assert.equal(inHost(hosts[0]!, `docker rm -f memcached >/dev/null && docker rmi ${memcachedRef}`).code, 0);
      const r = run(['pull', '--limit', hosts[0]!.container]);
      assert.equal(r.status, 1, r.out + r.err);
      assert.match(r.out, new RegExp(`failed ${hosts[0]!.container}: host ${hosts[0]!.container} .*port 127\\.0\\.0\\.1:${PORT} is taken on the host`));
    } finally {
      await held.close();
      await squatter.close();
    }
  });
});
