// The simulated engines' files, in memory: an engine's host filesystem, each named volume's, and a
// container's view, where a path under a mount's destination lands in that mount's filesystem (a
// bind: the host's, under its source; a volume: the volume's). Tar in and out as Docker's archive
// API does it.
import { posix } from 'node:path';
import { extract, pack } from 'tar-stream';

export interface FsNode {
  type: 'file' | 'dir' | 'symlink';
  content: Buffer;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  linkTarget?: string;
}

export interface FsMeta {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
}

const EMPTY = Buffer.alloc(0);

/** `a//b/../c/` → `/a/c`; always absolute, no trailing slash but for `/`. */
export function normalizePath(path: string): string {
  const p = posix.normalize(`/${path}`);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function parentOf(path: string): string {
  return posix.dirname(path);
}

/**
 * One filesystem: path → node, directories explicit (a write makes its parents, as `mkdir -p`
 * would), each directory knowing its children so listing and removal never scan the whole tree.
 */
export class MemFs {
  private readonly nodes = new Map<string, FsNode>();
  private readonly children = new Map<string, Set<string>>();
  private readonly root: FsNode = { type: 'dir', content: EMPTY, mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) };

  stat(path: string): FsNode | undefined {
    const p = normalizePath(path);
    return p === '/' ? this.root : this.nodes.get(p);
  }

  /** Names in a directory, sorted. */
  list(path: string): string[] {
    return [...(this.children.get(normalizePath(path)) ?? [])].sort();
  }

  mkdirp(path: string, meta: FsMeta = {}): void {
    const p = normalizePath(path);
    if (p === '/') return;
    const existing = this.nodes.get(p);
    if (existing?.type === 'dir') return;
    this.mkdirp(parentOf(p), {});
    if (existing) this.remove(p);
    this.put(p, { type: 'dir', content: EMPTY, mode: meta.mode ?? 0o755, uid: meta.uid ?? 0, gid: meta.gid ?? 0, mtime: meta.mtime ?? new Date() });
  }

  writeFile(path: string, content: Buffer | string, meta: FsMeta = {}): void {
    const p = normalizePath(path);
    this.mkdirp(parentOf(p));
    if (this.nodes.get(p)?.type === 'dir') this.remove(p);
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    this.put(p, { type: 'file', content: data, mode: meta.mode ?? 0o644, uid: meta.uid ?? 0, gid: meta.gid ?? 0, mtime: meta.mtime ?? new Date() });
  }

  symlink(path: string, target: string, meta: FsMeta = {}): void {
    const p = normalizePath(path);
    this.mkdirp(parentOf(p));
    if (this.nodes.has(p)) this.remove(p);
    this.put(p, { type: 'symlink', content: EMPTY, linkTarget: target, mode: meta.mode ?? 0o777, uid: meta.uid ?? 0, gid: meta.gid ?? 0, mtime: meta.mtime ?? new Date() });
  }

  /** Removes a node and everything under it; false when there was nothing. */
  remove(path: string): boolean {
    const p = normalizePath(path);
    if (p === '/') {
      const had = this.nodes.size > 0;
      this.nodes.clear();
      this.children.clear();
      return had;
    }
    if (!this.nodes.has(p)) return false;
    for (const name of this.children.get(p) ?? []) this.remove(posix.join(p, name));
    this.nodes.delete(p);
    this.children.delete(p);
    this.children.get(parentOf(p))?.delete(posix.basename(p));
    return true;
  }

  private put(path: string, node: FsNode): void {
    this.nodes.set(path, node);
    const parent = parentOf(path);
    let names = this.children.get(parent);
    if (!names) this.children.set(parent, (names = new Set()));
    names.add(posix.basename(path));
  }
}

/** A mount as a container sees it: its destination, and where that lands. */
export interface FsMount {
  destination: string;
  fs: MemFs;
  /** The path in `fs` the destination shows (a bind's source; `/` for a volume). */
  source: string;
  readOnly: boolean;
}

/**
 * Directories every image has. A container's own filesystem starts empty (berth never reads what
 * an image holds), but these exist so that a put into /tmp or /etc finds its directory.
 */
const IMAGE_DIRS = ['/bin', '/dev', '/etc', '/home', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/usr/bin', '/usr/local', '/usr/sbin', '/var', '/var/lib', '/var/log', '/var/tmp'];
const IMAGE_DIR_SET = new Set(IMAGE_DIRS);
const IMAGE_DIR_NODE: FsNode = { type: 'dir', content: EMPTY, mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) };

export class ReadOnlyError extends Error {}

/** A container's filesystem: its own root (made on first write) seen through its mounts. */
export class ContainerFs {
  private root?: MemFs;

  constructor(private readonly mounts: readonly FsMount[]) {}

  /** Where a container path lands: the mount with the longest destination containing it, or the root. */
  resolve(path: string): { fs: MemFs | undefined; path: string; mount?: FsMount } {
    const p = normalizePath(path);
    let best: FsMount | undefined;
    for (const m of this.mounts) {
      if ((p === m.destination || p.startsWith(`${m.destination}/`)) && (!best || m.destination.length > best.destination.length)) best = m;
    }
    if (!best) return { fs: this.root, path: p };
    return { fs: best.fs, path: normalizePath(posix.join(best.source, p.slice(best.destination.length))), mount: best };
  }

