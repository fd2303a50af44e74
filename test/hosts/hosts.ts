// Test hosts: containers running sshd (and dockerd when the image has it) on a Docker network this
// helper owns, with static addresses, made from test/hosts/Dockerfile on berth's own base image.
// Used by the SSH and multinode e2e tests and, through scripts/test-hosts, by people. Everything it
// makes is named berth-th-* and removed by removeTestHosts().
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';

const here = dirname(fileURLToPath(import.meta.url));

export const PREFIX = 'berth-th-';
export const NETWORK = `${PREFIX}net`;
/** A /24 unlikely to meet the machine's own networks; BERTH_TH_SUBNET picks another (x.y.z.0/24). */
export const SUBNET = process.env.BERTH_TH_SUBNET ?? '172.30.77.0/24';
/** A second network for VXLAN between hosts (eth1), as a cloud gives tunnels an interface of their own. */
export const TUNNEL_NETWORK = `${PREFIX}tun`;
export const TUNNEL_SUBNET = process.env.BERTH_TH_TUNNEL_SUBNET ?? '172.30.78.0/24';
export const BASE_IMAGE = process.env.BERTH_TH_BASE ?? 'berth/base:2025.1';

export type HostImage = 'docker' | 'sshd';

export interface HostSpec {
  /** Short name: the container is berth-th-<name>, its hostname the same. */
  name: string;
  /** docker: sshd and Docker Engine from Debian; sshd: sshd only (what bootstrap-servers starts from). */
  image: HostImage;
  /** root (the default) logs in directly; another user is created at start. */
  user?: string;
  /** For a user other than root: passwordless sudo (default), sudo with a password, or none. */
  sudo?: 'nopasswd' | 'password' | 'none';
  /** Its address is .(10+slot) of SUBNET; default: its place in the list, from 1. */
  slot?: number;
  /** Also on TUNNEL_NETWORK as eth1, at .(10+slot) of TUNNEL_SUBNET. */
  tunnel?: boolean;
  /** Directories of this machine mounted into the host, `source:dest` (storage several hosts share, as NFS would). */
  shared?: string[];
}

export interface TestHost extends Required<Omit<HostSpec, 'slot' | 'tunnel' | 'shared'>> {
  container: string;
  address: string;
}

