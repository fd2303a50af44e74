// A host's files through fixed shell scripts, run by whatever reaches the host: an SSH
// connection's exec channels, or `docker exec` in a host's files container (TCP hosts). Contents
// travel as tar streams on stdin and stdout, never in command lines: config files hold secrets.
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { EngineError } from './docker.js';
import type { HostFiles } from './docker-host.js';
import { MARKER, type ConfigState, type HostFacts } from './host.js';
import { MODULE_FACTS_SCRIPT, parseModuleFacts, type ModuleFacts } from './kernel-modules.js';

/** Exit status of READ_DIR for a directory that does not exist. */
export const NO_DIR = 3;

/**
 * The directory's files (not dot files) and the marker, as a POSIX tar: GNU tar's pax headers keep
 * mtimes to the nanosecond, which decide() compares with the container's start. Nothing when the
 * directory is empty (tar refuses an empty archive).
 */
export const READ_DIR = `
cd -- "$1" 2>/dev/null || exit ${NO_DIR}
set --
for f in * ${MARKER}; do [ -f "$f" ] && set -- "$@" "./$f"; done
[ $# -eq 0 ] && exit 0
exec tar --format=posix -cf - -- "$@"
`;

/**
 * Writes the files of the tar on stdin into $1 atomically: extracted into a temporary directory
 * beside them (same file system), then each renamed into place. \`.remove\` in the tar lists names
 * to delete. umask and the archive's modes give 0700 directories and 0600 files.
 */
/**
 * READ_DIR for every directory given, in one POSIX tar: each existing directory as an entry of its
 * own (so an empty one is told from a missing one), then its files and marker; names are the
 * absolute paths without their leading slash.
 */
export const READ_DIRS = `
for d do
  [ -d "$d" ] || continue
  printf '%s\\n' "\${d#/}"
  for f in "$d"/* "$d"/${MARKER}; do [ -f "$f" ] && printf '%s\\n' "\${f#/}"; done
done | { cd / && exec tar --format=posix --no-recursion -cf - -T -; }
`;

export const WRITE_FILES = `
set -eu
umask 077
mkdir -p -- "$1"
chmod 700 -- "$1"
tmp=$(mktemp -d -- "$1/.berth-write.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
tar -xf - -C "$tmp" --no-same-owner
if [ -f "$tmp/.remove" ]; then
  while IFS= read -r name; do [ -n "$name" ] && rm -rf -- "$1/$name"; done < "$tmp/.remove"
  rm -f -- "$tmp/.remove"
fi
for f in "$tmp"/* "$tmp"/.[!.]*; do
  [ -e "$f" ] || continue
  mv -f -- "$f" "$1/\${f##*/}"
done
`;

export const REMOVE_DIR = `rm -rf -- "$1"`;

// The hostname a container on the host network sees, every interface, then iproute2's IPv4 lines
// (bootstrap-servers installs iproute2; Debian's minimal systems lack it).
export const HOST_FACTS = `cat /proc/sys/kernel/hostname
ls /sys/class/net | tr '\\n' ' '; echo
command -v ip >/dev/null 2>&1 || { echo "no ip command (iproute2)" >&2; exit 3; }
ip -o -4 addr show`;

/**
 * Runs a fixed script on the host as root with `sh -c SCRIPT berth ARGS...`, stdin given; the
 * exit status, stdout and stderr back. `privileged: false` for what any user may read.
 */
export interface ScriptRunner {
  runScript(script: string, args: string[], stdin?: Buffer, opts?: { privileged?: boolean }): Promise<RunResult>;
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Config directories and kernel facts of a host, through the scripts above. */
export class ScriptFiles implements HostFiles {
  constructor(
    private readonly ssh: ScriptRunner,
    /** "host NAME", for errors. */
    private readonly where: string,
  ) {}

  async facts(interfaces: readonly string[]): Promise<HostFacts> {
    const r = await this.ssh.runScript(HOST_FACTS, [], undefined, { privileged: false });
    if (r.code === 3) throw new EngineError(`${this.where}: has no ip command (iproute2)`, 'run berth bootstrap-servers, which installs it');
    if (r.code !== 0) throw new EngineError(`${this.where}: reading its hostname and addresses failed: ${failure(r)}`);
    return parseHostFacts(r.stdout.toString('utf8'), interfaces);
  }

  async kernelModule(module: string): Promise<ModuleFacts> {
    if (!/^[a-z0-9_]+$/.test(module)) throw new Error(`not a kernel module name: ${module}`);
    // World-readable files: no sudo needed.
    const r = await this.ssh.runScript(MODULE_FACTS_SCRIPT, [module], undefined, { privileged: false });
    if (r.code !== 0) throw new EngineError(`${this.where}: reading kernel module facts failed: ${failure(r)}`);
    return parseModuleFacts(module, r.stdout.toString('utf8'));
  }

  async readDir(dir: string): Promise<Record<string, string> | undefined> {
    return (await this.configState(dir)).files;
  }

  async configState(dir: string): Promise<ConfigState> {
    const r = await this.ssh.runScript(READ_DIR, [dir]);
    if (r.code === NO_DIR) return {};
    if (r.code !== 0) throw new EngineError(`${this.where}: reading ${dir} failed: ${failure(r)}`);
    return stateOf((await untar(r.stdout)).filter((e) => e.type === 'file'));
  }

