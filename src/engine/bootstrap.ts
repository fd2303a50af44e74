// The host side of `berth bootstrap-servers`: one fixed shell script, run as root over the host's
// SSH connection (or locally for ansible_connection=local), with what the plan computed as its
// arguments (no secrets: package names, daemon.json, module and sysctl lists, /etc/hosts). It needs
// nothing a fresh Debian 12 or 13 lacks (sh, coreutils, dpkg, apt, awk, mount) and says, one line per
// step, `ok` or `changed`; berth parses those lines as they arrive.
import { spawn } from 'node:child_process';
import { EngineError } from './docker.js';
import type { HostFacts } from './host.js';
import type { LocalHost } from './local-host.js';
import type { SshHost } from './ssh-host.js';
import type { RunResult } from './ssh.js';

/**
 * $1 is the phase:
 *   read                      facts berth computes from: the release, systemd, daemon.json (base64)
 *   apply JSON HOW MODS SYSCTLS REQUIRED
 *                             packages, daemon.json (HOW: none|reload|restart), dockerd running,
 *                             kernel modules (modules-load.d text; REQUIRED: names that must load),
 *                             sysctls (sysctl.d text), /run/netns shared
 *   hosts TEXT                /etc/hosts replaced by TEXT when it differs, in place (a bind mount in containers)
 * Protocol lines start with "berth:"; `berth:step NAME ok|changed|failed DETAIL`, `berth:note NAME TEXT`.
 */
