// A Docker host as the Host interface sees it: its engine (over whatever transport the Engine was
// given: the local socket, a host's SSH connection) and its files (a HostFiles backend). All the
// Docker API logic lives here once; LocalHost and SshHost only choose the transport and the files.
import type Docker from 'dockerode';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import type { ContainerSpec } from '../plan/types.js';
import { Engine, EngineError, runExec } from './docker.js';
import type { ActualContainer, ActualVolume, ContainerSummary, ConfigState, Host, HostFacts, ToolFile, ToolRun } from './host.js';
import type { ModuleFacts } from './kernel-modules.js';
import type { PullProgress } from './pull-progress.js';

/** A host's files: config directories (root-owned, 0700, files 0600), kernel and network facts. */
export interface HostFiles {
  /** Hostname and the IPv4 address of each named interface (undefined when it has none). */
  facts(interfaces: readonly string[]): Promise<HostFacts>;
  kernelModule(module: string): Promise<ModuleFacts>;
  readDir(dir: string): Promise<Record<string, string> | undefined>;
  syncDir(dir: string, files: Record<string, string>): Promise<boolean>;
  configState(dir: string): Promise<ConfigState>;
  configStates(dirs: readonly string[]): Promise<Map<string, ConfigState>>;
  writeMarker(dir: string, text: string): Promise<void>;
  removeDir(dir: string): Promise<void>;
}

export class DockerHost implements Host {
  constructor(
    readonly name: string,
    readonly engine: Engine,
    private readonly files: HostFiles,
  ) {}

  facts(interfaces: readonly string[]): Promise<HostFacts> {
    return this.files.facts(interfaces);
  }

  kernelModule(module: string): Promise<ModuleFacts> {
    return this.files.kernelModule(module);
  }

  readDir(dir: string): Promise<Record<string, string> | undefined> {
    return this.files.readDir(dir);
  }

  syncDir(dir: string, files: Record<string, string>): Promise<boolean> {
    return this.files.syncDir(dir, files);
  }

  configState(dir: string): Promise<ConfigState> {
    return this.files.configState(dir);
  }

  configStates(dirs: readonly string[]): Promise<Map<string, ConfigState>> {
    return this.files.configStates(dirs);
  }

  writeMarker(dir: string, text: string): Promise<void> {
    return this.files.writeMarker(dir, text);
  }

  removeDir(dir: string): Promise<void> {
    return this.files.removeDir(dir);
  }

  /** Nothing held open here; a transport that holds a connection closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** dockerode, for what changes things; reads go through engine.api. */
  private docker(): Promise<Docker> {
    return this.engine.docker();
  }

  ping(): Promise<string> {
    return this.engine.ping();
  }

  async listAll(): Promise<ContainerSummary[]> {
    const list = (await this.engine.api.get<Docker.ContainerInfo[]>('/containers/json', { all: '1' })) ?? [];
    return list.map((c) => ({
      name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
      labels: c.Labels ?? {},
      volumes: namedVolumeMounts(c.Mounts),
    }));
  }

  async listContainers(label: string, value?: string): Promise<ActualContainer[]> {
    const filters = JSON.stringify({ label: [value === undefined ? label : `${label}=${value}`] });
    const list = (await this.engine.api.get<Docker.ContainerInfo[]>('/containers/json', { all: '1', filters })) ?? [];
    return Promise.all(list.map((c) => this.inspect(c.Id))).then((all) => all.filter((c): c is ActualContainer => c !== undefined));
  }

