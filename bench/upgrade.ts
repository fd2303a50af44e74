// Upgrade benchmark, one run on this machine (docs/upgrade.md), on the all-in-one as the e2e suites
// make it (test/e2e/harness.ts: every service on 127.0.0.2, Heat on, Horizon off): the deploy, then
// a same-release upgrade to a new image tag (the built images under `<tag>-bench`, as a rebuilt set
// gets) with its phases and its MariaDB backup, and the rollback of it; then the jump from Zed to
// 2025.1 and its rollback (not with --no-jump). Through each upgrade and rollback the probe of
// bench/ha.ts (a token and lists of images and servers, a round every 0.2 s) measures the API.
// Images must be built (berth build; the Zed ones are built here when missing). Destroys any berth
// deployment on this host first, and everything is removed after.
//
//   node --import tsx bench/upgrade.ts [--no-jump]
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { writeSection } from './benchmarks-doc.js';
import { formatBytes, formatDuration } from '../src/ui/format.js';
import { imageTag, ok, ovsDatapath, repoRoot, sh, TestCloud } from '../test/e2e/harness.js';
import { startProbe, summary } from '../test/e2e/vip-probe.js';
import { until } from '../test/hosts/cluster.js';

const jump = !process.argv.includes('--no-jump');
const cloud = new TestCloud('bench-upgrade');
// No VIP on the all-in-one: TestCloud binds every service to its kolla_internal_vip_address, so
// keystone (5000), glance (9292) and nova (8774) answer there, as clouds.yaml's auth_url says.
const API = '127.0.0.2';
const benchTag = `${imageTag}-bench`;
const base = ['enable_heat: yes', 'enable_horizon: "no"'];
// The probe fails a round after 20 s and logs it when it ends: a window is read this long after it closes.
const ROUND_LIMIT_MS = 21_000;