export const BOOTSTRAP_SCRIPT = `
set -u
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
phase=$1
shift
say() { printf 'berth:%s\\n' "$*"; }
step() { say "step $*"; }
note() { say "note $*"; }
fail() { step "$1" failed "$2"; exit 1; }
has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
docker_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# $1 path, $2 content: written (atomically, beside it) when it differs; status 0 when written.
write_file() {
  if [ -f "$1" ] && printf '%s' "$2" | cmp -s - "$1"; then return 1; fi
  mkdir -p "$(dirname "$1")"
  printf '%s' "$2" > "$1.berth-new" && chmod 0644 "$1.berth-new" && mv -f "$1.berth-new" "$1"
}

if [ "$phase" = read ]; then
  . /etc/os-release 2>/dev/null
  say "fact codename \${VERSION_CODENAME:-unknown}"
  has_systemd && say "fact systemd yes"
  if [ -f /etc/docker/daemon.json ]; then say "file daemon.json $(base64 -w0 < /etc/docker/daemon.json)"; fi
  say "file hosts $(base64 -w0 < /etc/hosts)"
  exit 0
fi

if [ "$phase" = hosts ]; then
  if printf '%s' "$1" | cmp -s - /etc/hosts; then step hosts ok "/etc/hosts has the block"; exit 0; fi
  # In place, not by rename: in a container /etc/hosts is a bind mount.
  printf '%s' "$1" > /etc/hosts || fail hosts "cannot write /etc/hosts"
  step hosts changed "/etc/hosts block written"
  exit 0
fi

[ "$phase" = apply ] || { echo "unknown phase $phase" >&2; exit 2; }
daemon_json=$1 daemon_how=$2 modules_conf=$3 sysctl_conf=$4 required=" $5 "

# 1. Packages from the host's own apt sources, installed only when one is missing.
. /etc/os-release 2>/dev/null
# tzdata: every service container mounts /etc/localtime; where it is missing (trixie made tzdata
# optional), Docker makes a directory there and every container start fails (seen on a test host).
# mount: /run/netns is made a shared mount below (every Debian install has it; a minimal image may not).
want="docker.io iproute2 kmod ca-certificates tzdata mount"
# trixie's docker.io only recommends docker-cli; berth needs "docker system dial-stdio".
[ "\${VERSION_CODENAME:-}" = bookworm ] || want="$want docker-cli"
missing=""
for p in $want; do
  [ "$(dpkg-query -W -f '\${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
  step packages ok "installed:$(printf ' %s' $want)"
else
  log=/var/log/berth-bootstrap-apt.log
  if ! grep -Eqs '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \\
     && ! grep -Eqs '^[[:space:]]*Types:.*deb' /etc/apt/sources.list.d/*.sources; then
    fail packages "no-sources"
  fi
  apt_failed() {
    if grep -Eq 'Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock' "$log"; then fail packages "apt-lock $(grep -E '^E:' "$log" | head -1)"; fi
    if grep -Eq 'Temporary failure resolving|Could not resolve|Could not connect|Failed to fetch|Connection timed out|Network is unreachable' "$log"; then fail packages "mirror $(grep -E '^(E|W|Err):' "$log" | head -1)"; fi
    if grep -Eq 'Unable to locate package|has no installation candidate' "$log"; then fail packages "no-package $(grep -E '^E:' "$log" | head -1)"; fi
    fail packages "apt $(grep -E '^E:' "$log" | tail -1)"
  }
  note packages "installing$missing"
  apt-get update -q > "$log" 2>&1 || apt_failed
  # update succeeds with unreachable mirrors (old lists kept): the install then says why.
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >> "$log" 2>&1 || apt_failed
  step packages changed "installed$missing"
fi

# 2. daemon.json, as berth merged it into the host's own; dockerd told when it is running.
docker_pid() { p=$(cat /var/run/docker.pid 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }
start_dockerd() {
  if has_systemd; then systemctl start docker
  else
    # No systemd (containers): setsid, so the daemon outlives this session.
    setsid dockerd > /var/log/dockerd.log 2>&1 < /dev/null &
  fi
}
wait_docker() {
  i=0
  until docker_answers; do
    i=$((i + 1))
    [ $i -gt 60 ] && return 1
    sleep 1
  done
}
if write_file /etc/docker/daemon.json "$daemon_json"; then
  done_how="written; dockerd is not running yet"
  if pid=$(docker_pid); then
    # SIGHUP applies the reloadable keys, live-restore among them: a restart after it keeps containers running.
    if has_systemd; then systemctl reload docker; else kill -HUP "$pid"; fi
    done_how="written; dockerd reloaded (SIGHUP)"
    if [ "$daemon_how" = restart ]; then
      sleep 1
      if has_systemd; then systemctl restart docker
      else
        kill "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null; do i=$((i + 1)); [ $i -gt 60 ] && fail daemon.json "dockerd (pid $pid) did not stop within 30s"; sleep 0.5; done
        start_dockerd
      fi
      wait_docker || fail daemon.json "dockerd did not answer within 60s after its restart; see journalctl -u docker or /var/log/dockerd.log"
      done_how="written; dockerd restarted (log options need a restart; live-restore keeps containers running across it)"
    fi
  fi
  step daemon.json changed "$done_how"
else
  step daemon.json ok "/etc/docker/daemon.json as wanted"
fi

# 3. dockerd running, and started at boot where systemd does that.
what=""
if has_systemd && ! systemctl is-enabled --quiet docker 2>/dev/null; then
  systemctl enable docker > /dev/null 2>&1 || fail docker "systemctl enable docker failed"
  what="enabled at boot"
fi
if ! docker_answers; then
  start_dockerd
  wait_docker || fail docker "dockerd did not answer within 60s; see journalctl -u docker or /var/log/dockerd.log"
  what="$what\${what:+, }started$(has_systemd || echo ' (no systemd: setsid dockerd, log /var/log/dockerd.log)')"
fi
version=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
if [ -n "$what" ]; then step docker changed "Docker Engine $version $what"; else step docker ok "Docker Engine $version running"; fi

# 4. Kernel modules: loaded now, listed for boot. Built-in ones have nothing to load.
changed=""
write_file /etc/modules-load.d/berth.conf "$modules_conf" && changed="berth.conf written"
kernel=$(uname -r)
for m in $(printf '%s\\n' "$modules_conf" | grep -v '^#'); do
  [ -d "/sys/module/$m" ] && continue
  grep -qs "/$m\\.ko" "/lib/modules/$kernel/modules.builtin" && continue
  if [ ! -d "/lib/modules/$kernel" ]; then
    err="there is no /lib/modules/$kernel to load it from (built into this kernel, or a container without the host's modules)"
    case "$required" in *" $m "*) fail modules "$m is not loaded and $err" ;; esac
    note modules "$m is not loaded as a module; $err"
  elif err=$(modprobe "$m" 2>&1); then
    [ -d "/sys/module/$m" ] && changed="$changed\${changed:+, }loaded $m"
  else
    err=$(printf '%s' "$err" | tail -1)
    case "$required" in *" $m "*) fail modules "$m cannot be loaded: $err" ;; esac
    note modules "$m is not loaded and cannot be loaded here: $err"
  fi
done
if [ -n "$changed" ]; then step modules changed "$changed"; else step modules ok "as wanted"; fi

# 5. sysctls: the file for boot, each value applied now; one the kernel refuses is said, not fatal.
changed=""
write_file /etc/sysctl.d/99-berth.conf "$sysctl_conf" && changed="99-berth.conf written"
for kv in $(printf '%s\\n' "$sysctl_conf" | grep -v '^#' | tr -d ' '); do
  key=\${kv%%=*} value=\${kv#*=}
  path=/proc/sys/$(printf '%s' "$key" | tr . /)
  if [ ! -e "$path" ]; then note sysctls "$key does not exist on this kernel (module not loaded?)"; continue; fi
  [ "$(cat "$path" 2>/dev/null)" = "$value" ] && continue
  if (printf '%s\\n' "$value" > "$path") 2>/dev/null; then changed="$changed\${changed:+, }$key=$value"
  else note sysctls "$key=$value refused (read-only /proc/sys in a container?); it is $(cat "$path")"; fi
done
if [ -n "$changed" ]; then step sysctls changed "$changed"; else step sysctls ok "as wanted"; fi

# 7. /run/netns a shared mount point, so namespaces neutron's agents make appear on the host and in each other.
netns_mount() { awk '$5 == "/run/netns" { for (i = 7; $i != "-"; i++) if ($i ~ /^shared:/) s = 1; m = 1 } END { print (m ? (s ? "shared" : "private") : "none") }' /proc/self/mountinfo; }
mkdir -p /run/netns
case $(netns_mount) in
  shared) step netns ok "/run/netns is a shared mount" ;;
  none) { mount --bind /run/netns /run/netns && mount --make-shared /run/netns; } 2>/dev/null || fail netns "cannot make /run/netns a shared mount: $(mount --make-shared /run/netns 2>&1 | tail -1)"
        step netns changed "/run/netns bind-mounted, shared" ;;
  *) mount --make-shared /run/netns 2>/dev/null || fail netns "cannot make /run/netns shared"
     step netns changed "/run/netns made shared" ;;
esac
`;