function docker(args: string[], input?: string): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`docker ${args.slice(0, 3).join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

export function imageTag(image: HostImage): string {
  return `${PREFIX}host:${image}`;
}

/** Builds the host image (a no-op when Docker's cache has it); the base image must exist. */
export function buildHostImage(image: HostImage): string {
  if (spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`${BASE_IMAGE} is missing: build it first (berth build base, or the 10-images e2e suite)`);
  }
  const tag = imageTag(image);
  docker(['build', '-q', '-t', tag, '--build-arg', `BASE=${BASE_IMAGE}`, '--build-arg', `DOCKER=${image === 'docker' ? 'yes' : 'no'}`, here]);
  return tag;
}

/** The address of the n-th host (1-based): .11, .12, ... of SUBNET. */
export function hostAddress(n: number, subnet = SUBNET): string {
  return subnet.replace(/\.0\/24$/, `.${10 + n}`);
}

export function ensureNetwork(network = NETWORK, subnet = SUBNET): void {
  if (spawnSync('docker', ['network', 'inspect', network], { stdio: 'ignore' }).status === 0) return;
  docker(['network', 'create', '--subnet', subnet, '--label', 'berth.test-hosts=1', network]);
}

/**
 * Starts hosts (their images built first). `--privileged` is refused by this kernel, so dockerd
 * gets what it needs one by one: capabilities (its own and those the catalog gives containers: a
 * container cannot get one outside its host's bounding set), no seccomp or AppArmor profile, every device, the
 * machine's cgroup tree, a volume for /var/lib/docker (overlay2 cannot sit on overlayfs), and a
 * tmpfs /run as on a booted machine.
 */
export function startTestHosts(specs: HostSpec[], authorizedKey: string): TestHost[] {
  for (const image of new Set(specs.map((s) => s.image))) buildHostImage(image);
  ensureNetwork();
  return specs.map((spec, i) => {
    const { slot = i + 1, tunnel, shared = [], ...rest } = spec;
    const host: TestHost = { user: 'root', sudo: 'nopasswd', ...rest, container: `${PREFIX}${spec.name}`, address: hostAddress(slot) };
    // A fresh host: its /var/lib/docker volume too (a kept host's engine would bring back its containers).
    spawnSync('docker', ['rm', '-f', '-v', host.container], { stdio: 'ignore' });
    spawnSync('docker', ['volume', 'rm', `${host.container}-docker`], { stdio: 'ignore' });
    docker([
      'run', '-d', '--name', host.container, '--hostname', host.container, '--label', 'berth.test-hosts=1',
      '--network', NETWORK, '--ip', host.address,
      ...['SYS_ADMIN', 'NET_ADMIN', 'NET_RAW', 'NET_BROADCAST', 'MKNOD', 'SYS_PTRACE', 'SYS_MODULE', 'IPC_LOCK', 'SYS_NICE', 'DAC_READ_SEARCH'].flatMap((c) => ['--cap-add', c]),
      '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
      '--device-cgroup-rule', 'a *:* rmw', '--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
      '--tmpfs', '/run', '-v', `${host.container}-docker:/var/lib/docker`,
      ...shared.flatMap((bind) => ['-v', bind]),
      // Modest CPU: the machine runs other suites.
      '--cpus', '1',
      '-e', `TH_AUTHORIZED_KEY=${authorizedKey}`, '-e', `TH_USER=${host.user}`, '-e', `TH_SUDO=${host.sudo}`,
      '-e', `TH_CGROUP_PARENT=${host.container}`,
      imageTag(spec.image),
    ]);
    if (tunnel) {
      ensureNetwork(TUNNEL_NETWORK, TUNNEL_SUBNET);
      docker(['network', 'connect', '--ip', hostAddress(slot, TUNNEL_SUBNET), TUNNEL_NETWORK, host.container]);
    }
    return host;
  });
}

/** Waits until every host's sshd (and dockerd, where installed) answers. */
export async function waitReady(hosts: TestHost[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const h of hosts) {
    const sshd = "ss -ltn | grep -q ':22 '";
    const probe = h.image === 'docker' ? `${sshd} && docker version >/dev/null 2>&1` : sshd;
    while (spawnSync('docker', ['exec', h.container, 'sh', '-c', probe], { stdio: 'ignore' }).status !== 0) {
      if (Date.now() > deadline) throw new Error(`${h.container} is not ready after ${timeoutMs / 1000}s: ${docker(['logs', '--tail', '20', h.container])}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** sshd's own count of logins on a host: it logs each accepted key to stderr, the container's log. */
export function sshdLogins(host: TestHost): number {
  const r = spawnSync('docker', ['logs', host.container], { encoding: 'utf8' });
  return (r.stdout + r.stderr).split('\n').filter((l) => l.includes('Accepted publickey')).length;
}

/** Runs a shell command inside a host (as root), for tests that look at what berth left there. */
export function inHost(host: TestHost | string, script: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('docker', ['exec', typeof host === 'string' ? host : host.container, 'sh', '-c', script], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Removes test hosts (these, or every berth-th-* host) with their /var/lib/docker volumes, and the
 * network once no host is left on it.
 */
export function removeTestHosts(hosts?: TestHost[]): void {
  const names = hosts
    ? hosts.map((h) => h.container)
    : docker(['ps', '-a', '--filter', 'label=berth.test-hosts=1', '--format', '{{.Names}}']).split('\n').filter((n) => n.startsWith(PREFIX));
  if (names.length) spawnSync('docker', ['rm', '-f', '-v', ...names], { stdio: 'ignore' });
  for (const n of names) spawnSync('docker', ['volume', 'rm', `${n}-docker`], { stdio: 'ignore' });
  // Refused while another suite's hosts are on it: theirs to remove.
  spawnSync('docker', ['network', 'rm', NETWORK], { stdio: 'ignore' });
  spawnSync('docker', ['network', 'rm', TUNNEL_NETWORK], { stdio: 'ignore' });
}

/** A key pair for logging in to test hosts, kept in dir (made once; ssh -i takes it too). */
export function testKey(dir: string): { privateKeyFile: string; publicKey: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKeyFile = join(dir, 'id_ed25519');
  if (!existsSync(privateKeyFile)) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'berth-test-hosts' });
    writeFileSync(privateKeyFile, pair.private, { mode: 0o600 });
    writeFileSync(`${privateKeyFile}.pub`, `${pair.public}\n`);
  }
  return { privateKeyFile, publicKey: readFileSync(`${privateKeyFile}.pub`, 'utf8').trim() };
}
