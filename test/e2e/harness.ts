// Shared by end-to-end tests: they need a real Docker Engine. In CI a missing engine is a failure;
// elsewhere the suite says clearly that it did not run.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { detectOvsDatapath } from '../../src/config/init.js';
import { defaultRelease, releaseNamed } from '../../src/config/releases.js';

/** The deployment id every e2e cloud shares; tests of "another deployment" make their own. */
export const E2E_DEPLOYMENT_ID = 'berth-e2e-0000-0000';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export function dockerAvailable(): boolean {
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  if (process.env.CI) throw new Error('e2e tests need Docker Engine and CI must have one: run scripts/host-setup.sh');
  console.error('# e2e: no Docker Engine answers; these tests are skipped (scripts/host-setup.sh installs one)');
  return false;
}

export function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input,
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Runs and returns stdout; throws with stderr when the command fails. */
export function ok(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** What berth init chooses here: netdev on a kernel without the openvswitch module. */
export const ovsDatapath = detectOvsDatapath().value;

/** The default release's image tag: what the suites deploy unless they name a release. */
export const imageTag = defaultRelease;

/** The berth CLI from this checkout, run as an operator would run it. */
export function berth(args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  // Tests read words: picocolors colours output when CI is set, NO_COLOR turns that off.
  return sh(`${repoRoot}/berth`, args, { env: { ...process.env, NO_COLOR: '1', ...env } });
}

/**
 * A temporary folder for a suite, removed when the test process exits (also when the suite was
 * skipped or failed) unless BERTH_E2E_KEEP is set.
 */
export function e2eTempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `berth-e2e-${name}-`));
  process.on('exit', () => {
    if (!process.env.BERTH_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/**
 * A deployment made by a test: its own config directory in a temporary folder, every service on a
 * loopback address, and every output kept so a test can check that no secret was printed.
 */
export class TestCloud {
  readonly work: string;
  readonly configDir: string;
  readonly nodeConfig: string;
  /** Mounted at /x in the openstack client's container. */
  readonly data: string;
  readonly outputs: string[] = [];
  /** The image tag of its release (openstack_release in writeConfig's lines, else the default). */
  tag: string = imageTag;

  constructor(name: string) {
    this.work = e2eTempDir(name);
    this.configDir = join(this.work, 'etc');
    this.nodeConfig = join(this.work, 'node-config');
    this.data = join(this.work, 'data');
    mkdirSync(this.configDir, { recursive: true });
    mkdirSync(this.data, { recursive: true });
    // Every suite's cloud is the same deployment to berth, so a suite's destroy removes what an
    // earlier suite (or a killed run) left, as it would for an operator's re-created config dir.
    writeFileSync(join(this.configDir, 'deployment-id'), `${E2E_DEPLOYMENT_ID}\n`);
  }

  /** globals.yml binding everything to 127.0.0.2, plus the given lines; an all-in-one inventory. */
  writeConfig(globals: string[]): void {
    const release = globals.map((l) => /^openstack_release:\s*"?([^"\s]+)"?/.exec(l)?.[1]).find((r) => r !== undefined);
    if (release) this.tag = releaseNamed(release).name;
    // The datapath berth init would write on this machine, unless the suite names one.
    if (!globals.some((l) => l.startsWith('ovs_datapath_type:'))) globals = [...globals, `ovs_datapath_type: ${ovsDatapath}`];
    const lines = ['# e2e: every service on loopback', 'network_interface: lo', 'kolla_internal_vip_address: 127.0.0.2', `node_config_directory: ${this.nodeConfig}`, ...globals, ''];
    writeFileSync(join(this.configDir, 'globals.yml'), lines.join('\n'));
    writeFileSync(join(this.configDir, 'all-in-one'), '[control]\nlocalhost ansible_connection=local\n\n[network:children]\ncontrol\n\n[compute:children]\ncontrol\n\n[deployment:children]\ncontrol\n');
  }

  run(args: string[], dir = this.configDir): { status: number | null; out: string; err: string } {
    const r = berth(['--config-dir', dir, ...args]);
    this.outputs.push(r.stdout, r.stderr);
    return { status: r.status, out: r.stdout, err: r.stderr };
  }

  /** The real OpenStack client (toolbox image) with the clouds.yaml post-deploy wrote. */
  openstack(args: string[]): string {
    const r = sh('docker', [
      'run', '--rm', '--network', 'host',
      '-v', `${join(this.configDir, 'clouds.yaml')}:/etc/openstack/clouds.yaml:ro`,
      '-v', `${this.data}:/x`,
      `berth/toolbox:${this.tag}`, 'openstack', '--os-cloud', 'berth-admin', ...args,
    ]);
    this.outputs.push(r.stdout, r.stderr);
    if (r.status !== 0) throw new Error(`openstack ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * `server create` and a wait for ACTIVE, returning `server show` as JSON. The client's own --wait
   * gives up on the first poll that reads ERROR and says only "Error creating server" (CI saw that
   * once, for a server nova then built; no fault recorded): this poll keeps every status it read,
   * and an ERROR fails with the server's fault and events unless nova reports it ACTIVE within 30 s,
   * which is said as a diagnostic.
   */
  async createServer(name: string, args: string[], diagnostic: (msg: string) => void = console.log): Promise<Record<string, unknown>> {
    this.openstack(['server', 'create', ...args, name]);
    const seen: string[] = [];
    let errorSince: number | undefined;
    const deadline = Date.now() + 300_000;
    for (;;) {
      const server = JSON.parse(this.openstack(['server', 'show', name, '-f', 'json'])) as Record<string, unknown>;
      const status = String(server.status);
      if (seen.at(-1) !== status) seen.push(status);
      if (status === 'ACTIVE') {
        if (errorSince !== undefined) diagnostic(`server ${name} read ERROR, then ACTIVE: ${seen.join(' → ')}`);
        return server;
      }
      if (status === 'ERROR') errorSince ??= Date.now();
      if ((errorSince !== undefined && Date.now() - errorSince > 30_000) || Date.now() > deadline) {
        const events = this.openstack(['server', 'event', 'list', name, '--long', '-f', 'json']);
        throw new Error(`server ${name}: ${seen.join(' → ')}; fault: ${JSON.stringify(server.fault)}; events: ${events}`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  /**
   * What an upgrade must keep, each named `<prefix>-…`: a project, an image, a network with a subnet
   * and a router, a Heat stack, and a server of the flavor `<prefix>-tiny` made with `serverArgs`
   * (its network or `--nic none`). Checked by assertResources.
   */
  async makeResources(prefix: string, subnetRange: string, serverArgs: string[], diagnostic: (msg: string) => void): Promise<void> {
    const os = this.openstack.bind(this);
    os(['project', 'create', prefix]);
    writeFileSync(join(this.data, `${prefix}.raw`), randomBytes(256 * 1024));
    os(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', `/x/${prefix}.raw`, `${prefix}-image`]);
    os(['network', 'create', `${prefix}-net`]);
    os(['subnet', 'create', '--network', `${prefix}-net`, '--subnet-range', subnetRange, `${prefix}-subnet`]);
    os(['router', 'create', `${prefix}-router`]);
    os(['router', 'add', 'subnet', `${prefix}-router`, `${prefix}-subnet`]);
    writeFileSync(join(this.data, `${prefix}-stack.yaml`), 'heat_template_version: 2018-08-31\nresources:\n  secret: {type: OS::Heat::RandomString, properties: {length: 16}}\n');
    os(['stack', 'create', '-t', `/x/${prefix}-stack.yaml`, '--wait', `${prefix}-stack`]);
    os(['flavor', 'create', '--ram', '64', '--disk', '1', '--vcpus', '1', `${prefix}-tiny`]);
    await this.createServer(`${prefix}-server`, [...serverArgs, '--flavor', `${prefix}-tiny`, '--image', `${prefix}-image`], diagnostic);
    this.assertResources(prefix);
  }

  /** makeResources' resources are there and in working states. */
  assertResources(prefix: string): void {
    const field = (kind: string, name: string, column: string): string => this.openstack([kind, 'show', name, '-f', 'value', '-c', column]).trim();
    assert.equal(field('project', prefix, 'name'), prefix);
    assert.equal(field('image', `${prefix}-image`, 'status'), 'active');
    assert.equal(field('router', `${prefix}-router`, 'status'), 'ACTIVE');
    assert.equal(field('network', `${prefix}-net`, 'status'), 'ACTIVE');
    assert.equal(field('stack', `${prefix}-stack`, 'stack_status'), 'CREATE_COMPLETE');
    assert.equal(field('server', `${prefix}-server`, 'status'), 'ACTIVE');
  }

  /** The compute API's highest microversion: 2.93 on Zed, 2.96 or more on 2025.1. */
  computeMicroversion(): string {
    const versions = JSON.parse(this.openstack(['versions', 'show', '--service', 'compute', '--interface', 'public', '-f', 'json'])) as { 'Max Microversion': string | null }[];
    return versions.map((v) => v['Max Microversion']).find((m) => m) ?? '';
  }

  /** `berth check` finds nothing to report. */
  checkClean(): void {
    const r = this.run(['check']);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
  }

  /**
   * A clean host: whatever an earlier run left goes first (destroy needs a valid config), whichever
   * deployment made it (--adopt): a suite killed halfway may have left another id's objects.
   */
  destroy(): void {
    for (const cmd of [['genpwd'], ['destroy', '--adopt', '--yes-i-really-really-mean-it']]) {
      const r = this.run(cmd);
      if (r.status !== 0) throw new Error(`berth ${cmd[0]}: ${r.err}`);
    }
  }

  /** After the suite: destroy the deployment and the folder, unless BERTH_E2E_KEEP is set (to look at both). */
  teardown(): void {
    if (process.env.BERTH_E2E_KEEP) return void console.log(`# BERTH_E2E_KEEP: the deployment and its config dir ${this.configDir} are kept`);
    this.run(['destroy', '--yes-i-really-really-mean-it']);
    rmSync(this.work, { recursive: true, force: true });
  }

  /**
   * Every value of passwords.yml: in none of the outputs kept, in no `docker inspect` of a managed
   * container (environment, arguments, labels), on no process's command line. Returns the secrets.
   */
  assertNoSecretLeaked(): string[] {
    const passwords = parse(readFileSync(join(this.configDir, 'passwords.yml'), 'utf8')) as Record<string, string>;
    const secrets = Object.values(passwords).filter((v) => v.length >= 6);
    const ids = ok('docker', ['ps', '-aq', '--filter', 'label=berth.managed=true']).trim().split('\n');
    const inspect = ok('docker', ['inspect', ...ids]);
    const processes = ok('ps', ['-eo', 'args']);
    for (const secret of secrets) {
      assert.ok(!this.outputs.some((o) => o.includes(secret)), 'a secret was printed');
      assert.ok(!inspect.includes(secret), 'a secret is in docker inspect');
      assert.ok(!processes.includes(secret), 'a secret is on a command line');
    }
    return secrets;
  }
}

export function startedAt(containers: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of containers) out[c] = ok('docker', ['inspect', '-f', '{{.State.StartedAt}}', c]).trim();
  return out;
}
