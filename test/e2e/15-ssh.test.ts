// The SSH transport against real hosts: test-host containers (test/hosts) running OpenSSH's sshd
// and Docker Engine from Debian's packages. Through SshHost: the Docker API (ping, a real image
// loaded, a container run through the Kolla contract, exec, logs, tool runs), config directories
// with their modes checked inside the host, one SSH connection per host, host key checks and
// ssh-keyscan, and each failure an operator meets said in one line.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { InputError } from '../../src/config/errors.js';
import { EngineError } from '../../src/engine/docker.js';
import { fingerprint } from '../../src/engine/known-hosts.js';
import { SshHost } from '../../src/engine/ssh-host.js';
import type { SshTarget } from '../../src/engine/ssh.js';
import type { ContainerSpec } from '../../src/plan/types.js';
import { BASE_IMAGE, inHost, removeTestHosts, sshdLogins, startTestHosts, testKey, waitReady, type TestHost } from '../hosts/hosts.js';
import { berth, dockerAvailable, e2eTempDir } from './harness.js';

const hasDocker = dockerAvailable();
const hasBase = hasDocker && spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0;
if (hasDocker && !hasBase) console.error(`# e2e ssh: ${BASE_IMAGE} is missing (the 10-images suite builds it); skipped`);

const work = e2eTempDir('ssh');
const configDir = join(work, 'config');
const knownHostsFile = join(configDir, 'known_hosts');
let key: { privateKeyFile: string; publicKey: string };
let hosts: Record<'root' | 'become' | 'bare' | 'sudopw', TestHost>;
const opened: SshHost[] = [];

function sshHost(h: TestHost, over: Partial<SshTarget> = {}): SshHost {
  const host = new SshHost({
    name: h.container,
    address: h.address,
    port: 22,
    user: h.user,
    become: h.user !== 'root',
    privateKeyFile: key.privateKeyFile,
    knownHostsFile,
    ...over,
  });
  opened.push(host);
  return host;
}

const spec = (image: string, configDir: string): ContainerSpec => ({
  image,
  environment: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
  volumes: [`${configDir}:/var/lib/kolla/config_files:ro`],
  capAdd: [],
  healthcheck: { test: 'true', intervalSeconds: 30, retries: 3, startPeriodSeconds: 5, timeoutSeconds: 10 },
  networkMode: 'host',
  restartPolicy: 'no',
});

