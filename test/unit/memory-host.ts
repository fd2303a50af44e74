// An in-memory Host for unit tests of reconcile's scheduling decisions (which steps run, which are
// skipped, how many hosts at once). It is not Docker: containers "run" and are healthy at once.
// It says nothing about whether a real multinode deploy works; that is for the SSH e2e suite.
import { UnreachableError, type ActualContainer, type ActualVolume, type ContainerSummary, type Host, type HostFacts, type ToolRun } from '../../src/engine/host.js';
import type { ModuleFacts } from '../../src/engine/kernel-modules.js';
import type { ContainerSpec } from '../../src/plan/types.js';
import { PullProgress } from '../../src/engine/pull-progress.js';
import type { Duplex } from 'node:stream';
import { loadContext, type DeploymentContext, type LoadContextOptions } from '../../src/deployment/context.js';

/** An image list holding every reference but the missing ones. */
class EveryImage extends Map<string, string> {
  constructor(private readonly missing: ReadonlySet<string>) {
    super();
  }
  override has(ref: string): boolean {
    return !this.missing.has(ref);
  }
  override get(ref: string): string | undefined {
    return this.has(ref) ? `sha256:${ref}` : undefined;
  }
}

export class MemoryHost implements Host {
  readonly containers = new Map<string, ActualContainer>();
  readonly dirs = new Map<string, Record<string, string>>();
  readonly volumeList: ActualVolume[] = [];
  /** Image references the host lacks (every other one is there). */
  readonly missingImages = new Set<string>();
  /** Every call, as "method name", for assertions. */
  readonly calls: string[] = [];
  /** When set, every call throws this host's UnreachableError. */
  unreachable?: string;
  /** Answers an exec in a container (default: exit 0, no output). */
  onExec?: (container: string, cmd: string[]) => { code: number; output: string } | undefined;
  /** Answers a one-shot tool container (default: exit 0, no output). */
  onTool?: (run: ToolRun) => { code: number; output: string } | undefined;
  /** Called at the start of every engine call (to observe concurrency). */
  onCall?: (host: string) => Promise<void> | void;

  constructor(
    readonly name: string,
    private readonly hostFacts: HostFacts = { hostname: name, addresses: {}, interfaces: [] },
  ) {}

  private async enter(method: string, arg = ''): Promise<void> {
    this.calls.push(`${method} ${arg}`.trim());
    if (this.unreachable !== undefined) throw new UnreachableError(this.unreachable);
    await this.onCall?.(this.name);
  }

