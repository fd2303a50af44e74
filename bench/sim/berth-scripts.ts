// berth's fixed host scripts (src/engine/script-files.ts, kernel-modules.ts), as a TCP host runs
// them with `docker exec` in its files container, acted out on the simulated files: the exec
// table's entries keyed by each script's exact text. What each does is what the script does on a
// real host (read a directory as a POSIX tar with sub-second mtimes, write one from a tar on stdin
// with a removal list, remove one, print the host's name and addresses, a kernel module's facts);
// the host is a simulated one: its only interfaces are lo and eth0 at the engine's address, and
// every kernel module is loaded. Also haproxy's admin socket as berth's load balancer steering uses
// it (haproxy.ts).
import { posix } from 'node:path';
import { MARKER } from '../../src/engine/host.js';
import { MODULE_FACTS_SCRIPT } from '../../src/engine/kernel-modules.js';
import { HOST_FACTS, NO_DIR, READ_DIR, READ_DIRS, REMOVE_DIR, WRITE_FILES } from '../../src/engine/script-files.js';
import { defaultExecHandlers, type ExecContext, type ExecHandler, type ExecResult, type ExecTable } from './exec.js';
import { HAPROXY_CLI, haproxyCli } from './haproxy.js';

export const SIM_KERNEL = '6.1.0-sim-amd64';

/** The exec table with berth's scripts added. */
export function withBerthScripts(base: ExecTable = defaultExecHandlers): Map<string | RegExp, ExecHandler> {
  return new Map<string | RegExp, ExecHandler>([
    ...base,
    [READ_DIR, readDir],
    [READ_DIRS, readDirs],
    [WRITE_FILES, writeFiles],
    [REMOVE_DIR, (ctx) => (ctx.fs.remove(posix.normalize(ctx.argv[4] ?? '/nonexistent')), { code: 0 })],
    [HOST_FACTS, hostFacts],
    [MODULE_FACTS_SCRIPT, (ctx) => ({ code: 0, stdout: `${SIM_KERNEL}\n${ctx.argv[4] ? 'loaded' : 'absent'}\n-\n-\n-\n` })],
    [HAPROXY_CLI, haproxyCli],
  ]);
}

// argv: sh -c SCRIPT berth ARGS...: the script's $1 is argv[4].
function readDir(ctx: ExecContext): ExecResult {
  const dir = ctx.argv[4] ?? '';
  const node = ctx.fs.stat(dir);
  if (node?.type !== 'dir') return { code: NO_DIR };
  const names = ctx.fs.list(dir).filter((n) => (!n.startsWith('.') || n === MARKER) && ctx.fs.stat(posix.join(dir, n))?.type === 'file');
  if (!names.length) return { code: 0 };
  return {
    code: 0,
    stdout: packTar(
      names.map((n) => {
        const file = ctx.fs.stat(posix.join(dir, n))!;
        return { name: `./${n}`, content: file.content, mode: file.mode, mtime: file.mtime };
      }),
    ),
  };
}

/** Each existing directory as an entry, then its files and marker, named by absolute path without the leading slash. */
function readDirs(ctx: ExecContext): ExecResult {
  const entries: TarEntry[] = [];
  for (const dir of ctx.argv.slice(4)) {
    const node = ctx.fs.stat(dir);
    if (node?.type !== 'dir') continue;
    const name = dir.replace(/^\/+/, '');
    entries.push({ name: `${name}/`, content: Buffer.alloc(0), mode: node.mode, mtime: node.mtime, type: 'directory' });
    for (const f of ctx.fs.list(dir)) {
      const file = ctx.fs.stat(posix.join(dir, f));
      if ((!f.startsWith('.') || f === MARKER) && file?.type === 'file') entries.push({ name: `${name}/${f}`, content: file.content, mode: file.mode, mtime: file.mtime });
    }
  }
  return { code: 0, stdout: packTar(entries) };
}