function berth(args: string[]): { ms: number; out: string } {
  const t0 = performance.now();
  // A large buffer: spawnSync kills a child whose output passes it, and a killed upgrade is no figure.
  const r = spawnSync(join(repoRoot, 'berth'), ['--config-dir', cloud.configDir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return { ms: performance.now() - t0, out: r.stdout };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** deploy and post-deploy (clouds.yaml, which the probe's cloud needs), timed together. */
function deploy(what: string): number {
  const ms = berth(['deploy']).ms + berth(['post-deploy']).ms;
  console.log(`${what}: deploy and post-deploy ${formatDuration(ms)}`);
  return ms;
}

/** Every built image of the default release, also under `tag`. */
function tagImageSet(tag: string): void {
  const built = new RegExp(`^berth/[a-z0-9-]+:${imageTag.replace(/[.]/g, '\\.')}$`);
  const refs = ok('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter((r) => built.test(r));
  if (refs.length < 10) throw new Error(`bench/upgrade: the ${imageTag} images are not built (found ${refs.join(', ') || 'none'}); run berth build`);
  for (const ref of refs) ok('docker', ['tag', ref, ref.replace(/:[^:]+$/, `:${tag}`)]);
}

async function startProbeAt(log: string): Promise<ChildProcess> {
  const p = startProbe(cloud.configDir, API, log);
  await until('the probe answers', () => summary(log, 0).rounds - summary(log, 0).failed > 10, 120_000, 1000);
  return p;
}

interface Measured {
  ms: number;
  /** Its `==> <title>: <duration>` lines, the title without what follows its first ': '. */
  phases: { title: string; duration: string }[];
  probe: ReturnType<typeof summary>;
}

/** A berth command, timed, with its phases and the probe's rounds that started while it ran. */
async function measure(what: string, args: string[], log: string): Promise<Measured> {
  const t0 = Date.now();
  const { ms, out } = berth(args);
  const t1 = Date.now();
  await sleep(ROUND_LIMIT_MS);
  const probe = summary(log, t0, t1);
  const phases = [...out.matchAll(/^==> (.+): (\d+ ms|\d+\.\d s|\d+ m \d+ s)$/gm)].map((m) => ({
    title: m[1]!.replace(/: .*$/, '').replace(/rp-\d{8}T\d{6}Z/, 'the restore point'),
    duration: m[2]!,
  }));
  console.log(`${what}: ${formatDuration(ms)} (${phases.map((p) => `${p.title} ${p.duration}`).join(', ')}); probe ${probe.failed}/${probe.rounds} failed, longest outage ${formatDuration(probe.outage.ms)} ${probe.errors.join('; ')}`);
  return { ms, phases, probe };
}

/** The MariaDB backup of the latest restore point. */
function latestBackup(): { host: string; bytes: number } | undefined {
  const all = JSON.parse(berth(['--format', 'json', 'restore-points']).out) as { mariadbBackup?: { id: string; host: string; bytes: number } }[];
  return all.at(-1)?.mariadbBackup;
}

interface Part {
  deployMs: number;
  upgrade: Measured;
  backup: { host: string; bytes: number } | undefined;
  rollback: Measured;
}

let probe: ChildProcess | undefined;
let tag: Part | undefined;
let zed: Part | undefined;
try {
  // Part 1: the default release, upgraded to the same images under a new tag, and rolled back.
  cloud.writeConfig(base);
  cloud.destroy();
  const deployMs = deploy(imageTag);
  const tagLog = join(cloud.work, 'probe-tag.jsonl');
  probe = await startProbeAt(tagLog);
  tagImageSet(benchTag);
  cloud.writeConfig([...base, `openstack_tag: "${benchTag}"`]);
  const upgrade = await measure(`upgrade to tag ${benchTag}`, ['upgrade'], tagLog);
  const backup = latestBackup();
  const rollback = await measure('its rollback', ['rollback', '--yes-i-really-really-mean-it'], tagLog);
  tag = { deployMs, upgrade, backup, rollback };
  cloud.writeConfig(base);
  probe.kill();
  probe = undefined;

  // Part 2: the jump over four releases, Zed to 2025.1, and back.
  if (jump) {
    cloud.destroy();
    const zedGlobals = [...base, 'openstack_release: "zed"'];
    cloud.writeConfig(zedGlobals);
    console.log(`zed: berth build ${formatDuration(berth(['build']).ms)}`);
    const deployMs = deploy('zed');
    const jumpLog = join(cloud.work, 'probe-jump.jsonl');
    probe = await startProbeAt(jumpLog);
    cloud.writeConfig([...base, 'openstack_release: "2025.1"']);
    console.log(`2025.1: berth build ${formatDuration(berth(['build']).ms)}`);
    const upgrade = await measure('upgrade zed → 2025.1', ['upgrade'], jumpLog);
    const backup = latestBackup();
    const rollback = await measure('its rollback', ['rollback', '--yes-i-really-really-mean-it'], jumpLog);
    zed = { deployMs, upgrade, backup, rollback };
    cloud.writeConfig(zedGlobals);
  }
} finally {
  probe?.kill();
  cloud.teardown();
  const refs = sh('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout.split('\n').filter((r) => r.startsWith('berth/') && r.endsWith(`:${benchTag}`));
  if (refs.length) sh('docker', ['rmi', ...refs]);
}

if (!tag || (jump && !zed)) throw new Error('bench/upgrade: a step did not finish');

const cell = (s: string): string => s.replace(/\|/g, '/');
const probeCells = (m: Measured): string =>
  `${m.probe.failed} of ${m.probe.rounds} | ${formatDuration(m.probe.outage.ms)} | ${cell(m.probe.errors.join('; ')) || 'none'}`;
const phaseRows = (m: Measured): string[] => m.phases.map((p) => `| ↳ ${cell(p.title)} | ${p.duration} | | | |`);
const backupRow = (p: Part): string => {
  const phase = p.upgrade.phases.find((ph) => ph.title === 'restore point');
  return `| ↳ of which the MariaDB backup: ${p.backup ? `${formatBytes(p.backup.bytes)} on ${p.backup.host}` : 'none taken'} | within the restore point's ${phase?.duration ?? '?'} | | | |`;
};
const partRows = (p: Part, deployWhat: string, upgradeWhat: string, rollbackWhat: string): string[] => [
  `| ${deployWhat} | ${formatDuration(p.deployMs)} | | | |`,
  `| ${upgradeWhat} | ${formatDuration(p.upgrade.ms)} | ${probeCells(p.upgrade)} |`,
  ...phaseRows(p.upgrade),
  backupRow(p),
  `| ${rollbackWhat} | ${formatDuration(p.rollback.ms)} | ${probeCells(p.rollback)} |`,
  ...phaseRows(p.rollback),
];

writeSection('upgrade', [
  `## Upgrade and rollback (\`node --import tsx bench/upgrade.ts\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  `All-in-one on this 2-core machine, every service on ${API} (as the e2e suites), Heat on, Horizon off, ${ovsDatapath} datapath; images built beforehand. The tag upgrade moves ${imageTag} to the same images under the tag ${benchTag} (\`docker tag\`, as a rebuilt set gets): every container is replaced and every upgrade step runs. The jump moves Zed to 2025.1 in one step. Each \`berth rollback --yes-i-really-really-mean-it\` follows its upgrade and restores the database from the restore point's backup. Phases are those berth prints (\`==> <phase>: <time>\`); the restore point phase includes the MariaDB backup. The probe is the HA section's, at the all-in-one's API address (no VIP): it issues a token and lists images and servers, starting a round every 0.2 s (at most 4 at once; a round fails on an error or after 20 s); its columns count the rounds started while the command ran. Outage = the longest run of consecutive failed rounds, from the first failure's start to the next success's start.`,
  '',
  '| what | wall time | probe rounds failed | longest API outage | errors seen |',
  '|---|---|---|---|---|',
  ...partRows(tag, `deploy and post-deploy of ${imageTag} (empty host)`, `\`berth upgrade\` ${imageTag} → tag ${benchTag}`, `\`berth rollback\` of the tag upgrade`),
  ...(zed
    ? partRows(zed, 'deploy and post-deploy of zed (empty host)', '`berth upgrade` zed → 2025.1', '`berth rollback` 2025.1 → zed')
    : ['| zed deploy, zed → 2025.1 upgrade and its rollback | not measured (run with --no-jump) | | | |']),
]);