/** The steps the script reports, in order; `hosts` runs last, once every host's address is known. */
export const BOOTSTRAP_STEPS = ['packages', 'daemon.json', 'docker', 'modules', 'sysctls', 'netns', 'hosts'] as const;
export type BootstrapStep = (typeof BOOTSTRAP_STEPS)[number];

export type ScriptLine =
  | { kind: 'step'; step: string; status: 'ok' | 'changed' | 'failed'; detail: string }
  | { kind: 'note'; step: string; text: string }
  | { kind: 'fact'; key: string; value: string }
  | { kind: 'file'; name: string; content: string };

/** One line of the script's stdout; undefined for anything else (a command's chatter). */
export function parseScriptLine(line: string): ScriptLine | undefined {
  const m = /^berth:(step|note|fact|file) (\S+) ?(.*)$/.exec(line);
  if (!m) return undefined;
  const [, kind, name, rest = ''] = m as unknown as [string, string, string, string];
  if (kind === 'step') {
    const s = /^(ok|changed|failed) ?(.*)$/.exec(rest);
    return s ? { kind: 'step', step: name, status: s[1] as 'ok' | 'changed' | 'failed', detail: s[2]! } : undefined;
  }
  if (kind === 'note') return { kind: 'note', step: name, text: rest };
  if (kind === 'fact') return { kind: 'fact', key: name, value: rest };
  return { kind: 'file', name, content: Buffer.from(rest, 'base64').toString('utf8') };
}

