// Multinode end to end, as an operator runs it, on test hosts that start with only sshd:
// bootstrap-servers → build → push → pull → prechecks → deploy → post-deploy → init-runonce on
// 1 control + 1 network + 2 compute hosts (a tunnel network of their own, eth1), with this machine
// as the deployment host (registry, tools). Both computes are hypervisors; a server on demo-net on
// each, one with a "guest" plugged in that gets its lease from the network host across the tunnel;
// check clean; a no-op deploy changes nothing on any host; destroy leaves the hosts clean.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REGISTRY_CONTAINER, REGISTRY_VOLUME } from '../../src/deployment/registry.js';
import { BASE_IMAGE, inHost, removeTestHosts, startTestHosts, testKey, waitReady, type TestHost } from '../hosts/hosts.js';
import { dockerAvailable, imageTag, TestCloud } from './harness.js';

const hasDocker = dockerAvailable();
const hasBase = hasDocker && spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0;
const REGISTRY = '127.0.0.1:4061';
const cloud = new TestCloud('multinode');
const run = cloud.run.bind(cloud);
let hosts: TestHost[] = [];

function ok(args: string[]): string {
  const r = run(args);
  assert.equal(r.status, 0, `berth ${args.join(' ')}:\n${r.out}\n${r.err}`);
  return r.out;
}