describe('SSH hosts (test-host containers)', { skip: !hasBase }, () => {
  before(async () => {
    key = testKey(join(work, 'key'));
    // Slots 21-24: apart from the hosts scripts/test-hosts starts (11 and up).
    const started = startTestHosts(
      [
        { name: 'ssh-root', image: 'docker', slot: 21 },
        { name: 'ssh-become', image: 'docker', user: 'deploy', sudo: 'nopasswd', slot: 22 },
        { name: 'ssh-bare', image: 'sshd', slot: 23 },
        { name: 'ssh-sudopw', image: 'sshd', user: 'deploy', sudo: 'password', slot: 24 },
      ],
      key.publicKey,
    );
    hosts = { root: started[0]!, become: started[1]!, bare: started[2]!, sudopw: started[3]! };
    await waitReady(started);
    const inventory = started.map((h) => `${h.container} ansible_host=${h.address} ansible_user=${h.user} ansible_ssh_private_key_file=${key.privateKeyFile}${h.user === 'root' ? '' : ' ansible_become=yes'}`);
    spawnSync('mkdir', ['-p', configDir]);
    writeFileSync(join(configDir, 'multinode'), `[control]\n${inventory.slice(0, 2).join('\n')}\n[compute]\n${inventory.slice(2).join('\n')}\n`);
  });

  // BERTH_TH_KEEP=1 leaves the hosts up to look into (scripts/test-hosts down removes them).
  after(async () => {
    await Promise.all(opened.map((h) => h.close()));
    if (hosts && !process.env.BERTH_TH_KEEP) removeTestHosts(Object.values(hosts));
  });

  test('an unknown host is refused, saying to run berth ssh-keyscan', async () => {
    await assert.rejects(sshHost(hosts.root).ping(), (e: Error) => {
      assert.ok(e instanceof InputError, e.message);
      assert.match(e.message, /host berth-th-ssh-root \(root@[\d.]+:22\): host key not known \(ssh-ed25519 SHA256:/);
      assert.match(e.hint ?? '', /berth ssh-keyscan/);
      return true;
    });
  });

  test('berth ssh-keyscan shows and records every host key; a second run finds them unchanged', () => {
    const first = berth(['--config-dir', configDir, 'ssh-keyscan']);
    assert.equal(first.status, 0, first.stderr);
    for (const h of Object.values(hosts)) assert.match(first.stdout, new RegExp(`${h.container} \\(${h.address}:22\\): ssh-ed25519 SHA256:\\S+: new, recorded in`));
    // The format is OpenSSH's: its ssh accepts the file as it is.
    const openssh = spawnSync('ssh', ['-i', key.privateKeyFile, '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${hosts.root.address}`, 'true'], { encoding: 'utf8' });
    if (openssh.error === undefined) assert.equal(openssh.status, 0, openssh.stderr);
    const second = berth(['--config-dir', configDir, 'ssh-keyscan']);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout.match(/known, unchanged/g)?.length, 4);
  });

  test('Docker through one SSH connection: a real image loaded, a container run through the Kolla contract, exec, logs, tools', async (t) => {
    for (const h of [hosts.root, hosts.become]) {
      const loginsBefore = sshdLogins(h);
      const host = sshHost(h);
      let t0 = performance.now();
      const version = await host.ping();
      t.diagnostic(`${h.container} (${h.user}${h.user === 'root' ? '' : ', sudo'}): connect + ping ${Math.round(performance.now() - t0)} ms, Docker ${version}`);

      // berth/base from this machine, streamed into the host's engine (POST /images/load).
      t0 = performance.now();
      const save = spawn('docker', ['save', BASE_IMAGE], { stdio: ['ignore', 'pipe', 'inherit'] });
      await host.engine.loadImages(save.stdout);
      t.diagnostic(`${h.container}: loaded ${BASE_IMAGE} in ${Math.round(performance.now() - t0)} ms`);
      assert.ok(await host.imageId(BASE_IMAGE));

      // A container as deploy makes one: config directory written, then create, start, exec, logs.
      const dir = '/etc/berth/th-probe';
      const config = JSON.stringify({
        command: 'sh -c "echo probe-started; exec sleep infinity"',
        config_files: [{ source: '/var/lib/kolla/config_files/probe.conf', dest: '/etc/probe.conf', owner: 'root', perm: '0600' }],
      });
      assert.equal(await host.syncDir(dir, { 'config.json': config, 'probe.conf': 'token = s3cret\n' }), true);
      await host.remove('th_probe');
      await host.create('th_probe', spec(BASE_IMAGE, dir), { 'berth.test': 'ssh' });
      await host.start('th_probe');
      for (let i = 0; i < 40 && !(await host.logs('th_probe')).includes('probe-started'); i++) await new Promise((r) => setTimeout(r, 250));
      const probe = await host.inspect('th_probe');
      assert.equal(probe?.running, true, await host.logs('th_probe'));
      assert.deepEqual(await host.exec('th_probe', ['cat', '/etc/probe.conf']), { code: 0, output: 'token = s3cret\n' });
      assert.equal((await host.exec('th_probe', ['sh', '-c', 'echo out; echo err >&2; exit 3'])).code, 3);
      assert.match(await host.logs('th_probe', 'all'), /probe-started/);
      // Quick execs at once, as health probes come: each one's output, end and close can arrive
      // with the upgrade, before the caller listens; none may wait out its timeout (before the
      // fix, 9 of 300 did through sudo's dial-stdio).
      t0 = performance.now();
      const quick = await Promise.all(Array.from({ length: 60 }, (_, i) => host.exec('th_probe', ['echo', `q${i}`], '', 20_000)));
      assert.deepEqual(quick, quick.map((_, i) => ({ code: 0, output: `q${i}\n` })));
      t.diagnostic(`${h.container}: 60 execs at once ${Math.round(performance.now() - t0)} ms`);
      assert.deepEqual((await host.listContainers('berth.test', 'ssh')).map((c) => c.name), ['th_probe']);
      await host.stop('th_probe');
      await host.remove('th_probe');
      assert.equal(await host.inspect('th_probe'), undefined);

      const tool = await host.runTool({ image: BASE_IMAGE, cmd: ['sh', '-c', 'echo tool-ran; exit 4'], files: [], labels: { 'berth.test': 'ssh-tool' } });
      assert.deepEqual(tool, { code: 4, output: 'tool-ran\n' });
      await host.ensureVolume('th_vol', { 'berth.test': 'ssh' });
      assert.ok((await host.volumes()).some((v) => v.name === 'th_vol' && v.labels['berth.test'] === 'ssh'));
      assert.equal(await host.removeVolume('th_vol'), true);

      // Many calls at once, as a deploy makes them: all on the one connection, within the channel cap.
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? host.listAll() : host.configState(dir))));
      t0 = performance.now();
      await host.listAll();
      await host.volumes();
      t.diagnostic(`${h.container}: warm listAll + volumes ${Math.round(performance.now() - t0)} ms`);
      await host.removeDir(dir);
      assert.equal(host.ssh.connects, 1);
      assert.equal(sshdLogins(h) - loginsBefore, 1, 'sshd saw one login for all of it');
      t.diagnostic(`${h.container}: ${host.ssh.channels} channels on 1 connection, at most ${host.ssh.maxOpenChannels} open at once`);
    }
  });

  test('config directories: root-owned 0700 and 0600 inside the host, atomic writes, marker and mtimes read back', async () => {
    for (const h of [hosts.root, hosts.become]) {
      const host = sshHost(h);
      const dir = '/etc/berth/th-files';
      assert.equal(await host.syncDir(dir, { 'a.conf': 'password = x\n', 'b.json': '{}' }), true);
      assert.equal(await host.syncDir(dir, { 'a.conf': 'password = x\n', 'b.json': '{}' }), false);
      assert.equal(inHost(h, `stat -c '%a %U' ${dir} ${dir}/a.conf ${dir}/b.json`).stdout, '700 root\n600 root\n600 root\n');
      await host.writeMarker(dir, 'run-1');
      assert.equal(await host.syncDir(dir, { 'a.conf': 'password = y\n' }), true);
      assert.equal(inHost(h, `ls -A ${dir}`).stdout, '.applied\na.conf\n', 'b.json removed, no temporary left');
      const state = await host.configState(dir);
      assert.deepEqual(state.files, { 'a.conf': 'password = y\n' });
      assert.equal(state.marker, 'run-1');
      const mtime = Number(inHost(h, `stat -c %.9Y ${dir}/a.conf`).stdout) * 1000;
      assert.ok(Math.abs(state.filesWrittenAt! - mtime) < 1, `${state.filesWrittenAt} vs ${mtime}`);
      assert.deepEqual(await host.readDir(dir), { 'a.conf': 'password = y\n' });
      await host.removeDir(dir);
      assert.equal(await host.readDir(dir), undefined);
      assert.equal(inHost(h, `test -e ${dir}`).code, 1);
      const facts = await host.kernelModule('openvswitch');
      assert.match(facts.kernelRelease, /^\d+\.\d+/);
    }
  });

  test('the secret contents never reach a command line on the host', async () => {
    // Every command berth sends is a fixed script with paths for arguments; contents go on stdin.
    const host = sshHost(hosts.become);
    const commands: string[] = [];
    const run = host.ssh.run.bind(host.ssh);
    host.ssh.run = (command, stdin) => (commands.push(command), run(command, stdin));
    await host.syncDir('/etc/berth/th-secret', { 'k.conf': 'password = TOPSECRET-4711\n' });
    await host.removeDir('/etc/berth/th-secret');
    assert.ok(commands.length >= 2);
    assert.ok(commands.every((c) => !c.includes('TOPSECRET')));
    assert.ok(commands.every((c) => c.startsWith('sudo -n sh -c ')));
  });

  test('a changed host key is refused with both fingerprints; ssh-keyscan refuses it too, --replace takes it', async () => {
    const before = readFileSync(knownHostsFile, 'utf8');
    const oldKey = Buffer.from(before.split('\n').find((l) => l.startsWith(`${hosts.root.address} `))!.split(' ')[2]!, 'base64');
    const regen = inHost(hosts.root, 'rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -A && kill -HUP "$(cat /run/sshd.pid)"');
    assert.equal(regen.code, 0, regen.stderr);
    await new Promise((r) => setTimeout(r, 500));
    const newKey = Buffer.from(inHost(hosts.root, 'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub').stdout.trim(), 'base64');
    await assert.rejects(sshHost(hosts.root).ping(), (e: Error) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /HOST KEY CHANGED/);
      assert.ok(e.message.includes(fingerprint(oldKey)) && e.message.includes(fingerprint(newKey)), e.message);
      return true;
    });
    const scan = berth(['--config-dir', configDir, 'ssh-keyscan', hosts.root.container]);
    assert.equal(scan.status, 2);
    assert.match(scan.stderr, /HOST KEY CHANGED: recorded .*the host shows .*NOT recorded/);
    assert.equal(readFileSync(knownHostsFile, 'utf8'), before, 'never overwritten without --replace');
    const replace = berth(['--config-dir', configDir, 'ssh-keyscan', '--replace', hosts.root.container]);
    assert.equal(replace.status, 0, replace.stderr);
    assert.ok(replace.stdout.includes(fingerprint(oldKey)) && replace.stdout.includes(fingerprint(newKey)));
    assert.ok(await sshHost(hosts.root).ping());
  });

  test('a wrong user or key is a refused login, named', async () => {
    await assert.rejects(sshHost(hosts.root, { user: 'nosuchuser' }).ping(), (e: Error) => e instanceof EngineError && /login refused for nosuchuser/.test(e.message) && /ansible_user/.test(e.hint ?? ''));
    const wrong = join(work, 'wrong_key');
    writeFileSync(wrong, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
    await assert.rejects(sshHost(hosts.root, { privateKeyFile: wrong }).ping(), new RegExp(`login refused for root \\(tried ${wrong}\\)`));
  });

  test('a host without Docker says to run bootstrap-servers; sudo wanting a password says so', async () => {
    await assert.rejects(sshHost(hosts.bare).ping(), (e: Error) => e instanceof EngineError && /berth-th-ssh-bare .*Docker Engine is not installed/.test(e.message) && /bootstrap-servers/.test(e.hint ?? ''));
    await assert.rejects(sshHost(hosts.sudopw).ping(), (e: Error) => e instanceof EngineError && /sudo asks deploy for a password/.test(e.message) && /NOPASSWD/.test(e.hint ?? ''));
    // Files need root too: the same message, not a tar error.
    await assert.rejects(sshHost(hosts.sudopw).readDir('/etc/berth/x'), /sudo asks deploy for a password/);
  });

  test('the CLI prints one line and a hint, no stack trace', () => {
    const r = berth(['--config-dir', configDir, 'ssh-keyscan', 'nosuchhost']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no host "nosuchhost"/);
    assert.ok(!r.stderr.includes('    at '));
  });
});
