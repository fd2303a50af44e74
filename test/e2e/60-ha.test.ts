// High availability end to end, on test hosts: 3 control hosts (also network and loadbalancer
// hosts: haproxy + keepalived holding the VIP, Galera, a RabbitMQ cluster, every API) and 1
// compute host. A probe issues a token and lists images and servers through the VIP every 0.2 s
// throughout. Scenarios: the VIP holder killed (the VIP moves, quorum holds, a server is created
// meanwhile); it comes back and rejoins with no manual step; a keystone reconfigure with zero
// failed probes; every controller stopped at once, brought back by berth mariadb-recovery and
// deploy with the data made before. Too long for every CI run: `scripts/test ha`.
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { REGISTRY_CONTAINER, REGISTRY_VOLUME } from '../../src/deployment/registry.js';
import { galeraStatus, rabbitRunning, until, vipHolders } from '../hosts/cluster.js';
import { BASE_IMAGE, hostAddress, inHost, removeTestHosts, startTestHosts, testKey, waitReady, type TestHost } from '../hosts/hosts.js';
import { dockerAvailable, imageTag, repoRoot, sh, TestCloud } from './harness.js';
import { outages, readRounds, startProbe, summary } from './vip-probe.js';

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

const holders = (): TestHost[] => vipHolders(controls, VIP);

/**
 * `berth check` clean, within a few minutes: after hosts came back, a client may still be
 * reconnecting to RabbitMQ, and Docker's health (three failed checks 10 s apart) lags behind.
 */
async function checkClean(): Promise<number> {
  let last = '';
  try {
    return await until('berth check is clean', () => {
      const r = run(['check']);
      last = r.out + r.err;
      return r.status === 0;
    }, 180_000, 10_000);
  } catch {
    assert.fail(`berth check is not clean:\n${last}`);
  }
}