function writeFiles(ctx: ExecContext): ExecResult {
  const dir = ctx.argv[4] ?? '';
  const now = new Date();
  ctx.fs.mkdirp(dir, { mode: 0o700, mtime: now });
  for (const entry of unpackTar(ctx.stdin)) {
    const name = entry.name.replace(/^\.\//, '');
    if (entry.name === '.remove') {
      for (const removed of entry.content.toString('utf8').split('\n').filter(Boolean)) ctx.fs.remove(posix.join(dir, removed));
      continue;
    }
    // As `tar -x` under umask 077: the archive's mode without group and other bits, written now.
    ctx.fs.writeFile(posix.join(dir, name), entry.content, { mode: entry.mode & 0o700, uid: 0, gid: 0, mtime: now });
  }
  return { code: 0 };
}

function hostFacts(ctx: ExecContext): ExecResult {
  const address = ctx.address ?? '127.0.0.1';
  const lines = [ctx.hostname, 'eth0 lo', `1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever`, `2: eth0    inet ${address}/8 scope global eth0\\       valid_lft forever preferred_lft forever`];
  return { code: 0, stdout: `${lines.join('\n')}\n` };
}

interface TarEntry {
  name: string;
  content: Buffer;
  mode: number;
  mtime: Date;
  /** A regular file unless said. */
  type?: 'file' | 'directory';
}

/**
 * A POSIX tar as GNU tar --format=posix writes one: each file's mtime to the sub-second in a pax
 * header before its ustar header. Synchronous: the exec table's handlers are.
 */
export function packTar(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const record = paxRecord('mtime', (e.mtime.getTime() / 1000).toFixed(9));
    blocks.push(header(`PaxHeaders/${e.name.replace(/^\.\//, '')}`.slice(0, 100), record.length, 0o644, e.mtime, 'x'), pad(record));
    blocks.push(header(e.name, e.content.length, e.mode, e.mtime, e.type === 'directory' ? '5' : '0'), pad(e.content));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The regular files of a ustar or pax tar (as tar-stream's pack writes berth's), their pax mtimes applied. */
export function unpackTar(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let pax: Record<string, string> = {};
  for (let at = 0; at + 512 <= tar.length; ) {
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const field = (from: number, length: number): string => h.subarray(from, from + length).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const content = Buffer.from(tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      pax = parsePax(content);
      continue;
    }
    if (type === '0') {
      const mtime = pax.mtime !== undefined ? new Date(Number(pax.mtime) * 1000) : new Date(parseInt(field(136, 12).trim() || '0', 8) * 1000);
      out.push({ name: pax.path ?? name, content, mode: parseInt(field(100, 8).trim() || '644', 8), mtime });
    }
    pax = {};
  }
  return out;
}

function header(name: string, size: number, mode: number, mtime: Date, type: string): Buffer {
  const h = Buffer.alloc(512);
  const put = (from: number, length: number, text: string): void => void h.write(text.slice(0, length), from, 'utf8');
  const octal = (n: number, length: number): string => `${n.toString(8).padStart(length - 1, '0')}\0`;
  put(0, 100, name);
  put(100, 8, octal(mode & 0o7777, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(size, 12));
  put(136, 12, octal(Math.floor(mtime.getTime() / 1000), 12));
  put(148, 8, '        ');
  put(156, 1, type);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(265, 32, 'root');
  put(297, 32, 'root');
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

function pad(content: Buffer): Buffer {
  const rest = content.length % 512;
  return rest ? Buffer.concat([content, Buffer.alloc(512 - rest)]) : content;
}

/** "LEN key=value\n", LEN counting itself. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length = `${length}${body}`.length;
  return Buffer.from(`${length}${body}`);
}

function parsePax(content: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of content.toString('utf8').matchAll(/^\d+ ([^=]+)=(.*)$/gm)) out[m[1]!] = m[2]!;
  return out;
}
