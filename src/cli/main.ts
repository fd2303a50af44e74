#!/usr/bin/env node
// The berth command. Parses arguments, loads configuration, calls one workflow, prints, and maps
// errors to exit codes: 0 ok, 1 failed, 2 bad usage or input.
import { Command, Option } from '@commander-js/extra-typings';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findInventory } from '../config/deployment.js';
import { fileURLToPath } from 'node:url';
import { registerBootstrapCommands } from './bootstrap-commands.js';
import { registerMariadbCommands } from './mariadb-commands.js';
import { registerUpgradeCommands } from './upgrade-commands.js';
import { registerSshCommands } from './ssh-commands.js';
import { registerDeployCommands, runDeploy, runGenpwd, runInit, runPostDeploy, runPrechecks } from './deploy-commands.js';
import { closeHosts, loadContext } from '../deployment/context.js';
import { buildImages, imageRoots } from '../build/builder.js';
import { formatTree, loadImageTree, selectImages } from '../build/image-tree.js';
import { pushImages, type PushResult } from '../build/push.js';
import { registryMode } from '../plan/images.js';
import { ensureRegistry, registrySite, withRegistry } from '../deployment/registry.js';
import { loadBuildConfig, type BuildConfig } from '../config/build-config.js';
import { InputError } from '../config/errors.js';
import { Engine, EngineError } from '../engine/docker.js';
import { BuildReporter } from '../ui/build-report.js';
import { formatDuration } from '../ui/format.js';

let debug = false;

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('berth')
  .version(version)
  .description('Build OpenStack service images and deploy them onto Docker hosts')
  .option('--config-dir <dir>', 'directory holding globals.yml, passwords.yml, the inventory', '/etc/berth')
  .option('--debug', 'print stack traces of unexpected errors', false)
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json'] as const).default('text' as const))
  .hook('preAction', (cmd) => {
    debug = cmd.opts().debug;
  });

program
  .command('build')
  .description('build the image tree (all images, or the named ones and their ancestors)')
  .argument('[images...]', 'image names or regular expressions')
  .option('--list', 'print the image tree and exit', false)
  .option('--concurrency <n>', 'images built at once (default: number of cores)', parsePositiveInt)
  .option('--log-dir <dir>', 'where each image build log is written', '/var/log/berth/build')
  .action(async (patterns, opts) => {
    const global = program.opts();
    const config = loadBuildConfig(global.configDir);
    if (opts.list) {
      console.log(formatTree(loadImageTree(imageRoots(config), config.release)));
      return;
    }
    await runBuild(config, patterns, opts.logDir, opts.concurrency);
  });

program
  .command('up')
  .description('the all-in-one: prepare this host, init if needed, genpwd, build, prechecks, deploy, post-deploy')
  .option('--log-dir <dir>', 'where each image build log is written', '/var/log/berth/build')
  .action(async (opts) => {
    const { configDir, format } = program.opts();
    const step = (name: string): void => console.log(`\n==> ${name}`);
    step('host setup');
    await runHostSetup();
    const hasInventory = ['all-in-one', 'multinode'].some((f) => existsSync(join(configDir, f)));
    // init never overwrites, so it only fills in what the operator has not written.
    if (!existsSync(join(configDir, 'globals.yml')) || !hasInventory) {
      step('init');
      runInit(configDir);
    }
    step('genpwd');
    runGenpwd(configDir);
    step('build');
    await runBuild(loadBuildConfig(configDir), [], opts.logDir, undefined);
    const ctx = await loadContext(configDir);
    for (const w of ctx.warnings) console.error(`warning: ${w}`);
    step('prechecks');
    await runPrechecks(ctx);
    step('deploy');
    await runDeploy(ctx, format, { dryRun: false, command: 'up' });
    step('post-deploy');
    runPostDeploy(ctx);
    const clouds = join(configDir, 'clouds.yaml');
    console.log(
      `\nThe cloud is up. Try the OpenStack client from the toolbox image:\n` +
        `  docker run --rm --network host -v ${clouds}:/etc/openstack/clouds.yaml:ro berth/toolbox:zed openstack --os-cloud berth-admin token issue`,
    );
  });