describe('HA: 3 control hosts (haproxy, keepalived, Galera, RabbitMQ cluster) and 1 compute host', { skip: !hasBase && 'runs only when named: scripts/test ha' }, () => {
  before(async () => {
    const key = testKey(join(cloud.work, 'key'));
    // Glance's images in a directory every control host shares (an operator's NFS), so glance runs
    // on all three and the loss of any one leaves images served.
    const glanceStore = join(cloud.work, 'glance-store');
    mkdirSync(glanceStore, { mode: 0o755 });
    const shared = [`${glanceStore}:/srv/glance`];
    hosts = startTestHosts(
      [
        { name: 'ha-ctl1', image: 'sshd', slot: 81, tunnel: true, shared },
        { name: 'ha-ctl2', image: 'sshd', slot: 82, tunnel: true, shared },
        { name: 'ha-ctl3', image: 'sshd', slot: 83, tunnel: true, shared },
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
        'glance_file_datadir_volume: /srv/glance',
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

  test('one host holds the VIP; Galera has 3 Synced nodes; RabbitMQ runs 3 nodes in one cluster, its management UI on the VIP', async () => {
    assert.equal(holders().length, 1);
    for (const h of controls) {
      const s = galeraStatus(h);
      assert.equal(s.wsrep_cluster_size, '3', `${h.container}: ${JSON.stringify(s)}`);
      assert.equal(s.wsrep_local_state_comment, 'Synced');
      assert.equal(rabbitRunning(h), 3, h.container);
    }
    const ui = await fetch(`http://${VIP}:15672/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /RabbitMQ Management/);
    // A service's account (tagged management) reads the cluster's overview through the VIP.
    const passwords = parse(readFileSync(join(cloud.configDir, 'passwords.yml'), 'utf8')) as Record<string, string>;
    const overview = await fetch(`http://${VIP}:15672/api/overview`, { headers: { authorization: `Basic ${Buffer.from(`keystone:${passwords.keystone_rabbitmq_password}`).toString('base64')}` } });
    assert.equal(overview.status, 200);
    assert.match(String((await overview.json() as { cluster_name?: string }).cluster_name), /^rabbit@/);
  });

  test('the VIP holder killed: the VIP moves, the probe recovers, quorum holds, a server is created meanwhile', async (t) => {
    cloud.openstack(['project', 'create', 'ha-before']);
    probe = startProbe(cloud.configDir, VIP, probeLog);
    await until('the probe answers', () => summary(probeLog, 0).rounds - summary(probeLog, 0).failed > 5, 60_000, 500);
    const [holder] = holders();
    assert.ok(holder);
    const t0 = Date.now();
    spawnSync('docker', ['kill', holder.container], { stdio: 'ignore' });
    const moved = await until('the VIP moves', () => holders().length === 1, 60_000, 100);
    await sleep(15_000);
    const p = summary(probeLog, t0);
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
    t.diagnostic(`berth check clean ${await checkClean()} ms after the deploy`);
  });

  test('a keystone.conf reconfigure rolls one host at a time: zero failed probe rounds', (t) => {
    mkdirSync(join(cloud.configDir, 'config'), { recursive: true });
    writeFileSync(join(cloud.configDir, 'config', 'keystone.conf'), '[token]\ncache_time = 301\n');
    const t0 = Date.now();
    const out = ok(['reconfigure']);
    const p = summary(probeLog, t0);
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
    t.diagnostic(`berth check clean ${await checkClean()} ms after the deploy`);
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

  test('berth upgrade to a new image tag with the probe through the VIP: rolling, measured', async (t) => {
    // Every host's images under a new tag, as a rebuilt set pushed and pulled would be (same layers).
    const tag = `${imageTag}-ha1`;
    for (const h of hosts) {
      const r = inHost(h, `docker images --format '{{.Repository}}:{{.Tag}}' | grep ':${imageTag}$' | while read -r ref; do docker tag "$ref" "\${ref%:*}:${tag}"; done`);
      assert.equal(r.code, 0, r.stderr);
    }
    const globals = join(cloud.configDir, 'globals.yml');
    writeFileSync(globals, `${readFileSync(globals, 'utf8')}openstack_tag: "${tag}"\n`);
    probe ??= startProbe(cloud.configDir, VIP, probeLog);
    await until('the probe answers', () => summary(probeLog, Date.now() - 5000).rounds - summary(probeLog, Date.now() - 5000).failed > 3, 120_000, 500);
    const t0 = Date.now();
    // Each output line with the time it was printed, to set beside the probe's outages.
    const timed = sh('bash', ['-c', 'set -o pipefail; "$0" "$@" 2>&1 | while IFS= read -r l; do printf "%s %s\\n" "$(date +%s%3N)" "$l"; done', join(repoRoot, 'berth'), '--config-dir', cloud.configDir, 'upgrade', '--health-timeout', '180'], { env: { ...process.env, NO_COLOR: '1' } });
    const r = { status: timed.status, out: timed.stdout.replace(/^\d+ /gm, ''), err: timed.stderr };
    cloud.outputs.push(r.out, r.err);
    const p = summary(probeLog, t0);
    t.diagnostic(`HA tag upgrade: ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.status}; probe: ${p.rounds} rounds, ${p.failed} failed, longest outage ${p.outage.ms} ms: ${p.errors.join('; ')}`);
    const lines = timed.stdout.split('\n').map((l) => ({ t: Number(l.split(' ', 1)[0]), line: l.slice(l.indexOf(' ') + 1) }));
    for (const o of outages(readRounds(probeLog, t0))) {
      const near = lines.filter((l) => l.t >= o.start - 5000 && l.t <= o.end + 1000).map((l) => `      ${((l.t - t0) / 1000).toFixed(1)} s ${l.line}`);
      t.diagnostic(`  outage at ${((o.start - t0) / 1000).toFixed(1)} s for ${o.end - o.start} ms (${o.failures} rounds): ${o.errors.join('; ')}\n    berth around it:\n${near.join('\n')}`);
    }
    // Where the VIP went, as each host's new keepalived saw it (the old ones' logs went with them).
    for (const h of controls) t.diagnostic(`${h.container} keepalived: ${inHost(h, 'docker logs keepalived 2>&1 | grep -E "Entering (MASTER|BACKUP|FAULT)"').stdout.trim().replace(/\n/g, ' | ')}`);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    assert.match(r.out, /upgraded to 2025\.1 \(tag 2025\.1-ha1\)/);
    for (const h of controls) assert.equal(galeraStatus(h).wsrep_cluster_size, '3');
    t.diagnostic(`berth check clean ${await checkClean()} ms after the upgrade`);
  });
});
