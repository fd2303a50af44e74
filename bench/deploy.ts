// Deploy benchmark, one run on this machine with the images already built (bench/build.ts or
// berth build): `berth up`, a deploy onto an empty host, a no-op deploy, and the Docker API calls
// a no-op deploy makes (counted at the engine client, every HTTP request). Services bind to
// 127.0.0.3, so nothing leaves the machine. Destroys any berth deployment on this host first.
//
//   node --import tsx bench/deploy.ts
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadContext } from '../src/deployment/context.js';
import type { LocalHost } from '../src/engine/local-host.js';
import { deploy } from '../src/reconcile/deploy.js';
import { formatDuration } from '../src/ui/format.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'berth-bench-deploy-'));
const configDir = join(work, 'etc');
mkdirSync(configDir);
writeFileSync(
  join(configDir, 'globals.yml'),
  `network_interface: lo\nkolla_internal_vip_address: 127.0.0.3\nnode_config_directory: ${join(work, 'node-config')}\n`,
);
writeFileSync(join(configDir, 'all-in-one'), '[control]\nlocalhost ansible_connection=local\n\n[network:children]\ncontrol\n\n[compute:children]\ncontrol\n');

function cli(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(join(repo, 'berth'), ['--config-dir', configDir, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.status}`);
  return performance.now() - t0;
}

cli(['genpwd']);
cli(['destroy', '--yes-i-really-really-mean-it']);
const upMs = cli(['up']);
console.log(`berth up: ${formatDuration(upMs)}`);

cli(['destroy', '--yes-i-really-really-mean-it']);
const emptyMs = cli(['deploy']);
console.log(`deploy on an empty host: ${formatDuration(emptyMs)}`);

// The median of five: a single run on a shared machine says little.
const noopRuns = Array.from({ length: 5 }, () => cli(['deploy'])).sort((a, b) => a - b);
const noopCliMs = noopRuns[2]!;
console.log(`no-op deploy (CLI, process start included): median ${formatDuration(noopCliMs)} of ${noopRuns.map((ms) => formatDuration(ms)).join(', ')}`);

// In process, to count the requests every host's engine makes (its light reads and dockerode's).
const ctx = loadContext(configDir);
const engines = [...ctx.hosts.values()].map((h) => (h as LocalHost).engine);
const before = engines.reduce((n, e) => n + e.requests, 0);
const t0 = performance.now();
const results = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
const noopMs = performance.now() - t0;
const changed = results.filter((r) => r.status !== 'ok').length;
const calls = engines.reduce((n, e) => n + e.requests, 0) - before;
console.log(`no-op deploy (in process): ${formatDuration(noopMs)}, ${calls} Docker API calls, ${changed} changes`);
cli(['destroy', '--yes-i-really-really-mean-it']);

const containers = ctx.plan.services.reduce((n, s) => n + s.containers.length, 0);
const section = [
  '<!-- deploy:begin -->',
  `## Deploy (\`node --import tsx bench/deploy.ts\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  `All-in-one, the default services (every service berth has): ${ctx.plan.services.map((s) => s.service).join(', ')} (${containers} containers, images already built).`,
  '',
  '| measure | value |',
  '|---|---|',
  `| \`berth up\` (host setup, genpwd, build with every image cached, prechecks, deploy, post-deploy) | ${formatDuration(upMs)} |`,
  `| \`berth deploy\` on an empty host | ${formatDuration(emptyMs)} |`,
  `| no-op \`berth deploy\` (whole command, Node start and config load included; median of 5) | ${formatDuration(noopCliMs)} |`,
  `| no-op deploy, reconcile only | ${formatDuration(noopMs)} |`,
  `| Docker API calls of a no-op deploy | ${calls} |`,
  '<!-- deploy:end -->',
].join('\n');
const docPath = new URL('../docs/benchmarks.md', import.meta.url);
let doc = readFileSync(docPath, 'utf8');
doc = /<!-- deploy:begin -->[\s\S]*<!-- deploy:end -->/.test(doc)
  ? doc.replace(/<!-- deploy:begin -->[\s\S]*<!-- deploy:end -->/, section)
  : `${doc.trimEnd()}\n\n${section}\n`;
writeFileSync(docPath, doc);
console.log(section);
