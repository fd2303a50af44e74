// The SSH transport without a remote machine: known_hosts parsing and matching, fingerprints,
// error mapping, and SshHost against an in-process ssh2 server that runs commands with this
// machine's sh and forwards the Docker socket to a fake engine (a plain HTTP server).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { InputError } from '../../src/config/errors.js';
import { EngineError } from '../../src/engine/docker.js';
import { isUnreachable } from '../../src/engine/host.js';
import { MODULE_FACTS_SCRIPT, parseModuleFacts, readModuleFacts } from '../../src/engine/kernel-modules.js';
import {
  appendKnownHost,
  entryMatches,
  fingerprint,
  hostKeyAlgorithms,
  hostToken,
  keyType,
  parseKnownHosts,
  readKnownHosts,
  replaceKnownHost,
  verifyHostKey,
} from '../../src/engine/known-hosts.js';
import { authMethods, connectError, MAX_CHANNELS, scanHostKey, shellQuote, SshConnection, sudoRefused } from '../../src/engine/ssh.js';
import { parseHostFacts, SshHost } from '../../src/engine/ssh-host.js';

// Made with ssh-keygen -t ed25519; its fingerprint as ssh-keygen -l prints it.
const PUB = 'AAAAC3NzaC1lZDI1NTE5AAAAIJHzwRN08SrBNNORnwK2asLnJEfPcIFkKxscUCF6LbRO';
const PUB_FP = 'SHA256:Bb/BcKHshcZ1Z9sZqYwCjSyz78rm/PV8rkavh30GMII';
// ssh-keygen -H of "[10.0.0.5]:2222 ssh-ed25519 PUB".
const HASHED = '|1|ss52D2ZvNxwk3ShfHDJ4ufiWZd8=|xKK9eCYItePHqxkpmljxlEI1f04=';
const blob = Buffer.from(PUB, 'base64');

describe('known_hosts', () => {
  test('fingerprints and key types read as OpenSSH prints them', () => {
    assert.equal(fingerprint(blob), PUB_FP);
    assert.equal(keyType(blob), 'ssh-ed25519');
  });

  test('plain, port, hashed, wildcard and negated patterns match as in OpenSSH', () => {
    const entries = parseKnownHosts(
      [
        '# comment',
        `node1,10.0.0.1 ssh-ed25519 ${PUB}`,
        `[10.0.0.2]:2222 ssh-ed25519 ${PUB}`,
        `${HASHED} ssh-ed25519 ${PUB}`,
        `*.example.com,!bad.example.com ssh-ed25519 ${PUB}`,
        `@revoked old ssh-ed25519 ${PUB}`,
        'garbage line',
      ].join('\n'),
    );
    assert.equal(entries.length, 5);
    assert.equal(entries[0]!.line, 2);
    assert.ok(entryMatches(entries[0]!, '10.0.0.1'));
    assert.ok(entryMatches(entries[0]!, 'node1'));
    assert.ok(!entryMatches(entries[0]!, '10.0.0.11'));
    assert.ok(entryMatches(entries[1]!, hostToken('10.0.0.2', 2222)));
    assert.ok(!entryMatches(entries[1]!, '10.0.0.2'), 'a port entry is not the host on 22');
    assert.ok(entryMatches(entries[2]!, '[10.0.0.5]:2222'));
    assert.ok(!entryMatches(entries[2]!, '10.0.0.5'));
    assert.ok(entryMatches(entries[3]!, 'a.example.com'));
    assert.ok(!entryMatches(entries[3]!, 'bad.example.com'));
    assert.equal(entries[4]!.marker, '@revoked');
  });

  test('a host is known, unknown, changed (whatever the type) or revoked', () => {
    const other = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }).public);
    assert.ok(!(other instanceof Error));
    const otherBlob = other.getPublicSSH();
    const entries = parseKnownHosts(`10.0.0.1 ssh-ed25519 ${PUB}\n@revoked 10.0.0.9 ssh-ed25519 ${PUB}\n`);
    assert.equal(verifyHostKey(entries, '10.0.0.1', blob).status, 'known');
    assert.equal(verifyHostKey(entries, '10.0.0.2', blob).status, 'unknown');
    const changed = verifyHostKey(entries, '10.0.0.1', otherBlob);
    assert.equal(changed.status, 'changed');
    assert.equal(verifyHostKey(entries, '10.0.0.9', blob).status, 'revoked');
  });

  test('the recorded key types are asked for first', () => {
    assert.deepEqual(hostKeyAlgorithms(['ssh-rsa']).slice(0, 3), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.equal(hostKeyAlgorithms(['ecdsa-sha2-nistp256'])[0], 'ecdsa-sha2-nistp256');
    assert.equal(hostKeyAlgorithms([]).length, 7);
  });

  test('records append; --replace swaps only that host\'s entries', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'berth-kh-')), 'known_hosts');
    writeFileSync(file, `# mine\nother ssh-ed25519 ${PUB}`);
    appendKnownHost(file, '10.0.0.1', blob);
    assert.equal(readFileSync(file, 'utf8'), `# mine\nother ssh-ed25519 ${PUB}\n10.0.0.1 ssh-ed25519 ${PUB}\n`);
    const other = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ed25519').public);
    assert.ok(!(other instanceof Error));
    replaceKnownHost(file, '10.0.0.1', other.getPublicSSH());
    const entries = readKnownHosts(file);
    assert.equal(entries.length, 2);
    assert.equal(verifyHostKey(entries, '10.0.0.1', other.getPublicSSH()).status, 'known');
    assert.equal(verifyHostKey(entries, 'other', blob).status, 'known');
    assert.ok(readFileSync(file, 'utf8').startsWith('# mine\n'));
  });
});

