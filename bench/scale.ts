// Scale benchmark on SIMULATED Docker Engines (bench/sim/fleet.ts: Docker's API and state, no
// process runs, each call sleeping the median the same call took on this machine's real engine,
// bench/sim/latencies.json). For each size N: a fleet of 3 + N engines on loopback addresses, run as
// its own process; a config directory with 3 controllers and N compute hosts, each reached at its
// engine over TCP (berth_docker_host); `berth deploy` on the empty fleet, then again with nothing
// to change. Each run under /usr/bin/time (wall, CPU, peak memory of berth's process); the Docker
// API requests per host from the fleet's counts; where berth's time went from its JSON recap.
//
//   node --import tsx bench/scale.ts [--sizes 1,10,100,1000] [--latencies FILE|none] [--forks N]
//     [--ansible-sizes 1,10,100|none] [--ansible-forks 10,50] [--keep]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { formatDuration } from '../src/ui/format.js';
import { closeHosts, filesContainerSpec, loadContext } from '../src/deployment/context.js';
import { LABEL } from '../src/plan/types.js';
import { containerLabels } from '../src/reconcile/deploy.js';
import { writeSection } from './benchmarks-doc.js';
import { engineAddresses } from './sim/fleet.js';
import { repoRoot } from '../test/e2e/harness.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,10,100,1000' },
    latencies: { type: 'string', default: join(repoRoot, 'bench/sim/latencies.json') },
    keep: { type: 'boolean', default: false },
    // berth's --forks (hosts worked on at once); unset: berth's default.
    forks: { type: 'string' },
    // Ansible at 1,000 hosts takes hours here: its sizes are chosen apart.
    'ansible-sizes': { type: 'string', default: '1,10,100' },
    'ansible-forks': { type: 'string', default: '10,50' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const ansibleSizes = new Set(values['ansible-sizes'] === 'none' ? [] : values['ansible-sizes'].split(',').map(Number));
const ansibleForks = values['ansible-forks'].split(',').map(Number);
if (ansibleSizes.size && !existsSync('/usr/bin/ansible-playbook')) throw new Error('bench/scale: ansible-playbook is missing (apt-get install ansible), or pass --ansible-sizes none');
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

async function control(method: string, path: string, body?: unknown): Promise<unknown> {
  // A connection per call: between calls berth or Ansible runs for longer than the fleet keeps one alive.
  const r = await fetch(`http://${CONTROL}${path}`, { method, headers: { connection: 'close' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return r.json();
}

/**
 * berth's plan for the Ansible peer: per host, the files container, the volumes, every config file
 * and every service container with the labels berth gives them; an inventory reaching each host
 * at its engine. Returns the inventory's path.
 */
async function exportPlan(configDir: string, dir: string): Promise<string> {
  const ctx = await loadContext(configDir);
  try {
    mkdirSync(join(dir, 'host_vars'), { recursive: true, mode: 0o700 });
    const files = filesContainerSpec(ctx.deployment, ctx.build, ctx.deploymentId);
    const lines = ['[all]'];
    for (const h of ctx.deployment.hosts.filter((x) => x.connection === 'tcp')) {
      lines.push(`${h.name} ansible_connection=local ansible_python_interpreter=/usr/bin/python3 sim_address=${h.docker!.address}`);
      const containers = ctx.plan.services.flatMap((svc) => svc.containers).filter((c) => c.host === h.name);
      const vars = {
        files_image: files.filesImage,
        files_labels: files.labels,
        config_root: ctx.plan.configRoot,
        volumes: (ctx.plan.volumes[h.name] ?? []).map((v) => ({ name: v, labels: { [LABEL.deployment]: ctx.deploymentId, [LABEL.kind]: 'volume' } })),
        config_dirs: containers.map((c) => join(ctx.plan.configRoot, c.name)),
        files: containers.flatMap((c) => Object.entries(c.files).map(([name, content]) => ({ path: join(ctx.plan.configRoot, c.name, name), content }))),
        containers: containers.map((c) => ({
          name: c.name,
          image: c.spec.image,
          env: c.spec.environment,
          labels: containerLabels(c, ctx.deploymentId),
          volumes: c.spec.volumes,
          cap_add: c.spec.capAdd,
          restart_policy: c.spec.restartPolicy,
          healthcheck: { test: ['CMD-SHELL', c.spec.healthcheck.test], interval: `${c.spec.healthcheck.intervalSeconds}s`, timeout: `${c.spec.healthcheck.timeoutSeconds}s`, retries: c.spec.healthcheck.retries, start_period: `${c.spec.healthcheck.startPeriodSeconds}s` },
        })),
      };
      writeFileSync(join(dir, 'host_vars', `${h.name}.json`), JSON.stringify(vars), { mode: 0o600 });
    }
    writeFileSync(join(dir, 'inventory'), `${lines.join('\n')}\n`);
    return join(dir, 'inventory');
  } finally {
    await closeHosts();
  }
}

/** ansible-playbook under /usr/bin/time; `changed` from its recap. */
function ansiblePlaybook(inventory: string, forks: number): Run {
  const timing = join(inventory, '..', 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', timing, '-f', '%e %U %S %M', 'ansible-playbook', '-i', inventory, '-f', String(forks), join(repoRoot, 'bench/ansible/scale.yml')], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: 'False' },
  });
  if (r.status !== 0) throw new Error(`ansible-playbook (forks ${forks}) exited ${r.status}:\n${r.stdout.split('\n').slice(-30).join('\n')}\n${r.stderr}`);
  const [wall, user, system, rssKb] = readFileSync(timing, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number, number, number];
  const changed = [...r.stdout.matchAll(/changed=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { wallMs: wall * 1000, cpuMs: (user + system) * 1000, peakMb: rssKb / 1024, phases: {}, changed };
}

function writeConfig(dir: string, n: number): void {
  const all = engineAddresses(FIRST, CONTROLLERS + n);
  const [ctl, cmp] = [all.slice(0, CONTROLLERS), all.slice(CONTROLLERS)];
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
  ansible: { forks: number; first: Run; noop: Run; requestsPerHost: { first: number; noop: number } }[];
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
    const deployArgs = ['deploy', ...(values.forks ? ['--forks', values.forks] : [])];
    const first = berth(configDir, deployArgs);
    const afterFirst = await count();
    await control('POST', '/reset');
    const noop = berth(configDir, deployArgs);
    const afterNoop = await count();
    const hosts = CONTROLLERS + n;
    const ansible: Size['ansible'] = [];
    if (ansibleSizes.has(n)) {
      const inventory = await exportPlan(configDir, join(work, 'ansible'));
      for (const forks of ansibleForks) {
        await control('POST', '/reset', { state: true });
        const aFirst = ansiblePlaybook(inventory, forks);
        const aFirstRequests = await count();
        await control('POST', '/reset');
        const aNoop = ansiblePlaybook(inventory, forks);
        ansible.push({ forks, first: aFirst, noop: aNoop, requestsPerHost: { first: aFirstRequests / hosts, noop: (await count()) / hosts } });
        console.log(`  ansible forks ${forks}: first ${formatDuration(aFirst.wallMs)} (${aFirst.changed} changed), no-op ${formatDuration(aNoop.wallMs)} (${aNoop.changed} changed); no-op berth/ansible ${(noop.wallMs / aNoop.wallMs).toFixed(3)}`);
      }
    }
    results.push({ n, first, noop, requestsPerHost: { first: afterFirst / hosts, noop: afterNoop / hosts }, ansible });
    console.log(`N=${n}: first deploy ${formatDuration(first.wallMs)} (CPU ${formatDuration(first.cpuMs)}, peak ${first.peakMb.toFixed(0)} MB, ${first.changed} changes), no-op ${formatDuration(noop.wallMs)} (CPU ${formatDuration(noop.cpuMs)}, peak ${noop.peakMb.toFixed(0)} MB, ${noop.changed} changes); API requests per host ${(afterFirst / hosts).toFixed(0)} / ${(afterNoop / hosts).toFixed(0)}`);
    console.log(`  phases, first: ${JSON.stringify(first.phases)}\n  phases, no-op: ${JSON.stringify(noop.phases)}`);
  } finally {
    await control('POST', '/shutdown').catch(() => undefined);
    fleet.kill();
    if (!values.keep) rmSync(work, { recursive: true, force: true });
  }
}

/** Time and memory against N on log axes, as an SVG of our own drawing (no plotting dependency). */
function plot(rows: readonly Size[]): string {
  const [w, h, left, right, top, bottom] = [640, 360, 60, 60, 30, 50];
  const ns = rows.map((r) => r.n);
  const xs = (n: number): number => left + ((Math.log10(n) - Math.log10(Math.min(...ns))) / Math.max(1e-9, Math.log10(Math.max(...ns)) - Math.log10(Math.min(...ns)))) * (w - left - right);
  const seconds = rows.flatMap((r) => [r.first.wallMs, r.noop.wallMs]).map((ms) => ms / 1000);
  const maxS = Math.max(...seconds, 1);
  const maxMb = Math.max(...rows.map((r) => r.first.peakMb), 1);
  const ys = (v: number, max: number): number => h - bottom - (v / max) * (h - top - bottom);
  const line = (points: [number, number][], colour: string, dash = ''): string =>
    `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>` +
    points.map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${colour}"/>`).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="18" text-anchor="middle">berth on simulated engines: 3 controllers + N compute hosts</text>`,
    `<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${h - bottom}" stroke="black"/>`,
    `<line x1="${w - right}" y1="${top}" x2="${w - right}" y2="${h - bottom}" stroke="black"/>`,
    ...rows.map((r) => `<text x="${xs(r.n)}" y="${h - bottom + 16}" text-anchor="middle">${r.n}</text>`),
    `<text x="${w / 2}" y="${h - 12}" text-anchor="middle">N compute hosts (log scale)</text>`,
    `<text x="14" y="${h / 2}" transform="rotate(-90 14 ${h / 2})" text-anchor="middle">wall time, s (0 to ${maxS.toFixed(1)})</text>`,
    `<text x="${w - 14}" y="${h / 2}" transform="rotate(90 ${w - 14} ${h / 2})" text-anchor="middle">peak memory, MB (0 to ${maxMb.toFixed(0)})</text>`,
    line(rows.map((r) => [xs(r.n), ys(r.first.wallMs / 1000, maxS)]), '#1f77b4'),
    line(rows.map((r) => [xs(r.n), ys(r.noop.wallMs / 1000, maxS)]), '#2ca02c'),
    line(rows.map((r) => [xs(r.n), ys(r.first.peakMb, maxMb)]), '#d62728', '5,4'),
    `<text x="${left + 10}" y="${top + 14}" fill="#1f77b4">first deploy (s)</text>`,
    `<text x="${left + 10}" y="${top + 30}" fill="#2ca02c">no-op deploy (s)</text>`,
    `<text x="${left + 10}" y="${top + 46}" fill="#d62728">peak memory of berth (MB)</text>`,
    '</svg>',
    '',
  ].join('\n');
}

if (results.length) {
  writeFileSync(join(repoRoot, 'docs/scale.svg'), plot(results));
  const phase = (r: Run): string => ['facts', 'plan', 'host state', 'changes'].map((k) => `${k} ${formatDuration(r.phases[k] ?? 0)}`).join(', ');
  const one = results.find((r) => r.n === 1);
  writeSection('scale', [
    `## Scale on simulated engines (\`node --import tsx bench/scale.ts\`, ${new Date().toISOString().slice(0, 10)})`,
    '',
    `**A simulation** (bench/sim/fleet.ts): one process answering Docker's API for 3 + N engines on loopback addresses, keeping their state, running nothing; every call sleeps the median that call took on this machine's Docker Engine (${values.latencies === 'none' ? 'here: no latency at all' : '`bench/sim/latencies.json`'}). berth reaches each engine over TCP (\`berth_docker_host\`) and deploys the default services (3 controllers behind haproxy and keepalived, N compute hosts), then deploys again with nothing to change. Wall time, CPU time (user + system) and peak memory of berth's process from /usr/bin/time; API requests per host from the fleet's counts; phases from berth's recap. berth's --forks: ${values.forks ?? 'its default (10)'}. Machine: ${cpus().length} cores; the fleet shares them with berth.`,
    '',
    '| N compute hosts | first deploy | CPU | peak memory | requests per host | no-op deploy | CPU | peak memory | requests per host | first deploy ÷ N=1 |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.n} | ${formatDuration(r.first.wallMs)} | ${formatDuration(r.first.cpuMs)} | ${r.first.peakMb.toFixed(0)} MB | ${r.requestsPerHost.first.toFixed(0)} | ${formatDuration(r.noop.wallMs)} | ${formatDuration(r.noop.cpuMs)} | ${r.noop.peakMb.toFixed(0)} MB | ${r.requestsPerHost.noop.toFixed(0)} | ${one ? (r.first.wallMs / one.first.wallMs).toFixed(2) : '-'} |`,
    ),
    '',
    'Where the time went (berth\'s recap; facts and host state are mostly waiting on hosts):',
    '',
    ...results.map((r) => `- N=${r.n}: first: ${phase(r.first)}; no-op: ${phase(r.noop)}`),
    '',
    '![time and memory against N](scale.svg)',
    '',
    ...(results.some((r) => r.ansible.length)
      ? [
          '**The Ansible peer** (bench/ansible/scale.yml): the same files container, volumes, config files (docker_container_copy_into) and service containers (docker_container) that berth\'s plan makes, on the same simulated engines, with Debian\'s ansible (community.docker 3.4) at the forks given; each host reached from this machine with `docker_host: tcp://…`. Its values are berth\'s rendered plan, so it renders no template and runs no bootstrap job: less work than kolla-ansible does. Both no-op runs change nothing.',
          '',
          '| N | forks | Ansible first deploy | Ansible no-op | requests per host (first / no-op) | berth no-op | berth no-op ÷ Ansible no-op |',
          '|---|---|---|---|---|---|---|',
          ...results.flatMap((r) =>
            r.ansible.map((a) => `| ${r.n} | ${a.forks} | ${formatDuration(a.first.wallMs)} | ${formatDuration(a.noop.wallMs)} | ${a.requestsPerHost.first.toFixed(0)} / ${a.requestsPerHost.noop.toFixed(0)} | ${formatDuration(r.noop.wallMs)} | ${(r.noop.wallMs / a.noop.wallMs).toFixed(3)} |`),
          ),
        ]
      : []),
  ]);
}
