// High availability end to end, on test hosts: 3 control hosts (also network and loadbalancer
// hosts: haproxy + keepalived holding the VIP, Galera, a RabbitMQ cluster, every API) and 1
// compute host. A probe issues a token and lists images and servers through the VIP every 0.2 s
// throughout. Scenarios: the VIP holder killed (the VIP moves, quorum holds, a server is created
// meanwhile); it comes back and rejoins with no manual step; a keystone reconfigure with zero
// failed probes; every controller stopped at once, brought back by berth mariadb-recovery and
// deploy with the data made before. Too long for every CI run: `scripts/test ha`.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { REGISTRY_CONTAINER, REGISTRY_VOLUME } from '../../src/deployment/registry.js';
import { BASE_IMAGE, hostAddress, inHost, removeTestHosts, startTestHosts, testKey, waitReady, type TestHost } from '../hosts/hosts.js';
import { dockerAvailable, imageTag, repoRoot, TestCloud } from './harness.js';
import { longestOutage, readRounds } from './vip-probe.js';

const named = (process.env.BERTH_E2E_NAMED ?? '').split(/\s+/).includes('ha');
const hasBase = named && dockerAvailable() && spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0;
const REGISTRY = '127.0.0.1:4081';
const VIP = hostAddress(180);
const cloud = new TestCloud('ha');
const run = cloud.run.bind(cloud);
let hosts: TestHost[] = [];
let controls: TestHost[] = [];
let probe: ChildProcess | undefined;
const probeLog = join(cloud.work, 'probe.jsonl');