describe('connection errors', () => {
  const t = { name: 'node1', user: 'deploy', address: '10.0.0.1', port: 22 };
  const where = 'host node1 (deploy@10.0.0.1:22)';

  test('an unknown host key says to run ssh-keyscan, with the key shown', () => {
    const err = connectError(where, t, new Error('Host denied (verification failed)'), {
      verdict: { status: 'unknown' },
      presented: blob,
      knownHostsFile: '/etc/berth/known_hosts',
      triedKeys: [],
    });
    assert.ok(err instanceof InputError);
    assert.match(err.message, /host node1 .*host key not known .*SHA256:Bb\/Bc/);
    assert.match(err.hint ?? '', /berth ssh-keyscan/);
  });

  test('a changed key names both fingerprints and is exit-2 input', () => {
    const other = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ed25519').public);
    assert.ok(!(other instanceof Error));
    const known = parseKnownHosts(`10.0.0.1 ssh-ed25519 ${PUB}`);
    const err = connectError(where, t, new Error('Host denied'), {
      verdict: verifyHostKey(known, '10.0.0.1', other.getPublicSSH()),
      presented: other.getPublicSSH(),
      knownHostsFile: '/etc/berth/known_hosts',
      triedKeys: [],
    });
    assert.ok(err instanceof InputError);
    assert.ok(err.message.includes(PUB_FP));
    assert.ok(err.message.includes(fingerprint(other.getPublicSSH())));
    assert.match(err.message, /HOST KEY CHANGED/);
    assert.match(err.hint ?? '', /--replace node1/);
  });

  test('refused logins, refused connections, timeouts each say what to check', () => {
    const auth = Object.assign(new Error('All configured authentication methods failed'), { level: 'client-authentication' });
    const a = connectError(where, t, auth, { knownHostsFile: '', triedKeys: ['/root/.ssh/id_ed25519'] });
    assert.ok(a instanceof EngineError);
    assert.match(a.message, /login refused for deploy \(tried \/root\/.ssh\/id_ed25519\)/);
    assert.match(a.hint ?? '', /ansible_user and ansible_ssh_private_key_file/);
    const refused = connectError(where, t, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), { knownHostsFile: '', triedKeys: [] });
    assert.match(refused.message, /connection refused \(nothing listens on port 22\)/);
    const timeout = connectError(where, t, Object.assign(new Error('Timed out while waiting for handshake'), { level: 'client-timeout' }), { knownHostsFile: '', triedKeys: [] });
    assert.match(timeout.message, /no SSH answer within 15s/);
    // A host the network or sshd does not answer is unreachable (the run goes on without it); a
    // refused login is the operator's to fix and stops the run.
    assert.deepEqual([refused, timeout, a].map(isUnreachable), [true, true, false]);
  });

  test('a closed connection is not reopened by a call still under way', async () => {
    const conn = new SshConnection({ ...t, port: 1, become: false, knownHostsFile: '/nonexistent' });
    await conn.close();
    await assert.rejects(conn.connect(), (e: Error) => e instanceof EngineError && /the run has ended/.test(e.message));
  });

  test('sudo refusals are recognised', () => {
    assert.ok(sudoRefused('sudo: a password is required\n'));
    assert.ok(sudoRefused('deploy is not in the sudoers file.  This incident will be reported.'));
    assert.ok(!sudoRefused('tar: something else'));
  });
});

