// The local host: this machine's Docker socket and files.
import { mkdir, readdir, readFile, rm, writeFile, chmod, rename, stat } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import type { ContainerSpec } from '../plan/types.js';
import { Engine, EngineError } from './docker.js';
import type { ActualContainer, ActualVolume, ContainerSummary, Host, HostFacts, ToolRun } from './host.js';
import { readModuleFacts, type ModuleFacts } from './kernel-modules.js';

/** berth's own bookkeeping in a config directory (what was applied live to the running container). */
const MARKER = '.applied';

export class LocalHost implements Host {
  readonly engine: Engine;

  constructor(
    readonly name: string,
    engine = new Engine(),
  ) {
    this.engine = engine;
  }

  /** dockerode, for what changes things; reads go through engine.api. */
  private docker(): Promise<Docker> {
    return this.engine.docker();
  }

  ping(): Promise<string> {
    return this.engine.ping();
  }

  facts(interfaces: readonly string[]): Promise<HostFacts> {
    const all = networkInterfaces();
    // A non-loopback IPv4 address first; loopback only when that is all the interface has (tests bind there).
    const ipv4 = (name: string): string | undefined => {
      const v4 = (all[name] ?? []).filter((i) => i.family === 'IPv4');
      return (v4.find((i) => !i.internal) ?? v4[0])?.address;
    };
    return Promise.resolve({
      hostname: hostname(),
      addresses: Object.fromEntries(interfaces.map((i) => [i, ipv4(i)])),
      interfaces: Object.keys(all),
    });
  }

  kernelModule(module: string): Promise<ModuleFacts> {
    return Promise.resolve(readModuleFacts(module));
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
    await (await this.docker()).getContainer(name).start();
  }

  async restart(name: string): Promise<void> {
    await (await this.docker()).getContainer(name).restart({ t: 10 });
  }

  async stop(name: string): Promise<void> {
    try {
      await (await this.docker()).getContainer(name).stop({ t: 10 });
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
    await (await this.docker()).createContainer({
      name,
      Image: run.image,
      ...(run.cmd ? { Cmd: run.cmd, Entrypoint: [] } : {}),
      Env: Object.entries(run.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: run.labels,
      HostConfig: { NetworkMode: 'host', Binds: run.binds },
    });
    try {
      await this.start(name);
      const code = await this.wait(name, run.timeoutMs ?? 10 * 60_000);
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
  async exec(name: string, cmd: string[], user = ''): Promise<{ code: number; output: string }> {
    const docker = await this.docker();
    const exec = await docker.getContainer(name).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, User: user });
    const stream = await exec.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    docker.modem.demuxStream(stream, out, out);
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const info = await exec.inspect();
    return { code: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
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

  async configState(dir: string): Promise<{ files?: Record<string, string>; filesWrittenAt?: number; marker?: string }> {
    const marker = await readFile(join(dir, MARKER), 'utf8').catch(() => undefined);
    return { files: await this.readDir(dir), filesWrittenAt: await this.dirWrittenAt(dir), ...(marker !== undefined ? { marker } : {}) };
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

function namedVolumeMounts(mounts: { Type: string; Name?: string }[] | undefined): string[] {
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
