// HA benchmark, one run on this machine (docs/ha.md): the deploy of a single-host cloud and of an
// HA cloud of 3 control hosts (also network and loadbalancer hosts) + 1 compute host, on the same
// test hosts (test/hosts: sshd and Docker Engine in containers, one CPU each; slots 91-94, the VIP
// .200, berth's registry on 127.0.0.1:4091), then the probe's error windows on the HA cloud (a
// token and lists of images and servers through the VIP, a round every 0.2 s): when the VIP holder
// dies, when the Galera node haproxy sends clients to dies, and during a rolling keystone.conf
// reconfigure. Heat and Horizon off; images must be built (berth build). Everything is removed after.
//
//   node --import tsx bench/ha.ts
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './benchmarks-doc.js';
import { defaultRelease } from '../src/config/releases.js';
import { REGISTRY_CONTAINER, REGISTRY_VOLUME } from '../src/deployment/registry.js';
import { formatDuration } from '../src/ui/format.js';
import { galeraStatus, rabbitRunning, until, vipHolders } from '../test/hosts/cluster.js';
import { hostAddress, inHost, removeTestHosts, startTestHosts, testKey, waitReady, type TestHost } from '../test/hosts/hosts.js';
import { startProbe, summary } from '../test/e2e/vip-probe.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const REGISTRY = '127.0.0.1:4091';
const VIP = hostAddress(190);
const work = mkdtempSync(join(tmpdir(), 'berth-bench-ha-'));
const configDir = join(work, 'etc');
const probeLog = join(work, 'probe.jsonl');
mkdirSync(configDir);

