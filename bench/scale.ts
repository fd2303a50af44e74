// Scale benchmark on SIMULATED Docker Engines (bench/sim/fleet.ts: Docker's API and state, no
// process runs, each call sleeping the median the same call took on this machine's real engine,
// bench/sim/latencies.json). For each size N: a fleet of 3 + N engines on loopback addresses, run as
// its own process; a config directory with 3 controllers and N compute hosts, each reached at its
// engine over TCP (berth_docker_host); `berth deploy` on the empty fleet, then again with nothing
// to change. Each run under /usr/bin/time (wall, CPU, peak memory of berth's process); the Docker
// API requests per host from the fleet's counts; where berth's time went from its JSON recap.
//
//   node --import tsx bench/scale.ts [--sizes 1,10,100,1000] [--latencies FILE|none] [--keep]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatDuration } from '../src/ui/format.js';
import { repoRoot } from '../test/e2e/harness.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,10,100,1000' },
    latencies: { type: 'string', default: join(repoRoot, 'bench/sim/latencies.json') },
    keep: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
if (!existsSync('/usr/bin/time')) throw new Error('bench/scale: /usr/bin/time is missing (apt-get install time): it measures berth\'s CPU time and peak memory');

const CONTROLLERS = 3;
const FIRST = '127.1.0.1';
const CONTROL = '127.0.0.1:2398';
const TAG = '2025.1';
const IMAGES = ['base', 'glance-api', 'haproxy', 'heat-api', 'heat-base', 'heat-engine', 'horizon', 'keepalived', 'keystone', 'mariadb-server', 'memcached', 'neutron-base', 'neutron-dhcp-agent', 'neutron-l3-agent', 'neutron-metadata-agent', 'neutron-openvswitch-agent', 'neutron-server', 'nova-api', 'nova-base', 'nova-compute', 'nova-conductor', 'nova-libvirt', 'nova-scheduler', 'openstack-base', 'openvswitch', 'placement-api', 'rabbitmq', 'registry', 'tempest', 'toolbox'];

interface Run {
  wallMs: number;
  cpuMs: number;
  peakMb: number;
  phases: Record<string, number>;
  changed: number;
}

/** The engines' addresses as the fleet counts them (bench/sim/fleet.ts engineAddresses): .1 up, skipping .0 and .255. */
function addresses(n: number): string[] {
  const [a, b, c, d] = FIRST.split('.').map(Number) as [number, number, number, number];
  const out: string[] = [];
  let v = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  while (out.length < n) {
    const last = v & 255;
    if (last !== 0 && last !== 255) out.push([v >>> 24, (v >> 16) & 255, (v >> 8) & 255, last].join('.'));
    v++;
  }
  return out;
}

async function startFleet(engines: number, work: string): Promise<ChildProcess> {
  const images = join(work, 'images.json');
  writeFileSync(images, JSON.stringify({ registry: IMAGES.map((i) => `berth/${i}:${TAG}`), present: 'all' }));
  const fleet = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench/sim/fleet.ts'), '--engines', String(engines), '--first', FIRST, '--latencies', values.latencies, '--images', images, '--control', CONTROL], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    fleet.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('"ready":true')) resolve();
    });
    fleet.once('exit', (code) => reject(new Error(`the fleet exited ${code} before it was ready`)));
  });
  return fleet;
}

async function control(method: string, path: string): Promise<unknown> {
  const r = await fetch(`http://${CONTROL}${path}`, { method });
  return r.json();
}

function writeConfig(dir: string, n: number): void {
  const [ctl, cmp] = [addresses(CONTROLLERS), addresses(CONTROLLERS + n).slice(CONTROLLERS)];
  writeFileSync(
    join(dir, 'globals.yml'),
    [
      '# bench/scale: every host a simulated engine (bench/sim)',
      'network_interface: eth0',
      'kolla_internal_vip_address: 127.1.255.250',
      'node_config_directory: /etc/berth',
      'ovs_datapath_type: system',
      '',
    ].join('\n'),
  );
  const line = (name: string, address: string): string => `${name} berth_docker_host=tcp://${address}:2375`;
  writeFileSync(
    join(dir, 'multinode'),
    [
      '[control]',
      ...ctl.map((a, i) => line(`ctl${i + 1}`, a)),
      '[network:children]',
      'control',
      '[compute]',
      ...cmp.map((a, i) => line(`cmp${i + 1}`, a)),
      '[deployment]',
      'localhost ansible_connection=local',
      '',
    ].join('\n'),
  );
}

/** berth under /usr/bin/time: wall, user + system CPU, peak RSS; its JSON recap's phases. */
function berth(configDir: string, args: string[]): Run {
  const timing = join(configDir, '..', 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', timing, '-f', '%e %U %S %M', join(repoRoot, 'berth'), '--config-dir', configDir, '--format', 'json', ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.status}:\n${r.stdout.split('\n').slice(-20).join('\n')}\n${r.stderr}`);
  const [wall, user, system, rssKb] = readFileSync(timing, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number, number, number];
  const recap = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; phases?: Record<string, number>; hosts?: { changed: number }[] })
    .find((e) => e.type === 'recap');
  return { wallMs: wall * 1000, cpuMs: (user + system) * 1000, peakMb: rssKb / 1024, phases: recap?.phases ?? {}, changed: (recap?.hosts ?? []).reduce((s, h) => s + h.changed, 0) };
}

interface Size {
  n: number;
  first: Run;
  noop: Run;
  requestsPerHost: { first: number; noop: number };
}

const results: Size[] = [];
for (const n of sizes) {
  const work = mkdtempSync(join(tmpdir(), `berth-scale-${n}-`));
  const configDir = join(work, 'etc');
  spawnSync('mkdir', ['-p', configDir]);
  writeConfig(configDir, n);
  const fleet = await startFleet(CONTROLLERS + n, work);
  try {
    const genpwd = spawnSync(join(repoRoot, 'berth'), ['--config-dir', configDir, 'genpwd'], { encoding: 'utf8' });
    if (genpwd.status !== 0) throw new Error(genpwd.stderr);
    const count = async (): Promise<number> => ((await control('GET', '/engines')) as { engines: { requests: number }[] }).engines.reduce((s, e) => s + e.requests, 0);
    await control('POST', '/reset');
    const first = berth(configDir, ['deploy']);
    const afterFirst = await count();
    await control('POST', '/reset');
    const noop = berth(configDir, ['deploy']);
    const afterNoop = await count();
    const hosts = CONTROLLERS + n;
    results.push({ n, first, noop, requestsPerHost: { first: afterFirst / hosts, noop: afterNoop / hosts } });
    console.log(`N=${n}: first deploy ${formatDuration(first.wallMs)} (CPU ${formatDuration(first.cpuMs)}, peak ${first.peakMb.toFixed(0)} MB, ${first.changed} changes), no-op ${formatDuration(noop.wallMs)} (CPU ${formatDuration(noop.cpuMs)}, peak ${noop.peakMb.toFixed(0)} MB, ${noop.changed} changes); API requests per host ${(afterFirst / hosts).toFixed(0)} / ${(afterNoop / hosts).toFixed(0)}`);
    console.log(`  phases, first: ${JSON.stringify(first.phases)}\n  phases, no-op: ${JSON.stringify(noop.phases)}`);
  } finally {
    await control('POST', '/shutdown').catch(() => undefined);
    fleet.kill();
    if (!values.keep) rmSync(work, { recursive: true, force: true });
  }
}
