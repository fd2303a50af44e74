// One SSH connection to a host for the whole run (ssh2, see docs/ssh.md): opened on first use,
// every Docker API request and file operation is a channel of it, closed by close(). The host key
// is checked against berth's known_hosts before anything is sent; failures become one EngineError
// (or InputError, for host keys) naming the host, the cause and what to do.
import ssh2 from 'ssh2';
import type { AnyAuthMethod, Client, ClientChannel, ConnectConfig } from 'ssh2';
import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { InputError } from '../config/errors.js';
import { EngineError } from './docker.js';
import { UnreachableError } from './host.js';
import { splice } from './splice.js';
import { fingerprint, hostKeyAlgorithms, hostToken, keyType, readKnownHosts, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';
import type { RunResult } from './script-files.js';

export interface SshTarget {
  /** The inventory's name for the host, for messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** ansible_become: privileged work (Docker's socket, config directories) goes through `sudo -n`. */
  become: boolean;
  /** ansible_ssh_private_key_file (~ expanded); without it the agent and the default keys. */
  privateKeyFile?: string;
  /** berth's known_hosts (<config-dir>/known_hosts). */
  knownHostsFile: string;
}

/** OpenSSH allows 10 sessions per connection (MaxSessions); berth keeps below, the rest queue. */
export const MAX_CHANNELS = 8;
/** Of those, what the Docker API's keep-alive pool may hold, so file operations always find room. */
const DOCKER_CHANNELS = 6;
const DOCKER_SOCKET = '/var/run/docker.sock';
const HANDSHAKE_TIMEOUT_MS = 15_000;

export type { RunResult };

export class SshConnection {
  /** SSH connections opened (authenticated) so far: 1 for a whole run, unless one dropped. */
  connects = 0;
  /** Channels opened so far (Docker API streams and commands), and the most open at once. */
  channels = 0;
  maxOpenChannels = 0;
  /** An http.Agent whose connections are channels of this connection to the host's Docker socket. */
  readonly dockerAgent: Agent;
  private client?: Promise<Client>;
  private closed = false;
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private dockerChecked?: Promise<void>;
  /** Remote forwards (port → where its connections go), and the clients that dispatch them. */
  private readonly forwards = new Map<number, () => Promise<Duplex>>();
  private readonly forwarded = new WeakSet<Client>();

  constructor(readonly target: SshTarget) {
    const agent = new Agent({ keepAlive: true, maxSockets: DOCKER_CHANNELS });
    // Returned at once, connected when the channel opens: the Agent counts a socket against
    // maxSockets only once it has it, so an asynchronous createConnection would let every queued
    // request open its own channel instead of waiting for a kept-alive one.
    agent.createConnection = () => new PendingChannel(this.dockerStream());
    this.dockerAgent = agent;
  }

  private get where(): string {
    const t = this.target;
    return `host ${t.name} (${t.user}@${t.address}:${t.port})`;
  }

  /** The connection, opened on first use and reused; a dropped one is reopened by the next call. */
  connect(): Promise<Client> {
    // After close() nothing reopens it: a call still under way when the run ended (another host
    // failed first) would otherwise open a connection nobody closes, and the process never exits.
    if (this.closed) return Promise.reject(new EngineError(`${this.where}: the run has ended, the SSH connection is closed`));
    this.client ??= this.open();
    return this.client;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.client;
    this.client = undefined;
    this.dockerAgent.destroy();
    const client = await pending?.catch(() => undefined);
    if (!client) return;
    // A connection the host already dropped may never say 'close' again: do not wait long for it.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000).unref();
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }

  private open(): Promise<Client> {
    const t = this.target;
    const token = hostToken(t.address, t.port);
    const known = readKnownHosts(t.knownHostsFile);
    const recordedTypes = known.filter((e) => !e.marker).map((e) => e.type);
    const auth = authMethods(t);
    let verdict: HostKeyVerdict | undefined;
    let presented: Buffer | undefined;
    return new Promise<Client>((resolve, reject) => {
      const client = new ssh2.Client();
      let ready = false;
      client.on('ready', () => {
        ready = true;
        // Every call is a few small packets waiting for an answer: Nagle would hold each one back.
        client.setNoDelay(true);
        this.connects++;
        resolve(client);
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (!ready) reject(connectError(this.where, t, err, { verdict, presented, knownHostsFile: t.knownHostsFile, triedKeys: auth.tried }));
      });
      client.on('close', () => {
        if (!ready) reject(new EngineError(`${this.where}: the SSH connection closed during login`, 'check that sshd runs on the host and lets this user in'));
        // A connection that was up and dropped: the next call opens a new one.
        else if (this.client) this.client = undefined;
      });
      const config: ConnectConfig = {
        host: t.address,
        port: t.port,
        username: t.user,
        readyTimeout: HANDSHAKE_TIMEOUT_MS,
        keepaliveInterval: 15_000,
        authHandler: auth.methods,
        algorithms: { serverHostKey: hostKeyAlgorithms(recordedTypes) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
        hostVerifier: (key: Buffer) => {
          presented = key;
          verdict = verifyHostKey(known, token, key);
          return verdict.status === 'known';
        },
      };
      client.connect(config);
    });
  }

  /**
   * A TCP connection to the host's 127.0.0.1:port, as a direct-tcpip channel (OpenSSH's local
   * forwarding; not a session, so outside the MaxSessions cap).
   */
  async connectLoopback(port: number): Promise<Duplex> {
    const client = await this.connect();
    try {
      return await new Promise<Duplex>((resolve, reject) => client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, ch) => (err ? reject(err) : resolve(ch))));
    } catch (err) {
      throw new EngineError(
        `${this.where}: cannot connect to its 127.0.0.1:${port} through SSH (${(err as Error).message})`,
        `check that the registry runs there (berth push starts it) and that sshd allows TCP forwarding (AllowTcpForwarding yes or local in sshd_config)`,
      );
    }
  }

  /**
   * Makes the host's 127.0.0.1:port lead to `connect()`: a remote forward (tcpip-forward, as
   * \`ssh -R\`) on this connection; each connection the host makes there becomes a channel joined
   * to a fresh upstream. Until close(), or the connection's end.
   */
  async exposeLoopback(port: number, connect: () => Promise<Duplex>): Promise<{ close(): Promise<void> }> {
    const client = await this.connect();
    if (!this.forwarded.has(client)) {
      this.forwarded.add(client);
      client.on('tcp connection', (info, accept, reject) => {
        const upstream = this.forwards.get(info.destPort);
        if (!upstream) return reject();
        const channel = accept();
        upstream().then(
          (up) => splice(channel, up),
          () => channel.destroy(),
        );
      });
    }
    this.forwards.set(port, connect);
    try {
      await new Promise<void>((resolve, reject) => client.forwardIn('127.0.0.1', port, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      this.forwards.delete(port);
      throw await this.forwardError(port, err as Error);
    }
    return {
      close: async () => {
        this.forwards.delete(port);
        await new Promise<void>((resolve) => client.unforwardIn('127.0.0.1', port, () => resolve()));
      },
    };
  }

  /** Why sshd refused to listen on the port: taken on the host, or forwarding not allowed. */
  private async forwardError(port: number, err: Error): Promise<EngineError> {
    const taken = await this.runScript(PORT_TAKEN, [String(port)], undefined, { privileged: false }).then((r) => r.stdout.toString('utf8').includes('taken'), () => false);
    if (taken) {
      return new EngineError(
        `${this.where}: port 127.0.0.1:${port} is taken on the host, so berth cannot forward the registry there`,
        `stop what listens there (ss -ltnp 'sport = :${port}' on the host), or choose another port in docker_registry`,
      );
    }
    const low = port < 1024 && this.target.user !== 'root' ? `; a port below 1024 can be forwarded only for root, and berth logs in as ${this.target.user}` : '';
    return new EngineError(
      `${this.where}: sshd refused to forward 127.0.0.1:${port} to the registry (${err.message})${low}`,
      'allow it in the host\'s sshd_config: AllowTcpForwarding yes (or remote; OpenSSH\'s default is yes), and no DisableForwarding, then reload sshd',
    );
  }

  /**
   * Waits for one of the connection's channel slots; returns its release. Kept-alive Docker API
   * channels hold slots while idle, so a waiter closes one of those rather than wait for it.
   */
  private async slot(): Promise<() => void> {
    if (this.active >= MAX_CHANNELS) {
      const waiting = new Promise<void>((resolve) => this.queue.push(resolve));
      Object.values(this.dockerAgent.freeSockets).flat()[0]?.destroy();
      await waiting;
    }
    this.active++;
    this.maxOpenChannels = Math.max(this.maxOpenChannels, this.active);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.queue.shift()?.();
    };
  }

  /**
   * Runs a command in an exec channel: stdin written and closed, stdout kept whole (and given to
   * onStdout as it arrives, for progress), stderr as text.
   */
  async run(command: string, stdin?: Buffer, onStdout?: (chunk: Buffer) => void): Promise<RunResult> {
    const client = await this.connect();
    const release = await this.slot();
    try {
      // Listeners go on in exec's callback: a quick command's output, exit status and close can
      // arrive in the same read as the exec's confirmation, before any later tick.
      const { done } = await openWithRetry(
        () => new Promise<{ done: Promise<RunResult> }>((resolve, reject) => client.exec(command, (err, ch) => (err ? reject(err) : resolve({ done: collect(ch, stdin, onStdout) })))),
      );
      this.channels++;
      return await done;
    } catch (err) {
      throw err instanceof EngineError || err instanceof InputError ? err : new EngineError(`${this.where}: ${(err as Error).message}`);
    } finally {
      release();
    }
  }

  /**
   * Runs a fixed script as root: directly when logged in as root, else through `sudo -n` when
   * become is set. Arguments are quoted into the command line, so they must not be secrets; file
   * contents go through stdin.
   */
  async runScript(script: string, args: string[], stdin?: Buffer, opts: { privileged?: boolean; onStdout?: (chunk: Buffer) => void } = {}): Promise<RunResult> {
    const sudo = opts.privileged === false ? '' : this.privileged();
    const result = await this.run(`${sudo}sh -c ${shellQuote(script)} berth ${args.map(shellQuote).join(' ')}`.trimEnd(), stdin, opts.onStdout);
    if (result.code !== 0 && sudoRefused(result.stderr)) throw this.sudoError();
    return result;
  }

  private privileged(): string {
    return this.target.become && this.target.user !== 'root' ? 'sudo -n ' : '';
  }

  private sudoError(): EngineError {
    return new EngineError(
      `${this.where}: sudo asks ${this.target.user} for a password (ansible_become=yes needs passwordless sudo)`,
      `give ${this.target.user} NOPASSWD sudo on the host (e.g. "${this.target.user} ALL=(ALL) NOPASSWD: ALL" in /etc/sudoers.d/), or connect as root`,
    );
  }

  /**
   * A stream to the host's Docker socket: as root (or a user in the docker group) a forwarded unix
   * socket; with become, `docker system dial-stdio` under sudo, which is what docker's own ssh://
   * transport runs (the socket is root's, and sshd forwards it as the login user).
   */
  private async dockerStream(): Promise<Duplex> {
    const client = await this.connect();
    if (this.privileged()) {
      this.dockerChecked ??= this.checkDocker();
      await this.dockerChecked;
    }
    const release = await this.slot();
    let channel: ClientChannel;
    try {
      // As in run(): what the channel needs is attached in the callback, before it can close.
      const opened = (resolve: (ch: ClientChannel) => void, reject: (err: Error) => void) => (err: Error | undefined, ch: ClientChannel) => {
        if (err) return reject(err);
        ch.on('close', release);
        // dial-stdio's messages would otherwise fill the channel's window.
        ch.stderr.resume();
        resolve(ch);
      };
      channel = await openWithRetry(
        () =>
          new Promise<ClientChannel>((resolve, reject) => {
            if (this.privileged()) client.exec('sudo -n docker system dial-stdio', opened(resolve, reject));
            else client.openssh_forwardOutStreamLocal(DOCKER_SOCKET, opened(resolve, reject));
          }),
        // A refused socket is not a full session table: say why at once.
        !this.privileged() ? 1 : undefined,
      );
    } catch (err) {
      release();
      // sshd could not connect to the socket: say why (no Docker, not running, not allowed).
      throw (await this.diagnoseDocker().catch(() => undefined)) ?? new EngineError(`${this.where}: cannot reach ${DOCKER_SOCKET}: ${(err as Error).message}`);
    }
    this.channels++;
    return channel;
  }

  /** With become: that sudo works without a password and Docker is there, once per connection. */
  private async checkDocker(): Promise<void> {
    const problem = await this.diagnoseDocker();
    if (problem) throw problem;
  }

  /** What keeps the Docker API from answering on the host, or undefined when nothing does. */
  async diagnoseDocker(): Promise<EngineError | undefined> {
    const r = await this.runScript(DOCKER_CHECK, []);
    const facts = new Set(r.stdout.toString('utf8').split('\n'));
    const bootstrap = 'run berth bootstrap-servers, which installs and starts Docker Engine on every host';
    if (!facts.has('dockerd') && !facts.has('socket')) return new EngineError(`${this.where}: Docker Engine is not installed`, bootstrap);
    if (!facts.has('socket')) return new EngineError(`${this.where}: Docker Engine is installed but not running (no ${DOCKER_SOCKET})`, `start it on the host (systemctl start docker), or ${bootstrap}`);
    if (this.privileged() && !facts.has('cli')) {
      return new EngineError(`${this.where}: the docker command is missing; berth reaches the socket through "docker system dial-stdio" when it logs in as ${this.target.user}`, bootstrap);
    }
    if (!this.privileged() && !facts.has('root') && !facts.has('docker-group')) {
      return new EngineError(
        `${this.where}: ${this.target.user} may not use ${DOCKER_SOCKET}`,
        'set ansible_become=yes for the host (berth then uses sudo), add the user to the docker group, or connect as root',
      );
    }
    return undefined;
  }
}

/** An exec channel's stdout, stderr and exit status once it closes; stdin written and ended. */
function collect(channel: ClientChannel, stdin?: Buffer, onStdout?: (chunk: Buffer) => void): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let code = -1;
    channel.on('data', (c: Buffer) => {
      out.push(c);
      onStdout?.(c);
    });
    channel.stderr.on('data', (c: Buffer) => err.push(c));
    channel.on('exit', (c: number | null, signal?: string) => {
      code = c ?? -1;
      if (signal) err.push(Buffer.from(`killed by ${signal}`));
    });
    channel.on('error', reject);
    channel.on('close', () => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    channel.end(stdin);
  });
}