registerDeployCommands(program);
registerSshCommands(program);
registerBootstrapCommands(program);
registerMariadbCommands(program);
registerUpgradeCommands(program);

async function runBuild(config: BuildConfig, patterns: string[], logDir: string, concurrency: number | undefined): Promise<void> {
  const format = program.opts().format;
  const engine = new Engine();
  await engine.ping();
  const total = selectImages(loadImageTree(imageRoots(config), config.release), patterns).size + (config.baseImage ? 0 : 1);
  const reporter = new BuildReporter(format, total);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const results = await buildImages({
    config,
    engine,
    patterns,
    logDir,
    concurrency,
    signal: controller.signal,
    onEvent: reporter.onEvent,
  });
  reporter.summary(results);
  if (results.some((r) => r.status === 'failed' || r.status === 'skipped')) {
    throw new EngineError('some images did not build', `see the logs in ${logDir}`);
  }
}

/** Bootstraps this machine as a host: the same script the test command uses. */
function runHostSetup(): Promise<void> {
  const script = fileURLToPath(new URL('../../scripts/host-setup.sh', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(script, [], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new EngineError(`host setup failed (exit ${code})`, 'see its output above')),
    );
  });
}

program
  .command('push')
  .description('push built images to the configured registry')
  .argument('[images...]', 'image names or regular expressions')
  .action(async (patterns) => {
    const global = program.opts();
    const t0 = Date.now();
    const config = loadBuildConfig(global.configDir);
    const engine = new Engine();
    await engine.ping();
    const say = (line: string): void => void (global.format === 'json' ? console.log(JSON.stringify({ type: 'registry', message: line })) : console.log(line));
    const push = (): Promise<PushResult[]> =>
      pushImages(config, engine, patterns, (r) => {
        if (global.format === 'json') console.log(JSON.stringify({ type: 'push', ...r }));
        else console.log(`${r.ok ? 'pushed' : 'FAILED'}  ${r.ref} (${formatDuration(r.durationMs)}, ${r.attempts} attempt(s))${r.error ? `: ${r.error}` : ''}`);
      });
    let results: PushResult[];
    // berth's own registry serves a deployment; a config directory with only build settings pushes
    // to whatever answers at that address, as before.
    const deployment = existsSync(join(global.configDir, 'globals.yml')) && findInventory(global.configDir) !== undefined;
    if (deployment && registryMode(config.registry).kind === 'loopback') {
      // berth's own registry: on the deployment host, started first; reached through SSH when that host is remote.
      const ctx = await loadContext(global.configDir);
      const site = registrySite(ctx)!;
      await ensureRegistry(site, ctx.build, ctx.deploymentId, say);
      results = await withRegistry(site, undefined, push);
    } else {
      results = await push();
    }
    const failed = results.filter((r) => !r.ok).length;
    if (global.format === 'text') console.log(`\n${results.length - failed} pushed, ${failed} failed in ${formatDuration(Date.now() - t0)}`);
    if (failed) process.exitCode = 1;
  });

function parsePositiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`expected a positive whole number, got "${v}"`);
  return n;
}

try {
  await program.parseAsync();
} catch (err) {
  process.exitCode = reportError(err);
} finally {
  await closeHosts();
}

function reportError(err: unknown): number {
  if (err instanceof InputError) {
    console.error(`berth: ${err.message}${err.hint ? `\n  → ${err.hint}` : ''}`);
    return 2;
  }
  if (err instanceof EngineError) {
    console.error(`berth: ${err.message}${err.hint ? `\n  → ${err.hint}` : ''}`);
    return 1;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  console.error(`berth: ${e.message}${debug ? `\n${e.stack}` : '\n  (run with --debug for details)'}`);
  return 1;
}