function berth(args: string[]): { ms: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(join(repo, 'berth'), ['--config-dir', configDir, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return { ms: performance.now() - t0, out: r.stdout };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const line = (h: TestHost): string => `${h.container} ansible_host=${h.address} ansible_user=root ansible_ssh_private_key_file=${key.privateKeyFile}`;

function writeConfig(groups: Record<string, TestHost[]>, ha: boolean): void {
  writeFileSync(
    join(configDir, 'multinode'),
    [...Object.entries(groups).map(([g, hs]) => `[${g}]\n${hs.map(line).join('\n')}`), '[deployment]\nlocalhost ansible_connection=local', '[all:vars]\ntunnel_interface=eth1\n'].join('\n\n'),
  );
  writeFileSync(
    join(configDir, 'globals.yml'),
    [`openstack_release: "${defaultRelease}"`, 'network_interface: eth0', ...(ha ? [`kolla_internal_vip_address: "${VIP}"`, 'glance_file_datadir_volume: /srv/glance'] : []), `docker_registry: "${REGISTRY}"`, 'ovs_datapath_type: netdev', 'enable_heat: "no"', 'enable_horizon: "no"', ''].join('\n'),
  );
}

interface Window {
  what: string;
  /** How long the measured event took (the VIP moving, the node rejoining, the reconfigure). */
  eventMs: number;
  event: string;
  rounds: number;
  failed: number;
  outageMs: number;
  errors: string[];
}

const key = testKey(join(work, 'key'));
// Glance's images in a directory the control hosts share (an operator's NFS): glance on all three.
const glanceStore = join(work, 'glance-store');
mkdirSync(glanceStore, { mode: 0o755 });
const hosts = startTestHosts(
  [91, 92, 93, 94].map((slot) => ({ name: `ha-bench-${slot}`, image: 'docker' as const, slot, tunnel: true, shared: slot < 94 ? [`${glanceStore}:/srv/glance`] : [] })),
  key.publicKey,
);
const controls = hosts.slice(0, 3);
const windows: Window[] = [];
let single: number | undefined;
let ha: number | undefined;
let probe: ChildProcess | undefined;
try {
  await waitReady(hosts);
  writeConfig({ control: hosts, network: controls, compute: [hosts[3]!] }, true);
  berth(['genpwd']);
  berth(['bootstrap-servers']);
  berth(['build']);
  berth(['push']);

  // One host with everything, as the all-in-one, reached the same way.
  writeConfig({ control: [hosts[0]!], network: [hosts[0]!], compute: [hosts[0]!] }, false);
  berth(['pull']);
  single = berth(['deploy']).ms;
  console.log(`single host: deploy ${formatDuration(single)}`);
  berth(['destroy', '--yes-i-really-really-mean-it', '--limit', hosts[0]!.container]);

  writeConfig({ control: controls, network: controls, compute: [hosts[3]!] }, true);
  berth(['pull']);
  ha = berth(['deploy']).ms;
  console.log(`HA (3 control + 1 compute): deploy ${formatDuration(ha)}`);
  berth(['post-deploy']);
  probe = startProbe(configDir, VIP, probeLog);
  await until('the probe answers', () => summary(probeLog, 0).rounds - summary(probeLog, 0).failed > 10, 120_000, 1000);

  const measure = async (what: string, act: () => Promise<{ eventMs: number; event: string }>, settleMs = 30_000): Promise<void> => {
    const t0 = Date.now();
    const { eventMs, event } = await act();
    await sleep(settleMs);
    const p = summary(probeLog, t0);
    windows.push({ what, eventMs, event, rounds: p.rounds, failed: p.failed, outageMs: p.outage.ms, errors: p.errors });
    console.log(`${what}: ${event} ${formatDuration(eventMs)}; probe ${p.failed}/${p.rounds} failed, longest outage ${formatDuration(p.outage.ms)} ${p.errors.join('; ')}`);
  };

  await measure('the VIP holder killed (docker kill of the host)', async () => {
    const [holder] = vipHolders(controls, VIP);
    spawnSync('docker', ['kill', holder!.container], { stdio: 'ignore' });
    const eventMs = await until('the VIP moves', () => vipHolders(controls, VIP).length === 1, 60_000, 100);
    return { eventMs, event: 'VIP moved in' };
  });
  const down = controls.find((h) => spawnSync('docker', ['inspect', '-f', '{{.State.Running}}', h.container], { encoding: 'utf8' }).stdout.trim() !== 'true')!;
  spawnSync('docker', ['start', down.container], { stdio: 'ignore' });
  await waitReady([down]);
  await until('Galera whole', () => galeraStatus(down).wsrep_local_state_comment === 'Synced', 600_000);
  await until('RabbitMQ whole', () => rabbitRunning(down) === 3, 300_000);
  berth(['deploy']);

  await measure("the Galera node haproxy sends clients to killed (mariadbd SIGKILL; Docker restarts it)", async () => {
    const active = controls[0]!;
    const t0 = Date.now();
    inHost(active, 'docker exec -u root mariadb pkill -9 mariadbd');
    await until('it is Synced again', () => galeraStatus(active).wsrep_local_state_comment === 'Synced', 600_000, 1000);
    return { eventMs: Date.now() - t0, event: 'back in the cluster in' };
  });

  await measure('a keystone.conf reconfigure, rolling over the 3 hosts', async () => {
    mkdirSync(join(configDir, 'config'), { recursive: true });
    writeFileSync(join(configDir, 'config', 'keystone.conf'), '[token]\ncache_time = 301\n');
    const r = berth(['reconfigure']);
    return Promise.resolve({ eventMs: r.ms, event: 'reconfigure took' });
  }, 5_000);
} finally {
  probe?.kill();
  spawnSync('docker', ['rm', '-f', REGISTRY_CONTAINER], { stdio: 'ignore' });
  spawnSync('docker', ['volume', 'rm', REGISTRY_VOLUME], { stdio: 'ignore' });
  spawnSync('sh', ['-c', `docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^${REGISTRY}/' | xargs -r docker rmi`], { stdio: 'ignore' });
  removeTestHosts(hosts);
  rmSync(work, { recursive: true, force: true });
}

if (single === undefined || ha === undefined) throw new Error('bench/ha: a deploy did not finish');
writeSection('ha', [
  `## HA (\`node --import tsx bench/ha.ts\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  `Test hosts (containers running sshd and Docker Engine, one CPU each, all four on this 2-core machine) reached over SSH; ${defaultRelease}, Heat and Horizon off, netdev datapath; images pulled beforehand. The probe issues a token and lists images and servers through the VIP, starting a round every 0.2 s (at most 4 at once; a round fails on an error or after 20 s); the HA cloud loads the machine so a round takes seconds. Outage = the longest run of consecutive failed rounds, from the first failure's start to the next success's start.`,
  '',
  '| deploy on empty hosts | time |',
  '|---|---|',
  `| 1 host (control, network, compute) | ${formatDuration(single)} |`,
  `| HA: 3 control (+ network, loadbalancer) and 1 compute | ${formatDuration(ha)} (${(ha / single).toFixed(2)}×) |`,
  '',
  '| event | measured | probe rounds failed | longest outage | errors seen |',
  '|---|---|---|---|---|',
  ...windows.map((w) => `| ${w.what} | ${w.event} ${formatDuration(w.eventMs)} | ${w.failed} of ${w.rounds} | ${formatDuration(w.outageMs)} | ${w.errors.join('; ').replace(/\|/g, '/') || 'none'} |`),
]);