/**
 * Opens a channel, retrying while sshd refuses it: a session berth closed may still count against
 * MaxSessions until its process has exited on the host, so the cap alone does not always keep
 * below it (seen with `sudo docker system dial-stdio`).
 */
async function openWithRetry<T>(open: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await open();
    } catch (err) {
      if (i >= attempts || !/open failed|administratively prohibited/i.test((err as Error).message)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 25 * i));
    }
  }
}

/** Facts printed one per line; run as root when become is set, so `socket` is what root sees. */
const DOCKER_CHECK = `
[ -S ${DOCKER_SOCKET} ] && echo socket
command -v dockerd >/dev/null 2>&1 && echo dockerd
command -v docker >/dev/null 2>&1 && echo cli
[ "$(id -u)" = 0 ] && echo root
id -nG 2>/dev/null | tr ' ' '\\n' | grep -qx docker && echo docker-group
exit 0
`;

/** Prints "taken" when something listens on TCP port $1 (any address); /proc, so no iproute2 needed. */
const PORT_TAKEN = `
hex=$(printf '%04X' "$1")
awk -v p="$hex" '$4 == "0A" { split($2, a, ":"); if (a[2] == p) f = 1 } END { if (f) print "taken" }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
exit 0
`;

/** Single-quoted for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function sudoRefused(stderr: string): boolean {
  return /sudo: (a password is required|a terminal is required|no tty present)|is not in the sudoers file|may not run sudo/.test(stderr);
}

/**
 * A socket for Node's HTTP client that becomes a channel once it opens: writes wait until then, a
 * failure to open is the request's error. It has the net.Socket methods the client and the Agent
 * call (keep-alive, timeouts, ref counting), as no-ops: the SSH connection has its own keepalive.
 */
