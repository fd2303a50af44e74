// The local host: this machine's Docker socket and files.
import { mkdir, readdir, readFile, rm, writeFile, chmod, rename, stat } from 'node:fs/promises';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { hostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Engine, EngineError } from './docker.js';
import { DockerHost, type HostFiles } from './docker-host.js';
import { MARKER, type ConfigState, type HostFacts } from './host.js';
import { readModuleFacts, type ModuleFacts } from './kernel-modules.js';
import { splice } from './splice.js';

export class LocalHost extends DockerHost {
  constructor(name: string, engine = new Engine()) {
    super(name, engine, new LocalFiles());
  }

  override connectLoopback(port: number): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      const socket: Socket = tcpConnect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => reject(new EngineError(`${this.name}: nothing answers on 127.0.0.1:${port} (${err.code ?? err.message})`)));
    });
  }

  /** A listener on this machine's 127.0.0.1:port, each connection joined to `connect()`. */
  override exposeLoopback(port: number, connect: () => Promise<Duplex>): Promise<{ close(): Promise<void> }> {
    const open = new Set<Socket>();
    const server = createServer((socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      connect().then(
        (upstream) => splice(socket, upstream),
        () => socket.destroy(),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new EngineError(
            `${this.name}: port 127.0.0.1:${port} is taken on this machine (${err.code ?? err.message}), so berth cannot forward it to the registry`,
            `stop what listens there (ss -ltnp 'sport = :${port}'), or choose another port in docker_registry`,
          ),
        ),
      );
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () =>
        // The engine keeps its registry connections alive: closing waits for none of them.
        resolve({
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              for (const s of open) s.destroy();
            }),
        }),
      );
    });
  }
}

/** This machine's files, through node:fs, and its names and addresses. */
export class LocalFiles implements HostFiles {
  facts(interfaces: readonly string[]): Promise<HostFacts> {
    const all = networkInterfaces();
    // A non-loopback IPv4 address first; loopback only when that is all the interface has (tests bind there).
    const ipv4 = (name: string): NetworkInterfaceInfo | undefined => {
      const v4 = (all[name] ?? []).filter((i) => i.family === 'IPv4');
      return v4.find((i) => !i.internal) ?? v4[0];
    };
    return Promise.resolve({
      hostname: hostname(),
      addresses: Object.fromEntries(interfaces.map((i) => [i, ipv4(i)?.address])),
      prefixes: Object.fromEntries(interfaces.map((i) => [i, prefixOf(ipv4(i)?.cidr)])),
      interfaces: Object.keys(all),
    });
  }

  kernelModule(module: string): Promise<ModuleFacts> {
    return Promise.resolve(readModuleFacts(module));
  }

  async readDir(dir: string): Promise<Record<string, string> | undefined> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
    } catch {
      return undefined;
    }
    const files: Record<string, string> = {};
    for (const n of names) files[n] = await readFile(join(dir, n), 'utf8');
    return files;
  }

  /** Writes are atomic renames. */
  async syncDir(dir: string, files: Record<string, string>): Promise<boolean> {
    const current = (await this.readDir(dir)) ?? {};
    let changed = false;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    for (const [name, content] of Object.entries(files)) {
      if (current[name] === content) continue;
      const tmp = join(dir, `.${name}.tmp`);
      await writeFile(tmp, content, { mode: 0o600 });
      await rename(tmp, join(dir, name));
      changed = true;
    }
    for (const name of Object.keys(current)) {
      if (!(name in files)) {
        await rm(join(dir, name), { force: true, recursive: true });
        changed = true;
      }
    }
    return changed;
  }

  async configState(dir: string): Promise<ConfigState> {
    const marker = await readFile(join(dir, MARKER), 'utf8').catch(() => undefined);
    return { files: await this.readDir(dir), filesWrittenAt: await this.dirWrittenAt(dir), ...(marker !== undefined ? { marker } : {}) };
  }

  async configStates(dirs: readonly string[]): Promise<Map<string, ConfigState>> {
    return new Map(await Promise.all(dirs.map(async (dir) => [dir, await this.configState(dir)] as const)));
  }

  async writeMarker(dir: string, text: string): Promise<void> {
    const tmp = join(dir, `${MARKER}.tmp`);
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, join(dir, MARKER));
  }

  /** Newest modification time of the files in dir (ms), or undefined when there is none. */
  private async dirWrittenAt(dir: string): Promise<number | undefined> {
    let newest: number | undefined;
    try {
      for (const n of (await readdir(dir)).filter((name) => !name.startsWith('.'))) {
        const m = (await stat(join(dir, n))).mtimeMs;
        newest = newest === undefined ? m : Math.max(newest, m);
      }
    } catch {
      return undefined;
    }
    return newest;
  }

  async removeDir(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }
}

function prefixOf(cidr: string | null | undefined): number | undefined {
  const n = Number(cidr?.split('/')[1]);
  return Number.isInteger(n) ? n : undefined;
}