  stat(path: string): FsNode | undefined {
    const r = this.resolve(path);
    const node = r.fs?.stat(r.path);
    if (node || r.mount) return node;
    // A mount's destination and its parents exist in the root, as Docker makes the mountpoints.
    if (IMAGE_DIR_SET.has(r.path) || r.path === '/' || this.mounts.some((m) => m.destination.startsWith(`${r.path}/`))) return IMAGE_DIR_NODE;
    return undefined;
  }

  list(path: string): string[] {
    const r = this.resolve(path);
    const names = new Set(r.fs?.list(r.path) ?? []);
    if (!r.mount) for (const d of IMAGE_DIRS) if (parentOf(d) === r.path) names.add(posix.basename(d));
    for (const m of this.mounts) if (m.destination !== '/' && parentOf(m.destination) === r.path) names.add(posix.basename(m.destination));
    return [...names].sort();
  }

  writeFile(path: string, content: Buffer | string, meta?: FsMeta): void {
    const r = this.writable(path);
    r.fs.writeFile(r.path, content, meta);
  }

  mkdirp(path: string, meta?: FsMeta): void {
    const r = this.writable(path);
    r.fs.mkdirp(r.path, meta);
  }

  symlink(path: string, target: string, meta?: FsMeta): void {
    const r = this.writable(path);
    r.fs.symlink(r.path, target, meta);
  }

  remove(path: string): boolean {
    const r = this.resolve(path);
    if (r.mount?.readOnly) throw new ReadOnlyError(`${normalizePath(path)}: Read-only file system`);
    return r.fs?.remove(r.path) ?? false;
  }

  private writable(path: string): { fs: MemFs; path: string } {
    const r = this.resolve(path);
    if (r.mount?.readOnly) throw new ReadOnlyError(`${normalizePath(path)}: Read-only file system`);
    return { fs: r.fs ?? (this.root = new MemFs()), path: r.path };
  }
}

/** Go's os.FileMode bits, as Docker's path stat reports them. */
const GO_MODE_DIR = 0x80000000;
const GO_MODE_SYMLINK = 0x08000000;

/** The X-Docker-Container-Path-Stat header: base64 of {name, size, mode, mtime, linkTarget}. */
export function pathStatHeader(path: string, node: FsNode): string {
  const typeBits = node.type === 'dir' ? GO_MODE_DIR : node.type === 'symlink' ? GO_MODE_SYMLINK : 0;
  const stat = {
    name: posix.basename(normalizePath(path)) || '/',
    size: node.type === 'dir' ? 4096 : node.content.length,
    // >>> 0: the directory bit is bit 31, beyond a signed 32-bit int.
    mode: ((node.mode & 0o7777) | typeBits) >>> 0,
    mtime: node.mtime.toISOString(),
    linkTarget: node.linkTarget ?? '',
  };
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

/** A tar of a container path, its entries under the path's base name as `docker cp` gives them. */
export async function packPath(fs: ContainerFs, path: string): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of tar) chunks.push(c as Buffer);
  })();
  const add = (at: string, name: string): void => {
    const node = fs.stat(at);
    if (!node) return;
    const header = { name, mode: node.mode & 0o7777, uid: node.uid, gid: node.gid, mtime: node.mtime };
    if (node.type === 'dir') {
      tar.entry({ ...header, type: 'directory' });
      for (const child of fs.list(at)) add(posix.join(at, child), name ? `${name}/${child}` : child);
    } else if (node.type === 'symlink') {
      tar.entry({ ...header, type: 'symlink', linkname: node.linkTarget ?? '' });
    } else {
      tar.entry({ ...header, type: 'file' }, node.content);
    }
  };
  const p = normalizePath(path);
  if (p === '/') for (const child of fs.list('/')) add(`/${child}`, child);
  else add(p, posix.basename(p));
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Extracts a tar into a container directory: files, directories and symlinks; parents made as needed. */
export async function extractInto(fs: ContainerFs, dir: string, tarball: Buffer): Promise<void> {
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, body, next) => {
      const parts = header.name.split('/').filter((s) => s && s !== '.');
      if (parts.includes('..')) {
        body.resume();
        return next(new Error(`tar entry ${header.name} leaves the target directory`));
      }
      const target = posix.join(normalizePath(dir), ...parts);
      const meta = { mode: header.mode, uid: header.uid, gid: header.gid, mtime: header.mtime };
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => {
        try {
          if (header.type === 'directory') fs.mkdirp(target, meta);
          else if (header.type === 'symlink') fs.symlink(target, header.linkname ?? '', meta);
          else if (header.type === 'file' || header.type === 'contiguous-file') fs.writeFile(target, Buffer.concat(chunks), meta);
          next();
        } catch (err) {
          next(err as Error);
        }
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tarball);
  await done;
}
