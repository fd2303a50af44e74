// Multinode deploy benchmark, one run on this machine: 1, 2 and 4 test hosts (test/hosts: sshd and
// Docker Engine in containers, one CPU each, on a network of their own with a tunnel network), the
// default services of the default release with Heat and Horizon off (the hosts share 2 cores).
// For each size: pull (not timed in the deploy figures), deploy on empty hosts, no-op deploys
// (median of 3), SSH logins per host per run (sshd's own log), and berth's CPU time beside its wall
// time (the rest is waiting on hosts). Images must be built (berth build); the registry is berth's
// own on this machine (127.0.0.1:4071), test hosts use slots 71-74. Everything is removed after.
//
//   node --import tsx bench/multinode.ts
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './benchmarks-doc.js';
import { defaultRelease } from '../src/config/releases.js';
import { REGISTRY_CONTAINER, REGISTRY_VOLUME } from '../src/deployment/registry.js';
import { formatDuration } from '../src/ui/format.js';
import { removeTestHosts, sshdLogins, startTestHosts, testKey, waitReady, type TestHost } from '../test/hosts/hosts.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const REGISTRY = '127.0.0.1:4071';
const work = mkdtempSync(join(tmpdir(), 'berth-bench-multinode-'));
const configDir = join(work, 'etc');
mkdirSync(configDir);

interface Run {
  wallMs: number;
  /** berth's user + system CPU time. */
  cpuMs: number;
  out: string;
}

/** berth with the bench's config; CPU time from the shell's `times` (children's user and system). */
function berth(args: string[]): Run {
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', '"$@" >&3; s=$?; times >&2; exit $s', 'sh', join(repo, 'berth'), '--config-dir', configDir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const wallMs = performance.now() - t0;
  const out = (r.output[3] as string | null) ?? '';
  const timesLine = r.stderr.trim().split('\n').at(-1) ?? '';
  const seconds = [...timesLine.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.status}:\n${out}\n${r.stderr}`);
  return { wallMs, cpuMs: seconds * 1000, out };
}

function inventory(hosts: TestHost[], key: string): string {
  const line = (h: TestHost): string => `${h.container} ansible_host=${h.address} ansible_user=root ansible_ssh_private_key_file=${key}`;
  const [a, b, ...rest] = hosts;
  // 1: everything on one host; 2: control+network and a compute; 4: control, network, 2 computes.
  const groups =
    hosts.length === 1
      ? { control: [a!], network: [a!], compute: [a!] }
      : hosts.length === 2
        ? { control: [a!], network: [a!], compute: [b!] }
        : { control: [a!], network: [b!], compute: rest };
  return [
    ...Object.entries(groups).map(([g, hs]) => `[${g}]\n${hs.map(line).join('\n')}`),
    '[deployment]\nlocalhost ansible_connection=local',
    `[all:vars]\n${hosts.length > 1 ? 'tunnel_interface=eth1\n' : ''}`,
  ].join('\n\n');
}

interface Figures {
  hosts: number;
  containers: number;
  pullMs: number;
  deploy: Run;
  noop: Run[];
  loginsPerHost: number[];
}

const key = testKey(join(work, 'key'));
const all = startTestHosts(
  [71, 72, 73, 74].map((slot) => ({ name: `bench-${slot}`, image: 'docker' as const, slot, tunnel: true })),
  key.publicKey,
);
const figures: Figures[] = [];
try {
  await waitReady(all);
  writeFileSync(
    join(configDir, 'globals.yml'),
    [`openstack_release: "${defaultRelease}"`, 'network_interface: eth0', `docker_registry: "${REGISTRY}"`, 'ovs_datapath_type: netdev', 'enable_heat: "no"', 'enable_horizon: "no"', ''].join('\n'),
  );
  writeFileSync(join(configDir, 'multinode'), inventory(all, key.privateKeyFile));
  berth(['genpwd']);
  berth(['bootstrap-servers']);
  berth(['build']);
  const push = berth(['push']);
  console.log(`push: ${formatDuration(push.wallMs)}`);

  for (const n of [1, 2, 4]) {
    const hosts = all.slice(0, n);
    writeFileSync(join(configDir, 'multinode'), inventory(hosts, key.privateKeyFile));
    const pull = berth(['pull']);
    const before = hosts.map(sshdLogins);
    const deploy = berth(['deploy']);
    const loginsPerHost = hosts.map((h, i) => sshdLogins(h) - before[i]!);
    console.log(`${n} host(s): deploy ${formatDuration(deploy.wallMs)} (berth CPU ${formatDuration(deploy.cpuMs)}), SSH logins per host ${loginsPerHost.join(', ')}`);
    const noop = [berth(['deploy']), berth(['deploy']), berth(['deploy'])].sort((x, y) => x.wallMs - y.wallMs);
    console.log(`${n} host(s): no-op ${noop.map((r) => formatDuration(r.wallMs)).join(', ')}`);
    const ps = berth(['ps']).out;
    figures.push({ hosts: n, containers: ps.split('\n').filter((l) => /^berth-th-bench/.test(l)).length, pullMs: pull.wallMs, deploy, noop, loginsPerHost });
    // The test hosts only: the registry on this machine is the deployment's too, and stays for the next size.
    berth(['destroy', '--yes-i-really-really-mean-it', '--limit', hosts.map((h) => h.container).join(',')]);
  }
} finally {
  spawnSync('docker', ['rm', '-f', REGISTRY_CONTAINER], { stdio: 'ignore' });
  spawnSync('docker', ['volume', 'rm', REGISTRY_VOLUME], { stdio: 'ignore' });
  spawnSync('sh', ['-c', `docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^${REGISTRY}/' | xargs -r docker rmi`], { stdio: 'ignore' });
  removeTestHosts(all);
  rmSync(work, { recursive: true, force: true });
}

const row = (label: string, value: (f: Figures) => string): string => `| ${label} | ${figures.map(value).join(' | ')} |`;
writeSection('multinode', [
  `## Multinode deploy (\`node --import tsx bench/multinode.ts\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  `Test hosts (containers running sshd and Docker Engine, one CPU each, all on this 2-core machine) reached over SSH; ${defaultRelease}, Heat and Horizon off, netdev datapath; images pulled from berth's registry beforehand. 1 host: everything; 2: control+network, compute; 4: control, network, 2 computes. Berth's CPU time is its own process (user + system); the rest of the wall time is waiting on hosts. More hosts here share the same 2 cores, so the figures show berth's overhead, not a real cloud's speed.`,
  '',
  `| measure | ${figures.map((f) => `${f.hosts} host${f.hosts > 1 ? 's' : ''}`).join(' | ')} |`,
  `|---|${figures.map(() => '---').join('|')}|`,
  row('containers and finished jobs (berth ps rows)', (f) => String(f.containers)),
  row('`berth pull` (images each host needs)', (f) => formatDuration(f.pullMs)),
  row('`berth deploy` on empty hosts', (f) => formatDuration(f.deploy.wallMs)),
  row('of which berth CPU time', (f) => `${formatDuration(f.deploy.cpuMs)} (${Math.round((100 * f.deploy.cpuMs) / f.deploy.wallMs)}%)`),
  row('no-op `berth deploy` (median of 3)', (f) => formatDuration(f.noop[1]!.wallMs)),
  row('of which berth CPU time', (f) => formatDuration(f.noop[1]!.cpuMs)),
  row('SSH logins per host in one deploy', (f) => f.loginsPerHost.join(', ')),
]);