  async configStates(dirs: readonly string[]): Promise<Map<string, ConfigState>> {
    const states = new Map<string, ConfigState>(dirs.map((d) => [d, {}]));
    if (!dirs.length) return states;
    const r = await this.ssh.runScript(READ_DIRS, [...dirs]);
    if (r.code !== 0) throw new EngineError(`${this.where}: reading ${dirs.length} config directories failed: ${failure(r)}`);
    const entries = await untar(r.stdout);
    const key = (d: string): string => d.replace(/^\/+/, '').replace(/\/+$/, '');
    for (const dir of dirs) {
      const inDir = key(dir);
      if (!entries.some((e) => e.type === 'directory' && key(e.name) === inDir)) continue;
      const files = entries.filter((e) => e.type === 'file' && e.name.slice(0, e.name.lastIndexOf('/')) === inDir).map((e) => ({ ...e, name: e.name.slice(inDir.length + 1) }));
      states.set(dir, stateOf(files));
    }
    return states;
  }

  /** One read, and one write only when something differs (or the directory is missing). */
  async syncDir(dir: string, files: Record<string, string>): Promise<boolean> {
    const existing = await this.readDir(dir);
    const current = existing ?? {};
    const changed = Object.fromEntries(Object.entries(files).filter(([name, content]) => current[name] !== content));
    const removed = Object.keys(current).filter((name) => !(name in files));
    const differs = Object.keys(changed).length > 0 || removed.length > 0;
    if (differs || existing === undefined) await this.write(dir, changed, removed);
    return differs;
  }

  async writeMarker(dir: string, text: string): Promise<void> {
    await this.write(dir, { [MARKER]: text }, []);
  }

  async removeDir(dir: string): Promise<void> {
    const r = await this.ssh.runScript(REMOVE_DIR, [dir]);
    if (r.code !== 0) throw new EngineError(`${this.where}: removing ${dir} failed: ${failure(r)}`);
  }

  private async write(dir: string, files: Record<string, string>, remove: string[]): Promise<void> {
    for (const name of [...Object.keys(files), ...remove]) {
      // Names come from the plan; a slash or a newline would escape the directory or the list.
      if (!name || name.includes('/') || name.includes('\n') || name === '.' || name === '..') throw new Error(`not a file name: ${JSON.stringify(name)}`);
    }
    const tar = pack();
    const entry = (name: string, content: string): void => {
      tar.entry({ name, mode: 0o600, uid: 0, gid: 0, mtime: new Date() }, content);
    };
    for (const [name, content] of Object.entries(files)) entry(name, content);
    if (remove.length) entry('.remove', remove.join('\n') + '\n');
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const c of tar) chunks.push(c as Buffer);
    const r = await this.ssh.runScript(WRITE_FILES, [dir], Buffer.concat(chunks));
    if (r.code !== 0) throw new EngineError(`${this.where}: writing ${dir} failed: ${failure(r)}`);
  }
}

/** A directory's files (names without a path) as decide() reads them: contents, newest mtime, marker. */
function stateOf(entries: readonly TarFile[]): ConfigState {
  const files: Record<string, string> = {};
  let newest: number | undefined;
  let marker: string | undefined;
  for (const e of entries) {
    if (e.name === MARKER) {
      marker = e.content;
      continue;
    }
    files[e.name] = e.content;
    newest = newest === undefined ? e.mtimeMs : Math.max(newest, e.mtimeMs);
  }
  return { files, ...(newest !== undefined ? { filesWrittenAt: newest } : {}), ...(marker !== undefined ? { marker } : {}) };
}

/** What a failed script said, or how it ended when it said nothing. */
/** HOST_FACTS' output → HostFacts: the first global IPv4 address of each interface asked for. */
export function parseHostFacts(text: string, interfaces: readonly string[]): HostFacts {
  const [hostname = '', names = '', ...lines] = text.split('\n');
  const addresses: Record<string, { address: string; prefix: number }[]> = {};
  for (const line of lines) {
    // "2: eth0    inet 172.30.77.11/24 brd 172.30.77.255 scope global eth0\       valid_lft ..."
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+([\d.]+)\/(\d+)/.exec(line);
    if (m) (addresses[m[1]!] ??= []).push({ address: m[2]!, prefix: Number(m[3]) });
  }
  // Loopback only when that is all the interface has, as on this machine (tests bind there).
  const first = (i: string): { address: string; prefix: number } | undefined => (addresses[i] ?? []).find((a) => !a.address.startsWith('127.')) ?? addresses[i]?.[0];
  return {
    hostname: hostname.trim(),
    addresses: Object.fromEntries(interfaces.map((i) => [i, first(i)?.address])),
    prefixes: Object.fromEntries(interfaces.map((i) => [i, first(i)?.prefix])),
    interfaces: names.trim().split(/\s+/).filter(Boolean),
  };
}

function failure(r: RunResult): string {
  return r.stderr.trim() || (r.code === -1 ? 'the command ended without an exit status (killed, or the channel closed)' : `exit status ${r.code}`);
}

interface TarFile {
  name: string;
  type: 'file' | 'directory';
  content: string;
  mtimeMs: number;
}

/** The regular files and directories of a tar (names without ./), with mtimes to the sub-second from pax headers. */
async function untar(buf: Buffer): Promise<TarFile[]> {
  if (!buf.length) return [];
  const files: TarFile[] = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file' || header.type === 'directory') {
          const pax = header.pax as Record<string, string> | null | undefined;
          const mtime = pax?.mtime !== undefined ? Number(pax.mtime) * 1000 : (header.mtime?.getTime() ?? 0);
          files.push({ name: header.name.replace(/^\.\//, ''), type: header.type, content: Buffer.concat(chunks).toString('utf8'), mtimeMs: mtime });
        }
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([buf]).pipe(ex);
  await done;
  return files;
}