  async inspect(nameOrId: string): Promise<ActualContainer | undefined> {
    const i = await this.engine.api.get<Docker.ContainerInspectInfo>(`/containers/${encodeURIComponent(nameOrId)}/json`);
    if (!i) return undefined;
    return {
      id: i.Id,
      name: i.Name.replace(/^\//, ''),
      labels: i.Config.Labels ?? {},
      imageId: i.Image,
      status: i.State.Status,
      // A crash-looping container reports Running between restarts; it is not running for us.
      running: i.State.Running && !i.State.Restarting,
      exitCode: i.State.ExitCode,
      startedAt: i.State.StartedAt,
      // Docker's zero time: the container never finished (or never started).
      ...(i.State.FinishedAt && !i.State.FinishedAt.startsWith('0001-') ? { finishedAt: i.State.FinishedAt } : {}),
      health: i.State.Health?.Status,
      volumes: namedVolumeMounts(i.Mounts),
    };
  }

  async imageId(ref: string): Promise<string | undefined> {
    return (await this.engine.inspectImage(ref))?.id;
  }

  tagImage(id: string, ref: string): Promise<void> {
    return this.engine.tag(id, ref);
  }

  imageTags(): Promise<Map<string, string>> {
    return this.engine.imageTags();
  }

  pull(ref: string, onProgress: (p: PullProgress) => void): Promise<PullProgress> {
    return this.engine.pull(ref, onProgress);
  }

  loadImages(tar: Readable): Promise<void> {
    return this.engine.loadImages(tar);
  }

  /** The transport's (LocalHost: a socket here; SshHost: a channel of its connection). */
  connectLoopback(port: number): Promise<Duplex> {
    return Promise.reject(new Error(`${this.name}: no transport to reach its port ${port}`));
  }

  exposeLoopback(port: number, connect: () => Promise<Duplex>): Promise<{ close(): Promise<void> }> {
    void connect;
    return Promise.reject(new Error(`${this.name}: no transport to expose its port ${port}`));
  }

  async create(name: string, spec: ContainerSpec, labels: Record<string, string>): Promise<void> {
    const hc = spec.healthcheck;
    const seconds = (s: number): number => s * 1e9;
    await (await this.docker()).createContainer({
      name,
      Image: spec.image,
      ...(spec.user ? { User: spec.user } : {}),
      Env: Object.entries(spec.environment).map(([k, v]) => `${k}=${v}`),
      Labels: labels,
      Healthcheck: {
        Test: ['CMD-SHELL', hc.test],
        Interval: seconds(hc.intervalSeconds),
        Timeout: seconds(hc.timeoutSeconds),
        Retries: hc.retries,
        StartPeriod: seconds(hc.startPeriodSeconds),
      },
      HostConfig: {
        NetworkMode: spec.networkMode,
        Binds: spec.volumes,
        CapAdd: spec.capAdd,
        ...(spec.pidMode ? { PidMode: spec.pidMode } : {}),
        ...(spec.devices ? { Devices: spec.devices.map((d) => ({ PathOnHost: d, PathInContainer: d, CgroupPermissions: 'rwm' })) } : {}),
        // Docker's read-only /proc paths without /proc/sys (the rest stay read-only).
        ...(spec.writableProcSys ? { ReadonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sysrq-trigger'] } : {}),
        RestartPolicy: { Name: spec.restartPolicy },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '50m', 'max-file': '3' } },
      },
    });
  }

  async start(name: string): Promise<void> {
    try {
      await (await this.docker()).getContainer(name).start();
    } catch (err) {
      // 304: already started — by its restart policy, when its engine came back meanwhile (seen
      // on a test host restarted between plan and start). Started is what was asked.
      if ((err as { statusCode?: number }).statusCode !== 304) throw err;
    }
  }

  async restart(name: string, timeoutSeconds = 10): Promise<void> {
    await (await this.docker()).getContainer(name).restart({ t: timeoutSeconds });
  }

  async stop(name: string, timeoutSeconds = 10): Promise<void> {
    try {
      await (await this.docker()).getContainer(name).stop({ t: timeoutSeconds });
    } catch (err) {
      if (![304, 404].includes((err as { statusCode?: number }).statusCode ?? 0)) throw err;
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await (await this.docker()).getContainer(name).remove({ force: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }

  async removeVolume(name: string): Promise<boolean> {
    try {
      await (await this.docker()).getVolume(name).remove();
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw err;
    }
  }

  async runTool(run: ToolRun): Promise<{ code: number; output: string }> {
    const name = `berth_tool_${process.pid}_${Date.now()}`;
    const docker = await this.docker();
    await docker.createContainer({
      name,
      Image: run.image,
      ...(run.cmd ? { Cmd: run.cmd, Entrypoint: [] } : {}),
      Env: Object.entries(run.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: run.labels,
      HostConfig: { NetworkMode: 'host', ...(run.volumes?.length ? { Binds: run.volumes } : {}) },
    });
    try {
      if (run.files.length) await docker.getContainer(name).putArchive(await toolArchive(run.files), { path: '/' });
      await this.start(name);
      const code = await this.wait(name, run.timeoutMs ?? 10 * 60_000);
      if (run.collect) await extractInto((await docker.getContainer(name).getArchive({ path: run.collect.from })), run.collect.into);
      return { code, output: await this.logs(name, 'all') };
    } finally {
      await this.remove(name);
    }
  }

  async volumes(): Promise<ActualVolume[]> {
    const list = await this.engine.api.get<{ Volumes: { Name: string; Labels: Record<string, string> | null }[] | null }>('/volumes');
    return (list?.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    if (await this.engine.api.get(`/volumes/${encodeURIComponent(name)}`)) return;
    await (await this.docker()).createVolume({ Name: name, Labels: labels });
  }

  /** Waits for a one-shot container to exit; returns its exit code. */
  async wait(name: string, timeoutMs: number): Promise<number> {
    const result = await withTimeout((await this.docker()).getContainer(name).wait() as Promise<{ StatusCode: number }>, timeoutMs, `${name} to finish`);
    return result.StatusCode;
  }

  async logs(name: string, tail: number | 'all' = 50): Promise<string> {
    const buf = (await (await this.docker()).getContainer(name).logs({ stdout: true, stderr: true, tail: tail === 'all' ? undefined : tail, follow: false }));
    return demux(buf);
  }

  /** Runs a command in a running container; non-TTY output arrives multiplexed. */
  async exec(name: string, cmd: string[], user = '', timeoutMs = 10 * 60_000): Promise<{ code: number; output: string }> {
    const docker = await this.docker();
    const exec = await docker.getContainer(name).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, User: user });
    const chunks: Buffer[] = [];
    const keep = (c: Buffer): number => chunks.push(c);
    const code = await runExec(docker, exec, { stdout: keep, stderr: keep }, `${this.name}: exec in ${name}`, undefined, timeoutMs);
    return { code, output: Buffer.concat(chunks).toString('utf8') };
  }
}

export function namedVolumeMounts(mounts: { Type: string; Name?: string }[] | undefined): string[] {
  return (mounts ?? []).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name!);
}

function demux(buf: Buffer): string {
  // Docker's stream format: 8-byte headers (stream, 0, 0, 0, size32) before each frame.
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return i === 0 ? buf.toString('utf8') : Buffer.concat(parts).toString('utf8');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new EngineError(`timed out after ${ms / 1000}s waiting for ${what}`)), ms);
    }),
  ]);
}