describe('multinode: 1 control, 1 network, 2 compute test hosts over SSH', { skip: !hasBase }, () => {
  before(async () => {
    const key = testKey(join(cloud.work, 'key'));
    hosts = startTestHosts(
      [
        { name: 'mn-ctl', image: 'sshd', slot: 61, tunnel: true },
        { name: 'mn-net', image: 'sshd', slot: 62, tunnel: true },
        { name: 'mn-cmp1', image: 'sshd', slot: 63, tunnel: true },
        { name: 'mn-cmp2', image: 'sshd', slot: 64, tunnel: true },
      ],
      key.publicKey,
    );
    await waitReady(hosts);
    const line = (h: TestHost): string => `${h.container} ansible_host=${h.address} ansible_user=root ansible_ssh_private_key_file=${key.privateKeyFile}`;
    const [ctl, net, cmp1, cmp2] = hosts as [TestHost, TestHost, TestHost, TestHost];
    writeFileSync(
      join(cloud.configDir, 'multinode'),
      [
        `[control]\n${line(ctl)}`,
        `[network]\n${line(net)}`,
        `[compute]\n${line(cmp1)}\n${line(cmp2)}`,
        '[deployment]\nlocalhost ansible_connection=local',
        '[all:vars]\ntunnel_interface=eth1\n',
      ].join('\n\n'),
    );
    writeFileSync(
      join(cloud.configDir, 'globals.yml'),
      [`openstack_release: "${imageTag}"`, 'network_interface: eth0', `docker_registry: "${REGISTRY}"`, 'ovs_datapath_type: netdev', 'enable_heat: "no"', 'enable_horizon: "no"', ''].join('\n'),
    );
    ok(['genpwd']);
  });

  after(() => {
    if (process.env.BERTH_TH_KEEP) return;
    run(['destroy', '--yes-i-really-really-mean-it']);
    spawnSync('docker', ['rm', '-f', REGISTRY_CONTAINER], { stdio: 'ignore' });
    spawnSync('docker', ['volume', 'rm', REGISTRY_VOLUME], { stdio: 'ignore' });
    if (hosts.length) removeTestHosts(hosts);
  });

  test('bootstrap-servers prepares the four hosts (keys shown and recorded, Docker Engine installed)', () => {
    const out = ok(['bootstrap-servers']);
    for (const h of hosts) assert.ok(out.includes(`${h.container} (${h.address}:22): ssh-ed25519 `) && out.includes('new, recorded'), out);
    for (const h of hosts) assert.equal(inHost(h, 'docker version --format {{.Server.Version}}').code, 0);
  });

  test('build, push and pull: every host gets the images its containers need', (t) => {
    ok(['build']);
    let t0 = Date.now();
    ok(['push']);
    t.diagnostic(`push: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    t0 = Date.now();
    const pulled = ok(['pull']);
    t.diagnostic(`pull onto 4 hosts: ${((Date.now() - t0) / 1000).toFixed(1)} s\n${pulled.split('\n').filter((l) => /^HOST|^berth-th/.test(l)).join('\n')}`);
    // Every host pulled something and nothing failed; a second pull finds it all there.
    for (const h of hosts) assert.match(pulled, new RegExp(`^${h.container} +[1-9]\\d* +\\d+ +0 +no`, 'm'), pulled);
    const again = ok(['pull']);
    for (const h of hosts) assert.match(again, new RegExp(`^${h.container} +0 +[1-9]\\d* +0 +no`, 'm'), again);
  });

  test('prechecks, deploy, post-deploy, init-runonce', (t) => {
    ok(['prechecks']);
    const t0 = Date.now();
    const out = ok(['deploy']);
    t.diagnostic(`deploy on empty hosts: ${((Date.now() - t0) / 1000).toFixed(1)} s\n${out.split('\n').filter((l) => /^HOST|^berth-th|^localhost/.test(l)).join('\n')}`);
    ok(['post-deploy']);
    ok(['init-runonce']);
  });

  test('both computes are hypervisors; a server on demo-net on each', async (t) => {
    const hypervisors = cloud.openstack(['hypervisor', 'list', '-f', 'value', '-c', 'Hypervisor Hostname']);
    for (const h of hosts.slice(2)) assert.match(hypervisors, new RegExp(`^${h.container}$`, 'm'));
    for (const [i, h] of hosts.slice(2).entries()) {
      const server = await cloud.createServer(`mn-server-${i}`, ['--flavor', 'm1.tiny', '--image', 'berth-demo-disk', '--network', 'demo-net', '--availability-zone', `nova:${h.container}`], (m) => t.diagnostic(m));
      assert.equal(server['OS-EXT-SRV-ATTR:host'], h.container);
    }
  });

  test('a guest plugged into the server on a compute host gets its lease from the network host, across the tunnel', async () => {
    const cmp = hosts[2]!;
    const portId = cloud.openstack(['port', 'list', '--server', 'mn-server-0', '-f', 'value', '-c', 'ID']).trim();
    const mac = cloud.openstack(['port', 'show', portId, '-f', 'value', '-c', 'mac_address']).trim();
    const leased = cloud.openstack(['port', 'show', portId, '-f', 'json', '-c', 'fixed_ips']);
    const tap = `tap${portId.slice(0, 11)}`;
    // The toolbox (udhcpc) is not a compute host's image: loaded into its engine for the test.
    const toolbox = `berth/toolbox:${imageTag}`;
    assert.equal(spawnSync('sh', ['-c', `docker save ${toolbox} | docker exec -i ${cmp.container} docker load`], { stdio: 'ignore' }).status, 0);
    const hostNet = (script: string, image = toolbox): { code: number; stdout: string; stderr: string } =>
      inHost(cmp, `docker run --rm --network host --cap-add NET_ADMIN --cap-add SYS_ADMIN -u root -v /run/netns:/run/netns:shared --entrypoint sh ${image} -c '${script}'`);
    assert.equal(hostNet(`ip netns add guest && ip link add ${tap} type veth peer name eth0 netns guest && ip -n guest link set eth0 address ${mac} && ip -n guest link set eth0 up && ip link set ${tap} up`).code, 0);
    assert.equal(inHost(cmp, `docker exec openvswitch_vswitchd ovs-vsctl -- --may-exist add-port br-int ${tap} -- set Interface ${tap} external_ids:iface-id=${portId} external_ids:attached-mac=${mac} external_ids:iface-status=active`).code, 0);
    hostNet('ip netns exec guest ethtool -K eth0 tx off', `${REGISTRY}/berth/neutron-openvswitch-agent:${imageTag}`);
    let lease: string | undefined;
    for (let i = 0; i < 24 && !lease; i++) {
      lease = /lease of (\d+\.\d+\.\d+\.\d+) obtained/.exec(hostNet('ip netns exec guest udhcpc -i eth0 -n -q -f -t 5 -T 2 2>&1').stdout)?.[1];
      if (!lease) await new Promise((r) => setTimeout(r, 5000));
    }
    assert.ok(lease && leased.includes(lease), `lease ${lease} for ${leased}`);
  });

  test('check is clean and a no-op deploy changes nothing on any host', (t) => {
    ok(['check']);
    const t0 = Date.now();
    const out = ok(['deploy']);
    t.diagnostic(`no-op deploy of 4 hosts: ${Date.now() - t0} ms`);
    for (const h of hosts) assert.match(out, new RegExp(`^${h.container} +\\d+ +0 +0 +0 +no`, 'm'), out);
  });

  test('a host that stops answering SSH is reported and skipped, the others change; once back, a deploy converges it', (t) => {
    const [, , cmp1, cmp2] = hosts as [TestHost, TestHost, TestHost, TestHost];
    // sshd (the host's PID 1) reloads its config on SIGHUP: listening on loopback only, it refuses
    // berth's connections while the host's containers keep running.
    const listen = (where: string): void =>
      assert.equal(inHost(cmp2, `printf 'ListenAddress ${where}\\n' > /etc/ssh/sshd_config.d/zz-listen.conf && kill -HUP 1`).code, 0);
    mkdirSync(join(cloud.configDir, 'config'), { recursive: true });
    writeFileSync(join(cloud.configDir, 'config', 'nova.conf'), '[DEFAULT]\nreport_interval = 11\n');
    listen('127.0.0.1');
    try {
      const r = run(['deploy']);
      t.diagnostic(r.out.split('\n').filter((l) => /^HOST|^berth-th|unreachable/.test(l)).join('\n'));
      assert.notEqual(r.status, 0, 'an unreachable host is not a clean run');
      assert.match(r.out + r.err, new RegExp(`${cmp2.container}.*unreachable.*(refused|ECONNREFUSED)`, 'i'));
      assert.match(r.out, new RegExp(`^${cmp2.container} +0 +0 +0 +\\d+ +yes`, 'm'));
      assert.match(r.out, new RegExp(`^${cmp1.container} +\\d+ +[1-9]\\d* +0 +0 +no`, 'm'));
    } finally {
      listen('0.0.0.0');
    }
    const again = ok(['deploy']);
    assert.match(again, new RegExp(`^${cmp2.container} +\\d+ +[1-9]\\d* +0 +0 +no`, 'm'), again);
    for (const h of [hosts[0]!, cmp1]) assert.match(again, new RegExp(`^${h.container} +\\d+ +0 +0 +0 +no`, 'm'), again);
    ok(['check']);
  });

  test('destroy leaves the hosts without berth containers, volumes or config', () => {
    ok(['destroy', '--yes-i-really-really-mean-it']);
    for (const h of hosts) {
      assert.equal(inHost(h, 'docker ps -aq --filter label=berth.deployment').stdout.trim(), '');
      assert.equal(inHost(h, 'docker volume ls -q --filter label=berth.deployment').stdout.trim(), '');
    }
  });
});