describe('auth and quoting', () => {
  test('an explicit key file that is missing or encrypted is input to fix', () => {
    assert.throws(() => authMethods({ name: 'n', user: 'u', privateKeyFile: '/nonexistent/key' }), (e: Error) => e instanceof InputError && /cannot read ansible_ssh_private_key_file \/nonexistent\/key/.test(e.message));
    const dir = mkdtempSync(join(tmpdir(), 'berth-key-'));
    const encrypted = ssh2.utils.generateKeyPairSync('ed25519', { passphrase: 'x', cipher: 'aes256-ctr', rounds: 1 });
    writeFileSync(join(dir, 'enc'), encrypted.private);
    assert.throws(() => authMethods({ name: 'n', user: 'u', privateKeyFile: join(dir, 'enc') }), /encrypted with a passphrase/);
  });

  test('without a key file: the agent, then the default keys that exist', () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-home-'));
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'id_rsa'), ssh2.utils.generateKeyPairSync('ed25519').private);
    const plan = authMethods({ name: 'n', user: 'u' }, home, '/run/agent.sock');
    assert.deepEqual(plan.methods.map((m) => m.type), ['agent', 'publickey']);
    assert.deepEqual(plan.tried, ['the SSH agent', join(home, '.ssh', 'id_rsa')]);
  });

  test('quoting survives quotes', () => {
    const r = spawnSync('sh', ['-c', `printf %s ${shellQuote("it's $HOME `x`")}`], { encoding: 'utf8' });
    assert.equal(r.stdout, "it's $HOME `x`");
  });

  test('kernel module facts read by the remote script equal the local ones', () => {
    const r = spawnSync('sh', ['-c', MODULE_FACTS_SCRIPT, 'berth', 'openvswitch'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parseModuleFacts('openvswitch', r.stdout), readModuleFacts('openvswitch'));
  });
});

/** An sshd in this process: runs exec requests with sh, forwards streamlocal to the fake engine. */
class FakeSshd {
  connections = 0;
  openChannels = 0;
  maxOpenChannels = 0;
  readonly hostKey = ssh2.utils.generateKeyPairSync('ed25519');
  readonly userKey = ssh2.utils.generateKeyPairSync('ed25519');
  port = 0;
  private server?: ssh2.Server;

  constructor(private readonly engineSocket: string) {}

  get hostKeyBlob(): Buffer {
    const k = ssh2.utils.parseKey(this.hostKey.public);
    if (k instanceof Error) throw k;
    return k.getPublicSSH();
  }