/** A tool's input files as one tar, rooted at / (the paths are absolute in the container). */
async function toolArchive(files: ToolFile[]): Promise<Buffer> {
  const tar = pack();
  for (const f of files) {
    const header = { name: f.path.replace(/^\/+/, ''), mode: f.mode, uid: f.uid ?? 0, gid: f.gid ?? 0, mtime: new Date() };
    if (f.directory) tar.entry({ ...header, type: 'directory' });
    else tar.entry(header, f.content ?? '');
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const c of tar) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Docker's archive of a container directory (entries under its base name) written into `into`:
 * regular files and directories only, 0600 and 0700 — what a container wrote is never trusted to
 * name a link or a path outside `into`.
 */
async function extractInto(stream: NodeJS.ReadableStream, into: string): Promise<void> {
  await mkdir(into, { recursive: true, mode: 0o700 });
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, body, next) => {
      const rel = header.name.split('/').slice(1).filter((p) => p && p !== '.' && p !== '..');
      const target = join(into, ...rel);
      const write = async (): Promise<void> => {
        if (header.type === 'directory' && rel.length) await mkdir(target, { recursive: true, mode: 0o700 });
        else if (header.type === 'file' && rel.length) {
          await mkdir(dirname(target), { recursive: true, mode: 0o700 });
          const chunks: Buffer[] = [];
          for await (const c of body) chunks.push(c as Buffer);
          await rm(target, { force: true, recursive: true });
          await writeFile(target, Buffer.concat(chunks), { mode: 0o600, flag: 'wx' });
          return;
        }
        body.resume();
      };
      write().then(() => next(), reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  stream.pipe(ex);
  await done;
}