export interface HostState {
  codename: string;
  systemd: boolean;
  daemonJson?: string;
  hosts: string;
}

export function parseHostState(stdout: string): HostState {
  const state: HostState = { codename: 'unknown', systemd: false, hosts: '' };
  for (const line of stdout.split('\n')) {
    const l = parseScriptLine(line);
    if (l?.kind === 'fact' && l.key === 'codename') state.codename = l.value;
    if (l?.kind === 'fact' && l.key === 'systemd') state.systemd = true;
    if (l?.kind === 'file' && l.name === 'daemon.json') state.daemonJson = l.content;
    if (l?.kind === 'file' && l.name === 'hosts') state.hosts = l.content;
  }
  return state;
}

/**
 * A failed step's detail → one sentence and what to do. The script names apt's failures by cause
 * (the first word) followed by apt's own line.
 */
export function explainFailure(step: string, detail: string): { message: string; hint?: string } {
  if (step !== 'packages') return { message: `${step}: ${detail}` };
  const [cause = '', ...rest] = detail.split(' ');
  const apt = rest.join(' ').trim();
  const said = apt ? ` (${apt})` : '';
  switch (cause) {
    case 'no-sources':
      return { message: 'packages: the host has no apt sources (/etc/apt/sources.list, sources.list.d)', hint: 'add a Debian mirror to its apt sources, e.g. deb.debian.org' };
    case 'mirror':
      return { message: `packages: the Debian mirror cannot be reached${said}`, hint: "check the host's network, DNS and proxy, and its apt sources; see /var/log/berth-bootstrap-apt.log there" };
    case 'apt-lock':
      return { message: `packages: apt is locked by another process${said}`, hint: 'wait for it (unattended-upgrades, another apt run) to finish, then run bootstrap-servers again' };
    case 'no-package':
      return { message: `packages: the apt sources offer no Docker Engine${said}`, hint: "Debian 12 or 13 with its main component is needed; check the host's apt sources" };
    default:
      return { message: `packages: apt failed${said}`, hint: 'see /var/log/berth-bootstrap-apt.log on the host' };
  }
}

/** Runs the script on a host: over its SSH connection, or here for ansible_connection=local. */
export interface BootstrapTarget {
  readonly name: string;
  /** Connects (SSH); throws an EngineError saying why the host cannot be reached. */
  connect(): Promise<void>;
  run(args: string[], onLine?: (line: string) => void): Promise<RunResult>;
  facts(interfaces: readonly string[]): Promise<HostFacts>;
}

export function sshTarget(host: SshHost): BootstrapTarget {
  return {
    name: host.name,
    connect: async () => {
      await host.ssh.connect();
    },
    run: (args, onLine) => host.ssh.runScript(BOOTSTRAP_SCRIPT, args, undefined, { onStdout: lines(onLine) }),
    facts: (interfaces) => host.facts(interfaces),
  };
}

export function localTarget(host: LocalHost): BootstrapTarget {
  return {
    name: host.name,
    connect: () => Promise.resolve(),
    run: (args, onLine) => runLocal(args, lines(onLine)),
    facts: (interfaces) => host.facts(interfaces),
  };
}

/** The script on this machine, as root (through sudo -n when berth is not). */
function runLocal(args: string[], onStdout?: (chunk: Buffer) => void): Promise<RunResult> {
  const argv = ['sh', '-c', BOOTSTRAP_SCRIPT, 'berth', ...args];
  const [cmd, ...rest] = process.getuid?.() === 0 ? argv : ['sudo', '-n', ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => (out.push(c), onStdout?.(c)));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new EngineError(`this machine: cannot run the bootstrap script: ${e.message}`)));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Chunks → whole lines, for a caller that wants each line as it arrives. */
function lines(onLine?: (line: string) => void): ((chunk: Buffer) => void) | undefined {
  if (!onLine) return undefined;
  let rest = '';
  return (chunk) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop()!;
    for (const p of parts) onLine(p);
  };
}