class PendingChannel extends Duplex {
  private channel?: Duplex;
  private channelClosed = false;
  private readonly writes: { chunk: Buffer; callback: (err?: Error | null) => void }[] = [];

  constructor(open: Promise<Duplex>) {
    // As net.Socket: the other side's end ends this side, and both done destroys the socket.
    super({ allowHalfOpen: false });
    open.then(
      (channel) => {
        if (this.destroyed) return void channel.destroy();
        this.channel = channel;
        channel.on('data', (c: Buffer) => {
          if (!this.push(c)) channel.pause();
        });
        channel.on('end', () => this.push(null));
        channel.on('error', (err: Error) => this.destroy(err));
        // A closed channel ends the stream instead of destroying it, so its last data and its end
        // reach a reader that starts later: a hijacked exec's output, end and close can all come
        // with the upgrade, before the caller listens, and a destroyed stream never says 'end'
        // (execs through sudo's dial-stdio waited out their timeout). Data still buffered in the
        // channel comes first; its 'end' follows it.
        channel.on('close', () => {
          this.channelClosed = true;
          if (channel.readableLength === 0) this.push(null);
        });
        for (const w of this.writes.splice(0)) channel.write(w.chunk, w.callback);
        if (this.writableEnded) channel.end();
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _read(): void {
    this.channel?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.channelClosed) callback(new Error('the SSH channel is closed'));
    else if (this.channel) this.channel.write(chunk, callback);
    else this.writes.push({ chunk, callback });
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.channelClosed) this.channel?.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.channel?.destroy();
    callback(err);
  }

  setKeepAlive(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

interface AuthPlan {
  methods: AnyAuthMethod[];
  /** What will be tried, for the message when all of it fails. */
  tried: string[];
}

/** ansible_ssh_private_key_file alone when set; else the agent, then the default keys that exist. */
export function authMethods(t: Pick<SshTarget, 'name' | 'user' | 'privateKeyFile'>, home = homedir(), agentSocket = process.env.SSH_AUTH_SOCK): AuthPlan {
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const addKey = (path: string, explicit: boolean): void => {
    let key: Buffer;
    try {
      key = readFileSync(path);
    } catch (err) {
      if (!explicit) return;
      throw new InputError(
        `host ${t.name}: cannot read ansible_ssh_private_key_file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        'point ansible_ssh_private_key_file for the host in the inventory at a private key berth can read, or remove it to use the SSH agent',
      );
    }
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) {
      const encrypted = /encrypted|passphrase/i.test(parsed.message);
      if (explicit) {
        throw new InputError(
          `host ${t.name}: ${path} ${encrypted ? 'is encrypted with a passphrase' : `is not a private key berth can read (${parsed.message})`}`,
          encrypted ? 'add the key to ssh-agent (ssh-add) and leave ansible_ssh_private_key_file unset' : undefined,
        );
      }
      tried.push(`${path} (skipped: ${encrypted ? 'encrypted; add it to ssh-agent' : 'unreadable'})`);
      return;
    }
    methods.push({ type: 'publickey', username: t.user, key });
    tried.push(path);
  };
  if (t.privateKeyFile) {
    addKey(t.privateKeyFile, true);
    return { methods, tried };
  }
  if (agentSocket) {
    methods.push({ type: 'agent', username: t.user, agent: agentSocket });
    tried.push('the SSH agent');
  }
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const path = join(home, '.ssh', name);
    if (existsSync(path)) addKey(path, false);
  }
  return { methods, tried };
}

interface ConnectContext {
  verdict?: HostKeyVerdict;
  presented?: Buffer;
  knownHostsFile: string;
  triedKeys: string[];
}

/** One line for why a connection failed: the host, the cause, what to do. */
export function connectError(where: string, t: Pick<SshTarget, 'name' | 'user' | 'address' | 'port'>, err: Error & { level?: string; code?: string }, ctx: ConnectContext): Error {
  const v = ctx.verdict;
  if (v && v.status !== 'known' && ctx.presented) {
    const shown = `${keyType(ctx.presented)} ${fingerprint(ctx.presented)}`;
    if (v.status === 'unknown') {
      return new InputError(
        `${where}: host key not known (${shown}; ${ctx.knownHostsFile} has no entry for ${hostToken(t.address, t.port)})`,
        'run berth ssh-keyscan to see and record the hosts\' keys (or berth bootstrap-servers, which does it first)',
      );
    }
    if (v.status === 'revoked') return new InputError(`${where}: the host key ${shown} is marked @revoked in ${ctx.knownHostsFile}:${v.entry.line}`);
    const recorded = v.known.map((e) => `${e.type} ${fingerprint(e.key)} (${ctx.knownHostsFile}:${e.line})`).join(', ');
    return new InputError(
      `${where}: HOST KEY CHANGED: the host shows ${shown}, berth recorded ${recorded}; refusing to connect`,
      `if the host was reinstalled, check the new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then berth ssh-keyscan --replace ${t.name}`,
    );
  }
  if (err.level === 'client-authentication') {
    return new EngineError(
      `${where}: login refused for ${t.user} (tried ${ctx.triedKeys.length ? ctx.triedKeys.join(', ') : 'no key: no agent and no ~/.ssh/id_* key'})`,
      `check ansible_user and ansible_ssh_private_key_file for ${t.name} in the inventory, and that the key is in ~${t.user}/.ssh/authorized_keys on the host`,
    );
  }
  // The network or sshd not there: the host is unreachable, and a run goes on with the others (as
  // Ansible's UNREACHABLE). A refused login or host key is the operator's to fix: it stops the run.
  const reach = `check ansible_host and ansible_port for ${t.name} in the inventory, and that sshd runs there`;
  const unreachable = (message: string): UnreachableError => new UnreachableError(message, reach);
  switch (err.code) {
    case 'ECONNREFUSED':
      return unreachable(`${where}: connection refused (nothing listens on port ${t.port})`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return unreachable(`${where}: unreachable (${err.code})`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new EngineError(`${where}: cannot resolve ${t.address}`, reach);
    case 'ECONNRESET':
      return unreachable(`${where}: the connection was reset during the SSH handshake`);
  }
  if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT') {
    return unreachable(`${where}: no SSH answer within ${HANDSHAKE_TIMEOUT_MS / 1000}s`);
  }
  return new EngineError(`${where}: SSH failed: ${err.message}`, reach);
}

/**
 * The key a host shows, without logging in (for ssh-keyscan): the handshake stops at the key.
 * `preferTypes` puts those key types first (the recorded ones, to compare like with like).
 */
export function scanHostKey(t: Pick<SshTarget, 'name' | 'address' | 'port'>, preferTypes: string[] = []): Promise<Buffer> {
  const where = `host ${t.name} (${t.address}:${t.port})`;
  return new Promise<Buffer>((resolve, reject) => {
    const client = new ssh2.Client();
    let key: Buffer | undefined;
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (key) resolve(key);
      else reject(connectError(where, { ...t, user: '-' }, err, { knownHostsFile: '', triedKeys: [] }));
    });
    client.on('close', () => (key ? resolve(key) : reject(new EngineError(`${where}: the connection closed before the host showed its key`))));
    client.connect({
      host: t.address,
      port: t.port,
      username: 'berth-keyscan',
      readyTimeout: HANDSHAKE_TIMEOUT_MS,
      algorithms: { serverHostKey: hostKeyAlgorithms(preferTypes) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
      hostVerifier: (blob: Buffer) => {
        key = blob;
        return false;
      },
    });
  });
}