  async ping(): Promise<string> {
    await this.enter('ping');
    return 'memory';
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async facts(interfaces: readonly string[]): Promise<HostFacts> {
    await this.enter('facts');
    return { ...this.hostFacts, addresses: Object.fromEntries(interfaces.map((i) => [i, this.hostFacts.addresses[i]])) };
  }
  async kernelModule(module: string): Promise<ModuleFacts> {
    await this.enter('kernelModule', module);
    return { module, kernelRelease: 'memory', loaded: true, builtinList: null, modulesDep: null } as ModuleFacts;
  }
  async listAll(): Promise<ContainerSummary[]> {
    await this.enter('listAll');
    return [...this.containers.values()].map((c) => ({ name: c.name, labels: c.labels, volumes: c.volumes }));
  }
  async listContainers(label: string, value?: string): Promise<ActualContainer[]> {
    await this.enter('listContainers');
    return [...this.containers.values()].filter((c) => (value === undefined ? label in c.labels : c.labels[label] === value));
  }
  async inspect(name: string): Promise<ActualContainer | undefined> {
    await this.enter('inspect', name);
    return this.containers.get(name);
  }
  async imageId(ref: string): Promise<string | undefined> {
    await this.enter('imageId', ref);
    return this.missingImages.has(ref) ? undefined : (this.tagged.get(ref) ?? `sha256:${ref}`);
  }
  /** References tagged by tagImage, with the ID given. */
  readonly tagged = new Map<string, string>();
  async tagImage(id: string, ref: string): Promise<void> {
    await this.enter('tagImage', ref);
    this.tagged.set(ref, id);
    this.missingImages.delete(ref);
  }
  /** Every image is there but these. */
  async imageTags(): Promise<Map<string, string>> {
    await this.enter('imageTags');
    return new EveryImage(this.missingImages);
  }
  async pull(ref: string): Promise<PullProgress> {
    await this.enter('pull', ref);
    this.missingImages.delete(ref);
    return new PullProgress();
  }
  async loadImages(): Promise<void> {
    await this.enter('loadImages');
  }
  connectLoopback(): Promise<Duplex> {
    return Promise.reject(new Error('not in memory'));
  }
  exposeLoopback(): Promise<{ close(): Promise<void> }> {
    return Promise.reject(new Error('not in memory'));
  }
  async create(name: string, spec: ContainerSpec, labels: Record<string, string>): Promise<void> {
    await this.enter('create', name);
    this.containers.set(name, {
      id: name,
      name,
      labels,
      imageId: `sha256:${spec.image}`,
      status: 'created',
      running: false,
      exitCode: 0,
      startedAt: '',
      volumes: [],
    });
  }
  async start(name: string): Promise<void> {
    await this.enter('start', name);
    const c = this.containers.get(name)!;
    // A job (restart policy no) runs to its end at once; a service keeps running, healthy.
    this.containers.set(name, c.labels['berth.kind'] === 'job'
      ? { ...c, status: 'exited', running: false, exitCode: 0, finishedAt: 'now' }
      : { ...c, status: 'running', running: true, health: 'healthy' });
  }
  async restart(name: string): Promise<void> {
    await this.enter('restart', name);
  }
  async stop(name: string): Promise<void> {
    await this.enter('stop', name);
    const c = this.containers.get(name);
    if (c) this.containers.set(name, { ...c, status: 'exited', running: false });
  }
  async remove(name: string): Promise<void> {
    await this.enter('remove', name);
    this.containers.delete(name);
  }
  async wait(name: string): Promise<number> {
    await this.enter('wait', name);
    return 0;
  }
  async logs(name: string): Promise<string> {
    await this.enter('logs', name);
    return '';
  }
  async exec(name: string, cmd: string[] = []): Promise<{ code: number; output: string }> {
    await this.enter('exec', name);
    return this.onExec?.(name, cmd) ?? { code: 0, output: '' };
  }
  async runTool(run: ToolRun): Promise<{ code: number; output: string }> {
    await this.enter('runTool');
    return this.onTool?.(run) ?? { code: 0, output: '' };
  }
  async volumes(): Promise<ActualVolume[]> {
    await this.enter('volumes');
    return this.volumeList;
  }
  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    await this.enter('ensureVolume', name);
    if (!this.volumeList.some((v) => v.name === name)) this.volumeList.push({ name, labels });
  }
  async removeVolume(name: string): Promise<boolean> {
    await this.enter('removeVolume', name);
    return true;
  }
  async readDir(dir: string): Promise<Record<string, string> | undefined> {
    await this.enter('readDir', dir);
    return this.dirs.get(dir);
  }
  async syncDir(dir: string, files: Record<string, string>): Promise<boolean> {
    await this.enter('syncDir', dir);
    this.dirs.set(dir, files);
    return true;
  }
  async configState(dir: string): Promise<{ files?: Record<string, string> }> {
    await this.enter('configState', dir);
    const files = this.dirs.get(dir);
    return files ? { files } : {};
  }
  async configStates(dirs: readonly string[]): Promise<Map<string, { files?: Record<string, string> }>> {
    await this.enter('configStates', dirs.join(' '));
    return new Map(dirs.map((dir) => [dir, this.dirs.has(dir) ? { files: this.dirs.get(dir)! } : {}]));
  }
  async writeMarker(dir: string): Promise<void> {
    await this.enter('writeMarker', dir);
  }
  async removeDir(dir: string): Promise<void> {
    await this.enter('removeDir', dir);
    this.dirs.delete(dir);
  }
}

/** A deployment's context on in-memory hosts answering with `facts`; the named ones unreachable. */
export async function memoryContext(
  dir: string,
  facts: Readonly<Record<string, HostFacts>>,
  unreachable: readonly string[] = [],
  forks?: number,
  more: Omit<LoadContextOptions, 'forks' | 'connect'> = {},
): Promise<{ ctx: DeploymentContext; hosts: Map<string, MemoryHost> }> {
  const hosts = new Map<string, MemoryHost>();
  const ctx = await loadContext(dir, {
    ...more,
    ...(forks !== undefined ? { forks } : {}),
    connect: (h) => {
      const host = new MemoryHost(h.name, facts[h.name]);
      if (unreachable.includes(h.name)) host.unreachable = 'ssh: connect to host port 22: No route to host';
      hosts.set(h.name, host);
      return host;
    },
  });
  return { ctx, hosts };
}