  async start(): Promise<void> {
    const allowed = ssh2.utils.parseKey(this.userKey.public);
    if (allowed instanceof Error) throw allowed;
    this.server = new ssh2.Server({ hostKeys: [this.hostKey.private] }, (client) => {
      this.connections++;
      client.on('authentication', (ctx) => {
        if (ctx.method === 'publickey' && ctx.username === 'root' && ctx.key.data.equals(allowed.getPublicSSH())) ctx.accept();
        else ctx.reject(['publickey']);
      });
      client.on('error', () => undefined);
      (client as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept();
          session.on('exec', (acceptExec, _reject, info) => {
            const channel = this.track(acceptExec());
            const child = spawn('sh', ['-c', info.command], { stdio: ['pipe', 'pipe', 'pipe'] });
            channel.pipe(child.stdin);
            child.stdout.pipe(channel, { end: false });
            child.stderr.pipe(channel.stderr, { end: false });
            child.on('close', (code) => {
              channel.exit(code ?? 1);
              channel.end();
            });
          });
        });
        client.on('openssh.streamlocal', (acceptLocal) => {
          const channel = this.track(acceptLocal());
          const sock = netConnect(this.engineSocket);
          channel.pipe(sock).pipe(channel);
          channel.on('close', () => sock.destroy());
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private track<T extends NodeJS.EventEmitter>(channel: T): T {
    this.openChannels++;
    this.maxOpenChannels = Math.max(this.maxOpenChannels, this.openChannels);
    channel.once('close', () => this.openChannels--);
    return channel;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe('SshHost against an in-process sshd', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sshd-'));
  const engineSocket = join(dir, 'engine.sock');
  const knownHostsFile = join(dir, 'known_hosts');
  const keyFile = join(dir, 'id_ed25519');
  let engine: HttpServer;
  let sshd: FakeSshd;
  let engineRequests = 0;
  const target = (): ConstructorParameters<typeof SshHost>[0] => ({
    name: 'node1',
    address: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    become: false,
    privateKeyFile: keyFile,
    knownHostsFile,
  });

  before(async () => {
    engine = createHttpServer((req, res) => {
      engineRequests++;
      // Slow enough that requests overlap, so the channel cap is exercised.
      setTimeout(() => {
        res.setHeader('Content-Type', 'application/json');
        res.end(req.url === '/version' ? '{"Version":"fake-1"}' : '[]');
      }, 20);
    });
    await new Promise<void>((resolve) => engine.listen(engineSocket, resolve));
    sshd = new FakeSshd(engineSocket);
    await sshd.start();
    writeFileSync(keyFile, sshd.userKey.private, { mode: 0o600 });
  });

  after(async () => {
    await sshd.stop();
    await new Promise<void>((resolve) => engine.close(() => resolve()));
  });

  test('an unknown host is refused before login; keyscan reads its key', async () => {
    const host = new SshHost(target());
    await assert.rejects(host.ping(), (e: Error) => e instanceof InputError && /host key not known/.test(e.message));
    await host.close();
    const key = await scanHostKey(target());
    assert.ok(key.equals(sshd.hostKeyBlob));
    appendKnownHost(knownHostsFile, hostToken('127.0.0.1', sshd.port), key);
  });

  test('many Docker requests and file operations share one connection, within the channel cap', async (t) => {
    const before = sshd.connections;
    const t0 = Date.now();
    const lap = (what: string): void => t.diagnostic(`${what}: ${Date.now() - t0} ms`);
    const host = new SshHost(target());
    assert.equal(await host.ping(), 'fake-1');
    const requests = engineRequests;
    await Promise.all(Array.from({ length: 30 }, () => host.listAll()));
    lap('30 lists');
    const configDir = join(dir, 'etc', 'keystone');
    assert.equal(await host.syncDir(configDir, { 'keystone.conf': 'a = 1\n', 'config.json': '{}' }), true);
    assert.equal(await host.syncDir(configDir, { 'keystone.conf': 'a = 1\n', 'config.json': '{}' }), false);
    assert.equal(statSync(configDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(configDir, 'keystone.conf')).mode & 0o777, 0o600);
    await host.writeMarker(configDir, 'applied');
    assert.equal(await host.syncDir(configDir, { 'keystone.conf': 'a = 2\n' }), true);
    const state = await host.configState(configDir);
    assert.deepEqual(state.files, { 'keystone.conf': 'a = 2\n' });
    assert.equal(state.marker, 'applied');
    // Sub-second precision: decide() compares it with the container's start.
    assert.ok(Math.abs(state.filesWrittenAt! - statSync(join(configDir, 'keystone.conf')).mtimeMs) < 1);
    assert.deepEqual(await host.readDir(join(dir, 'missing')), undefined);
    // Many directories in one script: each as configState says, a missing one told from an empty one.
    mkdirSync(join(dir, 'etc', 'empty'), { recursive: true });
    const states = await host.configStates([configDir, join(dir, 'missing'), join(dir, 'etc', 'empty')]);
    assert.deepEqual(states.get(configDir), state);
    assert.deepEqual(states.get(join(dir, 'missing')), {});
    assert.deepEqual(states.get(join(dir, 'etc', 'empty')), { files: {} });
    await host.removeDir(configDir);
    assert.equal(await host.readDir(configDir), undefined);
    lap('files');
    await Promise.all(Array.from({ length: 20 }, (_, i) => host.syncDir(join(dir, 'many', String(i)), { f: String(i) })));
    lap('20 syncs');
    assert.equal(engineRequests - requests, 30);
    assert.equal(host.ssh.connects, 1);
    assert.equal(sshd.connections - before, 1, 'one TCP connection to sshd for the whole run');
    // Counted where the slots are taken: this server's own 'close' events lag behind the protocol's.
    assert.ok(host.ssh.maxOpenChannels <= MAX_CHANNELS, `at most ${MAX_CHANNELS} channels at once (saw ${host.ssh.maxOpenChannels})`);
    assert.ok(host.ssh.maxOpenChannels >= 4, 'work ran in parallel');
    await host.close();
  });

  test('a key sshd does not take is a refused login, named', async () => {
    const wrongKey = join(dir, 'wrong');
    writeFileSync(wrongKey, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
    const host = new SshHost({ ...target(), privateKeyFile: wrongKey });
    await assert.rejects(host.ping(), (e: Error) => e instanceof EngineError && new RegExp(`login refused for root \\(tried ${wrongKey}\\)`).test(e.message));
    await host.close();
  });

  test('a changed host key is refused with both fingerprints', async () => {
    const file = join(dir, 'known_hosts_changed');
    const other = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ed25519').public);
    assert.ok(!(other instanceof Error));
    appendKnownHost(file, hostToken('127.0.0.1', sshd.port), other.getPublicSSH());
    const host = new SshHost({ ...target(), knownHostsFile: file });
    await assert.rejects(host.ping(), (e: Error) => e instanceof InputError && e.message.includes(fingerprint(other.getPublicSSH())) && e.message.includes(fingerprint(sshd.hostKeyBlob)));
    await host.close();
  });

  test('nothing listening is a refused connection, named', async () => {
    const host = new SshHost({ ...target(), port: 1 });
    await assert.rejects(host.ping(), /host node1 \(root@127.0.0.1:1\): connection refused/);
    await host.close();
  });
});

test('host facts over SSH: hostname, every interface, the first global IPv4 address of those asked for and its prefix', () => {
  const text = [
    'node1',
    'eth0 eth1 lo veth1@if5 ',
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    '2: eth0    inet 127.0.0.9/32 scope host eth0\\       valid_lft forever preferred_lft forever',
    '2: eth0    inet 172.30.77.11/24 brd 172.30.77.255 scope global eth0\\       valid_lft forever preferred_lft forever',
    '3: eth1@if12    inet 10.0.1.11/24 brd 10.0.1.255 scope global eth1\\       valid_lft forever preferred_lft forever',
    '',
  ].join('\n');
  assert.deepEqual(parseHostFacts(text, ['eth0', 'eth1', 'lo', 'eth9']), {
    hostname: 'node1',
    addresses: { eth0: '172.30.77.11', eth1: '10.0.1.11', lo: '127.0.0.1', eth9: undefined },
    prefixes: { eth0: 24, eth1: 24, lo: 8, eth9: undefined },
    interfaces: ['eth0', 'eth1', 'lo', 'veth1@if5'],
  });
});