function ok(args: string[]): string {
  const r = run(args);
  assert.equal(r.status, 0, `berth ${args.join(' ')}:\n${r.out}\n${r.err}`);
  return r.out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The control host whose api interface holds the VIP now (undefined: none). */
function vipHolders(): TestHost[] {
  return controls.filter((h) => inHost(h, 'ip -4 -o addr show dev eth0').stdout.includes(` ${VIP}/`));
}

/** `SHOW STATUS` values of the Galera node on a host (through its unix socket). */
function galeraStatus(h: TestHost): Record<string, string> {
  const r = inHost(h, `docker exec mariadb mariadb --protocol=socket -sNe "SHOW STATUS LIKE 'wsrep_%'"`);
  return Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t') as [string, string]));
}

function rabbitRunning(h: TestHost): number {
  const r = inHost(h, `docker exec rabbitmq sh -c "rabbitmqctl -q cluster_status --formatter json | jq '.running_nodes | length'"`);
  return Number(r.stdout.trim()) || 0;
}

async function until(what: string, check: () => boolean, timeoutMs = 300_000, everyMs = 2000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not after ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
  return Date.now() - t0;
}

function startProbe(): void {
  const passwords = parse(readFileSync(join(cloud.configDir, 'passwords.yml'), 'utf8')) as Record<string, string>;
  probe = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/e2e/vip-probe.ts'), probeLog, '200'], { stdio: ['pipe', 'ignore', 'inherit'], cwd: repoRoot });
  probe.stdin!.end(
    JSON.stringify({
      auth_url: `http://${VIP}:5000`,
      username: 'admin',
      password: passwords.keystone_admin_password,
      project_name: 'admin',
      compute_url: `http://${VIP}:8774/v2.1`,
      image_url: `http://${VIP}:9292`,
    }),
  );
}

/** The probe's rounds from `from` on: count, failures, the longest outage. */
function probeSince(from: number): { rounds: number; failed: number; outage: { ms: number; failures: number }; errors: string[] } {
  const rounds = readRounds(probeLog, from);
  const failed = rounds.filter((r) => !r.ok);
  return { rounds: rounds.length, failed: failed.length, outage: longestOutage(rounds), errors: [...new Set(failed.map((r) => r.error ?? '?'))].slice(0, 5) };
}

describe('HA: 3 control hosts (haproxy, keepalived, Galera, RabbitMQ cluster) and 1 compute host', { skip: !hasBase && 'runs only when named: scripts/test ha' }, () => {
  before(async () => {
    const key = testKey(join(cloud.work, 'key'));
    hosts = startTestHosts(
      [
        { name: 'ha-ctl1', image: 'sshd', slot: 81, tunnel: true },
        { name: 'ha-ctl2', image: 'sshd', slot: 82, tunnel: true },
        { name: 'ha-ctl3', image: 'sshd', slot: 83, tunnel: true },
        { name: 'ha-cmp', image: 'sshd', slot: 84, tunnel: true },
      ],
      key.publicKey,
    );
    controls = hosts.slice(0, 3);
    await waitReady(hosts);
    const line = (h: TestHost): string => `${h.container} ansible_host=${h.address} ansible_user=root ansible_ssh_private_key_file=${key.privateKeyFile}`;
    writeFileSync(
      join(cloud.configDir, 'multinode'),
      [
        `[control]\n${controls.map(line).join('\n')}`,
        '[network:children]\ncontrol',
        `[compute]\n${line(hosts[3]!)}`,
        '[deployment]\nlocalhost ansible_connection=local',
        '[all:vars]\ntunnel_interface=eth1\n',
      ].join('\n\n'),
    );
    writeFileSync(
      join(cloud.configDir, 'globals.yml'),
      [
        `openstack_release: "${imageTag}"`,
        'network_interface: eth0',
        `kolla_internal_vip_address: "${VIP}"`,
        `docker_registry: "${REGISTRY}"`,
        'ovs_datapath_type: netdev',
        'enable_heat: "no"',
        'enable_horizon: "no"',
        '',
      ].join('\n'),
    );
    ok(['genpwd']);
  });

  after(() => {
    probe?.kill();
    if (process.env.BERTH_TH_KEEP) return;
    run(['destroy', '--yes-i-really-really-mean-it']);
    spawnSync('docker', ['rm', '-f', REGISTRY_CONTAINER], { stdio: 'ignore' });
    spawnSync('docker', ['volume', 'rm', REGISTRY_VOLUME], { stdio: 'ignore' });
    if (hosts.length) removeTestHosts(hosts);
  });

  test('bootstrap, build, push, pull, deploy, post-deploy, init-runonce', (t) => {
    ok(['bootstrap-servers']);
    ok(['build']);
    ok(['push']);
    ok(['pull']);
    ok(['prechecks']);
    const t0 = Date.now();
    const out = ok(['deploy']);
    t.diagnostic(`HA deploy on empty hosts: ${((Date.now() - t0) / 1000).toFixed(1)} s\n${out.split('\n').filter((l) => /^HOST|^berth-th|^localhost/.test(l)).join('\n')}`);
    ok(['post-deploy']);
    ok(['init-runonce']);
  });

  test('one host holds the VIP; Galera has 3 Synced nodes; RabbitMQ runs 3 nodes in one cluster', () => {
    assert.equal(vipHolders().length, 1);
    for (const h of controls) {
      const s = galeraStatus(h);
      assert.equal(s.wsrep_cluster_size, '3', `${h.container}: ${JSON.stringify(s)}`);
      assert.equal(s.wsrep_local_state_comment, 'Synced');
      assert.equal(rabbitRunning(h), 3, h.container);
    }
  });

  test('the VIP holder killed: the VIP moves, the probe recovers, quorum holds, a server is created meanwhile', async (t) => {
    cloud.openstack(['project', 'create', 'ha-before']);
    startProbe();
    await until('the probe answers', () => probeSince(0).rounds - probeSince(0).failed > 5, 60_000, 500);
    const [holder] = vipHolders();
    assert.ok(holder);
    const t0 = Date.now();
    spawnSync('docker', ['kill', holder.container], { stdio: 'ignore' });
    const moved = await until('the VIP moves', () => vipHolders().length === 1, 60_000, 100);
    await sleep(15_000);
    const p = probeSince(t0);
    t.diagnostic(`VIP moved ${moved} ms after the kill; probe since: ${p.rounds} rounds, ${p.failed} failed, longest outage ${p.outage.ms} ms (${p.outage.failures} rounds): ${p.errors.join('; ')}`);
    const alive = controls.filter((h) => h !== holder);
    for (const h of alive) {
      const s = galeraStatus(h);
      assert.equal(s.wsrep_cluster_size, '2', JSON.stringify(s));
      assert.equal(s.wsrep_cluster_status, 'Primary');
      assert.equal(rabbitRunning(h), 2);
    }
    const server = await cloud.createServer('ha-server', ['--flavor', 'm1.tiny', '--image', 'berth-demo-disk', '--network', 'demo-net'], (m) => t.diagnostic(m));
    assert.equal(server.status, 'ACTIVE');
    // Goal of the issue: under 5 s; measured and reported, asserted loosely on this shared machine.
    assert.ok(p.outage.ms < 30_000, `longest outage ${p.outage.ms} ms`);
  });

  test('the killed host comes back and rejoins Galera and RabbitMQ with no manual step; check is clean', async (t) => {
    const down = controls.find((h) => spawnSync('docker', ['inspect', '-f', '{{.State.Running}}', h.container], { encoding: 'utf8' }).stdout.trim() !== 'true')!;
    spawnSync('docker', ['start', down.container], { stdio: 'ignore' });
    await waitReady([down]);
    const rejoined = await until(`${down.container} rejoins Galera`, () => galeraStatus(down).wsrep_local_state_comment === 'Synced', 600_000);
    await until(`${down.container} rejoins RabbitMQ`, () => rabbitRunning(down) === 3, 300_000);
    t.diagnostic(`${down.container} Synced ${rejoined} ms after its start`);
    const out = ok(['deploy']);
    t.diagnostic(out.split('\n').filter((l) => /^HOST|^berth-th|^localhost/.test(l)).join('\n'));
    ok(['check']);
  });

  test('a keystone.conf reconfigure rolls one host at a time: zero failed probe rounds', (t) => {
    mkdirSync(join(cloud.configDir, 'config'), { recursive: true });
    writeFileSync(join(cloud.configDir, 'config', 'keystone.conf'), '[token]\ncache_time = 301\n');
    const t0 = Date.now();
    const out = ok(['reconfigure']);
    const p = probeSince(t0);
    t.diagnostic(`reconfigure: ${((Date.now() - t0) / 1000).toFixed(1)} s, probe: ${p.rounds} rounds, ${p.failed} failed: ${p.errors.join('; ')}\n${out}`);
    assert.match(out, /keystone/, out);
    assert.equal(p.failed, 0, p.errors.join('; '));
  });

  test('recovery while the cluster runs is refused and changes nothing', () => {
    const r = run(['mariadb-recovery']);
    assert.equal(r.status, 2, r.out + r.err);
    assert.match(r.err, /the Galera cluster is running: .* is in its Primary component/);
    for (const h of controls) assert.equal(galeraStatus(h).wsrep_cluster_size, '3');
  });

  test('every controller killed at once, then started: the cloud comes back with what was made before', async (t) => {
    writeFileSync(join(cloud.data, 'ha.raw'), Buffer.alloc(1024 * 1024, 7));
    cloud.openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', '/x/ha.raw', 'ha-image']);
    for (const h of controls) spawnSync('docker', ['kill', h.container], { stdio: 'ignore' });
    const t0 = Date.now();
    for (const h of controls) spawnSync('docker', ['start', h.container], { stdio: 'ignore' });
    await waitReady(controls);
    // Galera rebuilds its last Primary component by itself when every node of it comes back
    // (pc.recovery); berth mariadb-recovery is for when it cannot.
    let healed = true;
    try {
      await until('Galera comes back by itself', () => controls.every((h) => galeraStatus(h).wsrep_local_state_comment === 'Synced'), 180_000);
    } catch {
      healed = false;
    }
    t.diagnostic(healed ? `Galera came back by itself (pc.recovery) ${Date.now() - t0} ms after the start` : 'Galera did not come back by itself: berth mariadb-recovery');
    const recovery = run(['mariadb-recovery']);
    t.diagnostic(recovery.out + recovery.err);
    assert.equal(recovery.status, healed ? 2 : 0, recovery.out + recovery.err);
    ok(['deploy']);
    await until('RabbitMQ whole again', () => controls.every((h) => rabbitRunning(h) === 3), 300_000);
    ok(['check']);
    assert.match(cloud.openstack(['project', 'list', '-f', 'value', '-c', 'Name']), /^ha-before$/m);
    assert.match(cloud.openstack(['image', 'list', '-f', 'value', '-c', 'Name']), /^ha-image$/m);
  });

  test('nodes lost one after another, the last one crashing: mariadb-recovery bootstraps from the most advanced and loses no write', (t) => {
    const sql = (h: TestHost, query: string): string => inHost(h, `docker exec mariadb mariadb --protocol=socket -sNe "${query}"`).stdout.trim();
    const [c1, c2, c3] = controls as [TestHost, TestHost, TestHost];
    sql(c1, 'CREATE DATABASE IF NOT EXISTS berth_e2e; CREATE TABLE IF NOT EXISTS berth_e2e.w (n INT PRIMARY KEY); DELETE FROM berth_e2e.w; INSERT INTO berth_e2e.w VALUES (1)');
    inHost(c1, 'docker stop mariadb');
    sql(c2, 'INSERT INTO berth_e2e.w VALUES (2)');
    inHost(c2, 'docker stop mariadb');
    sql(c3, 'INSERT INTO berth_e2e.w VALUES (3)');
    // The last node crashes: its grastate.dat says seqno -1; only --wsrep-recover knows it is ahead.
    inHost(c3, 'docker exec -u root mariadb pkill -9 mariadbd');
    const out = ok(['mariadb-recovery']);
    t.diagnostic(out);
    assert.match(out, new RegExp(`${c3.container}: cluster \\S+ seqno \\d+ \\(wsrep-recover\\)`));
    assert.match(out, new RegExp(`recovered: bootstrapped from ${c3.container}`));
    for (const h of controls) assert.equal(galeraStatus(h).wsrep_cluster_size, '3');
    assert.equal(sql(c1, 'SELECT GROUP_CONCAT(n ORDER BY n) FROM berth_e2e.w'), '1,2,3');
    sql(c1, 'DROP DATABASE berth_e2e');
    ok(['check']);
  });

  test('mariadb-backup and mariadb-restore: the cloud goes back to the backup', (t) => {
    const backup = ok(['mariadb-backup', '--to', cloud.work]);
    t.diagnostic(backup);
    const id = /backup (mariadb-\d{8}T\d{6}Z):/.exec(backup)?.[1];
    assert.ok(id, backup);
    cloud.openstack(['project', 'create', 'ha-after-backup']);
    const refused = run(['mariadb-restore', id]);
    assert.equal(refused.status, 2);
    const restored = ok(['mariadb-restore', id, '--yes-i-really-really-mean-it']);
    t.diagnostic(restored);
    ok(['deploy']);
    const projects = cloud.openstack(['project', 'list', '-f', 'value', '-c', 'Name']);
    assert.match(projects, /^ha-before$/m);
    assert.doesNotMatch(projects, /^ha-after-backup$/m);
    for (const h of controls) assert.equal(galeraStatus(h).wsrep_cluster_size, '3');
  });
});
