// The operator commands of the deploy side: init, genpwd, prechecks, plan, deploy, reconfigure,
// post-deploy, check, ps, logs, stop, destroy. Each loads the context (validation first, so bad
// input changes nothing; every host's facts read, at most --forks at once), calls one workflow
// and prints. --limit narrows deploy, plan, check, stop and destroy to some hosts.
import type { Command } from '@commander-js/extra-typings';
import { existsSync, mkdirSync, renameSync, statfsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { catalogSecrets } from '../catalog/index.js';
import { InputError } from '../config/errors.js';
import { detectDefaultInterface, detectOvsDatapath, initConfig } from '../config/init.js';
import { resolveLimit } from '../config/inventory.js';
import { genpwd } from '../config/passwords.js';
import { EngineError } from '../engine/docker.js';
import type { Host } from '../engine/host.js';
import { moduleAvailability, type ModuleFacts } from '../engine/kernel-modules.js';
import { decide } from '../reconcile/diff.js';
import { assertOwnership, DEFAULT_FORKS, deploy, removeWithFiles, runToCompletion, type StepResult } from '../reconcile/deploy.js';
import { isOurs, isOurVolume } from '../reconcile/ownership.js';
import { HostGate, limitWarnings } from '../reconcile/scope.js';
import { LABEL } from '../plan/types.js';
import { imagesByHost, missingImageLines, missingImages } from '../plan/images.js';
import { adminClouds } from '../plan/plan.js';
import { DeployReporter } from '../ui/deploy-report.js';
import { PullReporter } from '../ui/pull-report.js';
import { pullImages } from '../deployment/pull.js';
import { initRunonce } from '../runonce/init-runonce.js';
import { runTempest } from '../tempest/run.js';
import { table } from '../ui/format.js';
import { forgetAppliedSecrets, recordAppliedSecrets } from '../deployment/applied-secrets.js';
import { deployedRelease, forgetDeployedInputs, recordDeployedInputs } from '../deployment/deployed-inputs.js';
import { forgetRestorePoints, unfinishedUpgrade } from '../deployment/restore-points.js';
import { describeRelease, releaseOf } from '../deployment/upgrade.js';
import { assertRotatable, loadContext, localHosts, toolHostName, type DeploymentContext, type LoadContextOptions } from '../deployment/context.js';
import { ensureDeploymentId } from '../deployment/identity.js';
import { acquireLock, type DeploymentLock } from '../deployment/lock.js';

type Globals = { configDir: string; format: 'text' | 'json' };

/** --limit and --forks, as the commands that act on hosts take them. */
export interface HostSelection {
  limit?: string;
  forks?: number;
}

const limitHelp = 'act only on these hosts: host or group names of the inventory, separated by commas or colons (a leading ! excludes one), as Ansible\'s --limit';
const forksHelp = `hosts worked on at once (default ${DEFAULT_FORKS}, as Ansible)`;

export function parseForks(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InputError(`--forks: expected a whole number from 1 to 1000, got "${v}"`);
  return n;
}

export function registerDeployCommands(program: Command<[], Globals & { debug: boolean }>): void {
  const opts = (): Globals => program.opts();

  program
    .command('init')
    .description('write a commented globals.yml and an all-in-one inventory for this machine (never overwrites)')
    .action(() => runInit(opts().configDir));

  program
    .command('genpwd')
    .description('fill every empty secret in passwords.yml (0600); set values are never changed')
    .action(() => runGenpwd(opts().configDir));

  program
    .command('prechecks')
    .description('check config, hosts (reachable, interfaces, hostnames), Docker, ports, disk and images before a deploy')
    .option('--forks <n>', forksHelp, parseForks)
    .action(async (o) => {
      const ctx = await contextWithWarnings(opts().configDir, o);
      await runPrechecks(ctx);
    });

  program
    .command('pull')
    .description("put the images each host's containers need onto it: from docker_registry (berth's own on the deployment host, through SSH, when it is a loopback address), or streamed from this machine without one")
    .option('--limit <hosts>', limitHelp)
    .option('--forks <n>', forksHelp, parseForks)
    .action(async (o) => runPull(await contextWithWarnings(opts().configDir, o), opts().format, o));

  program
    .command('plan')
    .description('print what deploy would change, per host and container, with the reason; changes nothing')
    .option('--adopt', "take over berth containers and volumes that carry no deployment id or another deployment's (a lost deployment-id, or a cloud deployed before berth kept ids)", false)
    .option('--limit <hosts>', limitHelp)
    .option('--forks <n>', forksHelp, parseForks)
    .action(async (o) => {
      const ctx = await contextWithWarnings(opts().configDir, o);
      await runDeploy(ctx, opts().format, { dryRun: true, adopt: o.adopt, limit: o.limit, forks: o.forks });
    });

  for (const name of ['deploy', 'reconfigure'] as const) {
    program
      .command(name)
      .description(name === 'deploy' ? 'converge every host to the configuration' : 'the same as deploy: only what changed is touched')
      .option('--dry-run', 'print the plan and change nothing', false)
      .option('--adopt', "take over berth containers and volumes that carry no deployment id or another deployment's (a lost deployment-id, or a cloud deployed before berth kept ids)", false)
      .option('--limit <hosts>', limitHelp)
      .option('--forks <n>', forksHelp, parseForks)
      .action(async (o) => {
        const ctx = await contextWithWarnings(opts().configDir, o);
        await runDeploy(ctx, opts().format, { dryRun: o.dryRun, adopt: o.adopt, command: name, limit: o.limit, forks: o.forks });
      });
  }

  program
    .command('post-deploy')
    .description('write clouds.yaml (cloud berth-admin) and admin-openrc into the config directory (0600)')
    .action(async () => runPostDeploy(await contextWithWarnings(opts().configDir)));

  program
    .command('init-runonce')
    .description('create what a new cloud needs to be tried: flavors, a demo image berth makes, a demo project and user, a keypair (idempotent)')
    .action(async () => {
      const ctx = await contextWithWarnings(opts().configDir);
      const reporter = new DeployReporter('text', ctx.secrets);
      await initRunonce(ctx, (line) => console.log(reporter.redact(line)));
    });

  program
    .command('tempest')
    .description(
      'run Tempest against the cloud: its smoke tests of identity, image, compute and network (--smoke, the default), ' +
        'every API and scenario test of what is deployed (--full), or the tests matching a regex (--regex); ' +
        'exclusions in tempest/exclude-list.txt always apply; keeps redacted output and subunit results',
    )
    .option('--smoke', 'smoke tests of identity, image, compute and network (the default)')
    .option('--full', "every test of the deployed services' API suites and the scenario suite")
    .option('--regex <regex>', 'tests whose id matches this (Python) regular expression, as tempest run --regex')
    .option('--results-dir <dir>', 'where each run keeps its output and results', '/var/log/berth/tempest')
    .action(async (o) => {
      const ctx = await contextWithWarnings(opts().configDir);
      const reporter = new DeployReporter('text', ctx.secrets);
      const selection = { smoke: o.smoke, full: o.full, regex: o.regex };
      const result = await runTempest(ctx, o.resultsDir, selection, (line) => console.log(reporter.redact(line)));
      console.log(reporter.redact(result.summary));
      console.log(`\nfull output and results.subunit: ${result.resultsDir}`);
      if (result.code !== 0) throw new EngineError(`tempest failed (exit ${result.code})`, `see ${result.resultsDir}/output.log`);
    });

  program
    .command('check')
    .description('health and drift of every container on every host; exits 1 when something is wrong')
    .option('--limit <hosts>', limitHelp)
    .option('--forks <n>', forksHelp, parseForks)
    .action(async (o) => runCheck(await contextWithWarnings(opts().configDir, o), opts().format, o));

  program
    .command('ps')
    .description('the containers berth manages, on every host')
    .action(async () => runPs(await loadContext(opts().configDir), opts().format));

  program
    .command('logs')
    .description("print a service's container logs")
    .argument('<service>', 'service name, e.g. keystone')
    .option('--tail <n>', 'lines from the end', '200')
    .action(async (service, o) => runLogs(await loadContext(opts().configDir), service, Number(o.tail)));

  program
    .command('stop')
    .description('stop every container berth manages (dependants first); deploy starts them again')
    .option('--adopt', "also act on berth containers that carry no deployment id or another deployment's", false)
    .option('--limit <hosts>', limitHelp)
    .option('--forks <n>', forksHelp, parseForks)
    .action(async (o) => runStop(await loadContext(opts().configDir, o), o.adopt, o));

  program
    .command('destroy')
    .description('remove containers, volumes and generated config (never globals.yml, passwords.yml, inventory, overrides)')
    .option('--yes-i-really-really-mean-it', 'confirm: the data in MariaDB and RabbitMQ is deleted', false)
    .option('--adopt', "also remove berth containers and volumes that carry no deployment id or another deployment's", false)
    .option('--limit <hosts>', limitHelp)
    .option('--forks <n>', forksHelp, parseForks)
    .action(async (o) => {
      if (!o.yesIReallyReallyMeanIt) {
        throw new InputError('destroy deletes every container, volume and database of the deployment', 'rerun with --yes-i-really-really-mean-it');
      }
      await runDestroy(await loadContext(opts().configDir, o), o.adopt, o);
    });
}

/** Holds the deployment lock for the rest of the process (released at exit, or taken over if the process is killed). */
export function lock(ctx: DeploymentContext, command: string): DeploymentLock {
  return lockConfigDir(ctx.deployment.configDir, command);
}

/** The same, before a context is loaded (berth upgrade and rollback load several). */
export function lockConfigDir(configDir: string, command: string): DeploymentLock {
  const held = acquireLock(configDir, command);
  if (held.tookOver) {
    const t = held.tookOver;
    console.error(`warning: took over the lock of a run that is gone (${t.command}, pid ${t.pid} on ${t.host}, started ${t.startedAt}); this run finishes its work`);
  }
  return held;
}

export async function contextWithWarnings(configDir: string, selection: HostSelection = {}, more: Omit<LoadContextOptions, 'forks'> = {}): Promise<DeploymentContext> {
  const ctx = await loadContext(configDir, { ...more, forks: selection.forks });
  for (const w of ctx.warnings) console.error(`warning: ${w}`);
  for (const [host, reason] of ctx.unreachable) console.error(`warning: host ${host} is unreachable: ${reason}`);
  return ctx;
}

/** The hosts a command acts on: those --limit selects (exit 2 for an unknown name), else every host; warnings said. */
export function selectedHosts(ctx: Pick<DeploymentContext, 'deployment' | 'plan'>, limit: string | undefined): { hosts: string[]; limit?: Set<string> } {
  if (limit === undefined) return { hosts: ctx.plan.hosts };
  const selected = resolveLimit(ctx.deployment.inventory, limit);
  for (const w of limitWarnings(ctx.plan, selected)) console.error(`warning: ${w}`);
  return { hosts: ctx.plan.hosts.filter((h) => selected.has(h)), limit: selected };
}

export function runInit(configDir: string): void {
  const detected = detectDefaultInterface();
  console.log(`detected network interface ${detected.interface} with address ${detected.address}`);
  const datapath = detectOvsDatapath();
  console.log(`Open vSwitch datapath: ${datapath.value} (${datapath.why})`);
  const { written } = initConfig(configDir, { ...detected, hostname: hostname(), ovsDatapath: datapath });
  for (const f of written) console.log(`wrote ${f}`);
  if (!written.length) console.log(`${configDir} already has globals.yml and an inventory; nothing written`);
}

export function runGenpwd(configDir: string): void {
  mkdirSync(configDir, { recursive: true });
  const id = ensureDeploymentId(configDir);
  if (id.created) console.log(`wrote ${join(configDir, 'deployment-id')}: this deployment is ${id.id}`);
  const { added, warnings } = genpwd(configDir, catalogSecrets());
  for (const w of warnings) console.error(`warning: ${w}`);
  console.log(added.length ? `generated ${added.length} secret(s) in ${join(configDir, 'passwords.yml')}: ${added.join(', ')}` : 'every secret in passwords.yml is set; nothing changed');
}

export async function runPull(ctx: DeploymentContext, format: 'text' | 'json', selection: HostSelection = {}): Promise<void> {
  // No --limit warnings: they are about what a deploy leaves unchecked, and a pull checks nothing.
  const selected = selection.limit === undefined ? undefined : resolveLimit(ctx.deployment.inventory, selection.limit);
  const hosts = ctx.plan.hosts.filter((h) => !selected || selected.has(h));
  const reporter = new PullReporter(format);
  const recap = await pullImages(ctx, { hosts, forks: selection.forks ?? DEFAULT_FORKS, onEvent: reporter.onEvent });
  reporter.recap(recap);
  const failed = recap.filter((h) => h.failed || h.unreachable !== undefined).map((h) => h.host);
  if (failed.length) throw new EngineError(`images are missing on ${failed.join(', ')}`, 'fix the cause shown above and run berth pull again (--limit ' + failed.join(',') + ')');
}

export async function runPrechecks(ctx: DeploymentContext): Promise<void> {
  const problems: string[] = [...inventoryProblems(ctx)];
  const needed = imagesByHost(ctx.plan);
  const here = localHosts(ctx);
  for (const [name, host] of ctx.hosts) {
    const unreachable = ctx.unreachable.get(name);
    if (unreachable !== undefined) {
      problems.push(`${name}: unreachable: ${unreachable}`);
      continue;
    }
    let version: string;
    try {
      version = await host.ping();
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
      continue;
    }
    console.log(`${name}: Docker Engine ${version}`);
    const problem = ovsDatapathProblem(ctx, name, await host.kernelModule('openvswitch'));
    if (problem) problems.push(problem);
    const managed = new Set((await host.listContainers(LABEL.deployment, ctx.deploymentId)).filter((c) => c.running).map((c) => c.name));
    // One image list per host, as deploy reads it.
    const refs = needed.get(name) ?? [];
    const lacking = refs.length ? missingImages(refs, await host.imageTags()) : [];
    problems.push(...missingImageLines(new Map([[name, lacking]]), here));
    // Devices, free ports and disk are looked at on this machine: only for hosts reached locally.
    const local = ctx.deployment.hosts.find((h) => h.name === name)?.connection === 'local';
    for (const svc of ctx.plan.services) {
      for (const c of svc.containers.filter((x) => x.host === name)) {
        if (!local) continue;
        for (const device of c.spec.devices ?? []) {
          if (!existsSync(device)) {
            const why = device === '/dev/kvm' ? ' (no hardware virtualization: set nova_compute_virt_type to qemu or fake)' : '';
            problems.push(`${name}: ${c.name} needs ${device}, which this host does not have${why}`);
          }
        }
        if (managed.has(c.name)) continue;
        for (const port of c.ports) {
          if (!(await portFree(c.address, port))) problems.push(`${name}: port ${c.address}:${port} for ${c.name} is in use by another process`);
        }
      }
    }
    if (!local) {
      console.log(`${name}: devices, free ports and disk space not checked (a remote host)`);
      continue;
    }
    const fs = statfsSync(existsSync('/var/lib/docker') ? '/var/lib/docker' : '/');
    const freeGb = (fs.bavail * fs.bsize) / 1e9;
    if (freeGb < 5) problems.push(`${name}: only ${freeGb.toFixed(1)} GB free for Docker; 5 GB or more is needed`);
    else console.log(`${name}: ${freeGb.toFixed(0)} GB free for Docker`);
  }
  if (problems.length) {
    for (const p of problems) console.error(`precheck failed: ${p}`);
    throw new EngineError(`${problems.length} precheck(s) failed`);
  }
  console.log('prechecks passed');
}

/**
 * What the inventory and the hosts' facts say before any container is looked at: a [deployment]
 * host for the tools, and one hostname per host (nova, neutron and RabbitMQ know hosts by it, so
 * two hosts answering with one name would be taken for one).
 */
export function inventoryProblems(ctx: Pick<DeploymentContext, 'deployment' | 'plan'>): string[] {
  const problems: string[] = [];
  try {
    toolHostName(ctx.deployment.inventory);
  } catch (err) {
    problems.push(`${(err as InputError).message}: ${(err as InputError).hint}`);
  }
  const byHostname = new Map<string, string[]>();
  for (const [host, name] of Object.entries(ctx.plan.hostnames)) byHostname.set(name, [...(byHostname.get(name) ?? []), host]);
  for (const [name, hosts] of byHostname) {
    if (hosts.length > 1) {
      problems.push(`hosts ${hosts.join(', ')} all have the hostname "${name}": nova, neutron and RabbitMQ would take them for one host; give each machine its own hostname`);
    }
  }
  return problems;
}

/**
 * Open vSwitch bridges of datapath_type system need the kernel's openvswitch module; a host
 * without it runs them only as netdev (userspace). Said before a deploy, not as a vswitchd that
 * cannot create a bridge.
 */
export function ovsDatapathProblem(ctx: Pick<DeploymentContext, 'deployment' | 'plan'>, hostName: string, facts: ModuleFacts): string | undefined {
  if (ctx.deployment.globals.ovs_datapath_type !== 'system') return undefined;
  const runsOvs = ctx.plan.services.some((s) => s.service === 'openvswitch' && s.containers.some((c) => c.host === hostName));
  if (!runsOvs) return undefined;
  const found = moduleAvailability(facts);
  if (found.available) return undefined;
  return (
    `${hostName}: ovs_datapath_type is "system" (${join(ctx.deployment.configDir, 'globals.yml')}), but ${found.why}; ` +
    'set ovs_datapath_type: netdev there (Open vSwitch in userspace), or use a kernel with the openvswitch module'
  );
}

function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function runDeploy(
  ctx: DeploymentContext,
  format: 'text' | 'json',
  o: { dryRun: boolean; adopt?: boolean; command?: string; healthTimeoutMs?: number; lockHeld?: boolean } & HostSelection,
): Promise<StepResult[]> {
  // berth upgrade and rollback run their deploys themselves, with the lock held.
  if (!o.lockHeld) assertNoUpgradeNeeded(ctx);
  const reporter = new DeployReporter(format, ctx.secrets);
  const { hosts, limit } = selectedHosts(ctx, o.limit);
  // A copy: hosts found unreachable during the run join it.
  const unreachable = new Map(ctx.unreachable);
  const common = { plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId, adopt: o.adopt, limit, unreachable, forks: o.forks, localHosts: localHosts(ctx), healthTimeoutMs: o.healthTimeoutMs };
  if (o.dryRun) {
    const results = await deploy({ ...common, dryRun: true });
    reporter.printPlan(results, ctx.rotations);
    assertRotatable(ctx);
    return results;
  }
  assertRotatable(ctx);
  // berth upgrade and rollback hold the lock across their phases.
  const held = o.lockHeld ? undefined : lock(ctx, `berth ${o.command ?? 'deploy'}`);
  try {
    reporter.rotations(ctx.rotations);
    const results = await deploy({ ...common, onEvent: reporter.onEvent });
    reporter.recap(results, { hosts, unreachable }, ctx.timings);
    const failed = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
    const lost = hosts.filter((h) => unreachable.has(h));
    if (failed.length || lost.length) {
      const first = failed.find((r) => r.status === 'failed') ?? failed[0];
      const firstSaid = first ? ` (first: ${first.host === '-' ? '' : `${first.host}: `}${first.target}: ${(first.error ?? first.reasons.join('; ')).split('\n')[0]})` : '';
      throw new EngineError(
        [failed.length ? `${failed.length} step(s) failed or were skipped${firstSaid}` : '', lost.length ? `unreachable: ${lost.join(', ')}` : ''].filter(Boolean).join('; '),
        'fix the cause shown above and run deploy again; it continues where it stopped',
      );
    }
    // Every step succeeded on every host: the cloud now runs with these secrets (a --limit run reached only some).
    if (!limit) {
      recordAppliedSecrets(ctx.deployment.configDir, ctx.deployment.passwords);
      recordDeployedInputs(ctx.deployment.configDir, ctx.inputsDir);
    }
    if (ctx.deployment.globals.enable_keystone && existsSync(join(ctx.deployment.configDir, 'clouds.yaml'))) runPostDeploy(ctx);
    return results;
  } finally {
    held?.release();
  }
}

/**
 * A deploy never moves the cloud to another release or image tag (no backup, no rollback): berth
 * upgrade does. Nor does it run over an upgrade that is not over.
 */
function assertNoUpgradeNeeded(ctx: DeploymentContext): void {
  const configDir = ctx.deployment.configDir;
  const pending = unfinishedUpgrade(configDir);
  if (pending) {
    throw new InputError(
      `the upgrade of restore point ${pending.id} (${describeRelease(pending.from)} → ${describeRelease(pending.to)}) is not over (${pending.state})`,
      `berth upgrade finishes it; berth rollback ${pending.id} undoes it`,
    );
  }
  const deployed = deployedRelease(configDir);
  const wanted = releaseOf(ctx);
  if (deployed && (deployed.release !== wanted.release || deployed.tag !== wanted.tag)) {
    throw new InputError(
      `${join(configDir, 'globals.yml')}: the cloud runs ${describeRelease(deployed)}, and globals.yml names ${describeRelease(wanted)}`,
      'berth upgrade moves it there (preflight, backup, a rollback when a step fails); or put the release and tag it runs back',
    );
  }
}

export function runPostDeploy(ctx: DeploymentContext): void {
  const g = ctx.deployment.globals;
  if (!g.enable_keystone) throw new InputError('keystone is not enabled, so there is no cloud to write credentials for');
  const authUrl = ctx.plan.identityUrl;
  const password = ctx.deployment.passwords.keystone_admin_password!;
  const clouds = adminClouds(ctx.deployment, authUrl, 'public');
  const openrc = [
    '# Source this file to use the admin credentials: . admin-openrc',
    'export OS_AUTH_TYPE=password',
    `export OS_AUTH_URL='${authUrl}'`,
    `export OS_USERNAME='${g.keystone_admin_user}'`,
    `export OS_PASSWORD='${password.replace(/'/g, "'\\''")}'`,
    `export OS_PROJECT_NAME='${g.keystone_admin_project}'`,
    "export OS_USER_DOMAIN_NAME='Default'",
    "export OS_PROJECT_DOMAIN_NAME='Default'",
    `export OS_REGION_NAME='${g.openstack_region_name}'`,
    'export OS_IDENTITY_API_VERSION=3',
    "export OS_INTERFACE='public'",
    '',
  ].join('\n');
  for (const [name, text] of [['clouds.yaml', stringify(clouds)], ['admin-openrc', openrc]] as const) {
    const path = join(ctx.deployment.configDir, name);
    writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    console.log(`wrote ${path} (0600)`);
  }
}

export async function runCheck(ctx: DeploymentContext, format: 'text' | 'json', selection: HostSelection = {}): Promise<void> {
  const rows: { host: string; container: string; state: string; health: string; drift: string }[] = [];
  const { limit } = selectedHosts(ctx, selection.limit);
  const gate = new HostGate(selection.forks ?? DEFAULT_FORKS);
  const containers = ctx.plan.services.flatMap((s) => s.containers).filter((c) => !limit || limit.has(c.host));
  const checked = await Promise.all(
    containers.map(async (c) => {
      if (ctx.unreachable.has(c.host)) return { host: c.host, container: c.name, state: 'host unreachable', health: '-', drift: '-' };
      return gate.run(c.host, async () => {
        const host = ctx.hosts.get(c.host)!;
        const found = await host.inspect(c.name);
        const foreign = found && !isOurs(found.labels, ctx.deploymentId, false) ? (found.labels[LABEL.deployment] ?? 'none') : undefined;
        const actual = foreign === undefined ? found : undefined;
        const dir = join(ctx.plan.configRoot, c.name);
        const action = decide(c, { container: actual, imageId: await host.imageId(c.spec.image), ...(await host.configState(dir)) });
        let health = actual?.health ?? '-';
        // Docker says "starting" until its first interval has passed; ask the healthcheck directly.
        if (actual?.running && health === 'starting') {
          health = (await host.exec(c.name, ['sh', '-c', c.spec.healthcheck.test])).code === 0 ? 'healthy' : 'starting';
        }
        return {
          host: c.host,
          container: c.name,
          state: foreign !== undefined ? `another deployment's (${foreign})` : actual ? (actual.running ? 'running' : `exited (${actual.exitCode})`) : 'missing',
          health,
          // Rendered with an unreachable host's facts missing: its drift cannot be told.
          drift: foreign !== undefined ? '-' : c.needsFactsOf?.length ? `unknown: needs facts of ${c.needsFactsOf.join(', ')}` : action.kind === 'none' ? '-' : `${action.kind}: ${action.reasons.join('; ')}`,
        };
      });
    }),
  );
  rows.push(...checked);
  const bad = rows.filter((r) => r.state !== 'running' || r.health !== 'healthy' || r.drift !== '-');
  const reporter = new DeployReporter(format, ctx.secrets);
  if (format === 'json') console.log(reporter.redact(JSON.stringify({ type: 'check', containers: rows, problems: bad.length })));
  else {
    console.log(reporter.redact(table(['HOST', 'CONTAINER', 'STATE', 'HEALTH', 'DRIFT'], rows.map((r) => [r.host, r.container, r.state, r.health, r.drift]))));
    console.log(bad.length ? `\n${bad.length} container(s) need attention; berth deploy repairs them` : '\nevery container is running, healthy and as configured');
  }
  if (bad.length) process.exitCode = 1;
}

export async function runPs(ctx: DeploymentContext, format: 'text' | 'json'): Promise<void> {
  const rows: string[][] = [];
  const all: object[] = [];
  for (const [name, host] of ctx.hosts) {
    if (ctx.unreachable.has(name)) {
      console.error(`${name}: unreachable: ${ctx.unreachable.get(name)}`);
      continue;
    }
    for (const c of (await host.listContainers(LABEL.deployment, ctx.deploymentId)).sort((a, b) => a.name.localeCompare(b.name))) {
      const state = c.running ? 'running' : `exited (${c.exitCode})`;
      rows.push([name, c.name, c.labels[LABEL.service] ?? '-', c.labels[LABEL.kind] ?? '-', state, c.health ?? '-', c.labels[LABEL.image] ?? '-']);
      all.push({ host: name, name: c.name, service: c.labels[LABEL.service], kind: c.labels[LABEL.kind], state, health: c.health, image: c.labels[LABEL.image] });
    }
  }
  if (format === 'json') console.log(JSON.stringify({ type: 'ps', containers: all }));
  else console.log(table(['HOST', 'NAME', 'SERVICE', 'KIND', 'STATE', 'HEALTH', 'IMAGE'], rows));
}

export async function runLogs(ctx: DeploymentContext, service: string, tail: number): Promise<void> {
  const containers = ctx.plan.services.find((s) => s.service === service)?.containers ?? [];
  if (!containers.length) {
    throw new InputError(`no service "${service}" is deployed`, `deployed: ${ctx.plan.services.map((s) => s.service).join(', ')}`);
  }
  const reporter = new DeployReporter('text', ctx.secrets);
  for (const c of containers) {
    const host = ctx.hosts.get(c.host)!;
    if (ctx.unreachable.has(c.host)) {
      console.log(`==> ${c.host}/${c.name}: host unreachable: ${ctx.unreachable.get(c.host)}`);
      continue;
    }
    if (!(await host.inspect(c.name))) {
      console.log(`==> ${c.host}/${c.name}: container does not exist`);
      continue;
    }
    console.log(`==> ${c.host}/${c.name}`);
    process.stdout.write(reporter.redact(await host.logs(c.name, Number.isFinite(tail) ? tail : 200)));
  }
}

/** stop and destroy: the selected hosts that answer; the others are said, and make the command fail at the end. */
async function reachableSelection(ctx: DeploymentContext, adopt: boolean, selection: HostSelection): Promise<{ hosts: string[]; limit?: Set<string>; lost: string[] }> {
  const { hosts, limit } = selectedHosts(ctx, selection.limit);
  const unreachable = new Map(ctx.unreachable);
  await assertOwnership({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId, adopt, limit, unreachable, forks: selection.forks });
  const lost = hosts.filter((h) => unreachable.has(h));
  for (const h of lost) console.error(`${h}: unreachable, left as it is: ${unreachable.get(h)}`);
  return { hosts: hosts.filter((h) => !unreachable.has(h)), ...(limit ? { limit } : {}), lost };
}

function failIfLost(lost: string[], command: string): void {
  if (lost.length) throw new EngineError(`${command} did not reach ${lost.join(', ')}`, `run it again once ${lost.length > 1 ? 'they answer' : 'it answers'} (--limit ${lost.join(',')})`);
}

export async function runStop(ctx: DeploymentContext, adopt: boolean, selection: HostSelection = {}): Promise<void> {
  const { hosts, lost } = await reachableSelection(ctx, adopt, selection);
  const gate = new HostGate(selection.forks ?? DEFAULT_FORKS);
  const held = lock(ctx, 'berth stop');
  try {
    for (const svc of [...ctx.plan.services].reverse()) {
      await Promise.all(
        svc.containers
          .filter((c) => hosts.includes(c.host))
          .map((c) =>
            gate.run(c.host, async () => {
              await ctx.hosts.get(c.host)!.stop(c.name, c.stopTimeoutSeconds);
              console.log(`${c.host}: stopped ${c.name}`);
            }),
          ),
      );
    }
  } finally {
    held.release();
  }
  failIfLost(lost, 'stop');
}

export async function runDestroy(ctx: DeploymentContext, adopt: boolean, selection: HostSelection = {}): Promise<void> {
  const { hosts, limit, lost } = await reachableSelection(ctx, adopt, selection);
  const gate = new HostGate(selection.forks ?? DEFAULT_FORKS);
  const held = lock(ctx, 'berth destroy');
  try {
    await Promise.all(hosts.map((name) => gate.run(name, () => destroyHost(ctx, name, ctx.hosts.get(name)!, adopt))));
    // What the cloud was deployed with is forgotten only once the whole cloud is gone.
    if (!limit && !lost.length) {
      forgetAppliedSecrets(ctx.deployment.configDir);
      forgetDeployedInputs(ctx.deployment.configDir);
      // Their database backups were in the volumes just removed.
      forgetRestorePoints(ctx.deployment.configDir);
    }
  } finally {
    held.release();
  }
  failIfLost(lost, 'destroy');
  console.log(
    [
      'destroyed. Kept:',
      `  ${ctx.deployment.configDir}: globals.yml, passwords.yml, the inventory, config/ overrides, deployment-id (a deploy makes the same cloud again)`,
      "  the images (docker image ls; berth build makes them again from its cache), build logs and Tempest results under /var/log/berth",
    ].join('\n'),
  );
}

/** Everything of this deployment on one host: containers, jobs and tool runs, volumes, config, and the host setup. */
async function destroyHost(ctx: DeploymentContext, name: string, host: Host, adopt: boolean): Promise<void> {
  const all = await host.listAll();
  // A TCP host's files container removes the config directories: it goes last.
  const ours = all.filter((c) => isOurs(c.labels, ctx.deploymentId, adopt) && c.labels[LABEL.kind] !== 'files');
  // A volume's labels cannot change: one made before ids, or adopted, is ours when our containers mount it.
  const mounted = new Set(ours.flatMap((c) => c.volumes));
  for (const c of ours) {
    await removeWithFiles(host, ctx.plan.configRoot, c.name);
    console.log(`${name}: removed ${c.labels[LABEL.kind] === 'tool' ? 'tool container' : 'container'} ${c.name}`);
  }
  // Also the config of planned containers that never got created (an interrupted deploy).
  for (const svc of ctx.plan.services) {
    for (const c of [...svc.containers, ...svc.jobs]) if (c.host === name) await host.removeDir(join(ctx.plan.configRoot, c.name));
  }
  // Host state the services set up (namespaces, bridges, rules), enabled or not, once their containers are gone.
  const teardown = [...ctx.plan.services.flatMap((s) => s.teardown), ...ctx.plan.retiredTeardown].filter((j) => j.host === name);
  for (const job of teardown) {
    if (!(await host.imageId(job.spec.image))) {
      console.error(`${name}: ${job.name} skipped: image ${job.spec.image} is not on the host`);
      continue;
    }
    try {
      await runToCompletion(host, ctx.plan.configRoot, job, ctx.deploymentId, 5 * 60_000);
      for (const line of (await host.logs(job.name, 'all')).split('\n')) if (/^removed /.test(line)) console.log(`${name}: ${line}`);
    } finally {
      await removeWithFiles(host, ctx.plan.configRoot, job.name);
    }
  }
  // Volumes last: the teardown jobs mount the log volume.
  const planned = new Set(ctx.plan.volumes[name] ?? []);
  for (const v of await host.volumes()) {
    const owner = v.labels[LABEL.deployment];
    const mine = isOurVolume(v, mounted, ctx.deploymentId) || (adopt && (owner !== undefined || planned.has(v.name)));
    if (mine && (await host.removeVolume(v.name))) console.log(`${name}: removed volume ${v.name}`);
  }
  for (const c of all.filter((x) => x.labels[LABEL.kind] === 'files' && isOurs(x.labels, ctx.deploymentId, adopt))) {
    await host.remove(c.name);
    console.log(`${name}: removed files container ${c.name}`);
  }
}
