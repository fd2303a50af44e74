// Deploy benchmark, one run on this machine with each release's images already built
// (bench/build.ts or berth build): per release, `berth up`, a deploy onto an empty host, a no-op
// deploy, and the Docker API calls a no-op deploy makes (counted at the engine client, every HTTP
// request). Services bind to 127.0.0.3, so nothing leaves the machine. Destroys any berth
// deployment on this host first.
//
//   node --import tsx bench/deploy.ts
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './benchmarks-doc.js';
import { detectOvsDatapath } from '../src/config/init.js';
import { releases } from '../src/config/releases.js';
import { loadContext } from '../src/deployment/context.js';
import type { LocalHost } from '../src/engine/local-host.js';
import { deploy } from '../src/reconcile/deploy.js';
import { formatDuration } from '../src/ui/format.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
// This machine's datapath, as berth init would choose it.
const datapath = detectOvsDatapath().value;

interface Figures {
  release: string;
  upMs: number;
  emptyMs: number;
  noopRuns: number[];
  noopMs: number;
  calls: number;
  changed: number;
  services: string[];
  containers: number;
}

async function measure(release: string): Promise<Figures> {
  const work = mkdtempSync(join(tmpdir(), `berth-bench-deploy-${release}-`));
  const configDir = join(work, 'etc');
  mkdirSync(configDir);
  writeFileSync(
    join(configDir, 'globals.yml'),
    `network_interface: lo\nkolla_internal_vip_address: 127.0.0.3\nnode_config_directory: ${join(work, 'node-config')}\n` +
      `openstack_release: "${release}"\novs_datapath_type: ${datapath}\n`,
  );
  writeFileSync(join(configDir, 'all-in-one'), '[control]\nlocalhost ansible_connection=local\n\n[network:children]\ncontrol\n\n[compute:children]\ncontrol\n\n[deployment:children]\ncontrol\n');
  const cli = (args: string[]): number => {
    const t0 = performance.now();
    const r = spawnSync(join(repo, 'berth'), ['--config-dir', configDir, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`berth ${args.join(' ')} (${release}) exited ${r.status}`);
    return performance.now() - t0;
  };

  cli(['genpwd']);
  // Whatever deployment is on this host goes first: up starts from a host with no cloud.
  cli(['destroy', '--adopt', '--yes-i-really-really-mean-it']);
  const upMs = cli(['up']);
  console.log(`${release}: berth up ${formatDuration(upMs)}`);
  cli(['destroy', '--yes-i-really-really-mean-it']);
  const emptyMs = cli(['deploy']);
  console.log(`${release}: deploy on an empty host ${formatDuration(emptyMs)}`);
  // The median of five: a single run on a shared machine says little.
  const noopRuns = Array.from({ length: 5 }, () => cli(['deploy'])).sort((a, b) => a - b);
  console.log(`${release}: no-op deploy ${noopRuns.map((ms) => formatDuration(ms)).join(', ')}`);

  // In process, to count the requests every host's engine makes (its light reads and dockerode's).
  const ctx = await loadContext(configDir);
  const engines = [...ctx.hosts.values()].map((h) => (h as LocalHost).engine);
  const before = engines.reduce((n, e) => n + e.requests, 0);
  const t0 = performance.now();
  const results = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
  const noopMs = performance.now() - t0;
  const calls = engines.reduce((n, e) => n + e.requests, 0) - before;
  cli(['destroy', '--yes-i-really-really-mean-it']);
  return {
    release,
    upMs,
    emptyMs,
    noopRuns,
    noopMs,
    calls,
    changed: results.filter((r) => r.status !== 'ok').length,
    services: ctx.plan.services.map((s) => s.service),
    containers: ctx.plan.services.reduce((n, s) => n + s.containers.length, 0),
  };
}

const figures: Figures[] = [];
for (const r of releases) figures.push(await measure(r.name));

const row = (label: string, value: (f: Figures) => string): string => `| ${label} | ${figures.map(value).join(' | ')} |`;
writeSection('deploy', [
  `## Deploy (\`node --import tsx bench/deploy.ts\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  `All-in-one, the default services of each release, images already built, Open vSwitch on the ${datapath} datapath (what berth init chooses here), one run of each release in turn on this machine.`,
  '',
  `| measure | ${figures.map((f) => f.release).join(' | ')} |`,
  `|---|${figures.map(() => '---').join('|')}|`,
  row('services (containers)', (f) => `${f.services.join(', ')} (${f.containers})`),
  row('`berth up` (host setup, genpwd, build with every image cached, prechecks, deploy, post-deploy)', (f) => formatDuration(f.upMs)),
  row('`berth deploy` on an empty host', (f) => formatDuration(f.emptyMs)),
  row('no-op `berth deploy` (whole command, Node start and config load included; median of 5)', (f) => formatDuration(f.noopRuns[2]!)),
  row('no-op deploy, reconcile only', (f) => `${formatDuration(f.noopMs)} (${f.changed} changes)`),
  row('Docker API calls of a no-op deploy', (f) => String(f.calls)),
]);
