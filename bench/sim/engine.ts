// One simulated Docker Engine's state and what its API calls do to it: images, containers,
// execs, volumes, networks and files, with Docker's errors. No HTTP here (api.ts), no sockets
// (fleet.ts). Nothing runs: a container's state is a few timestamps, and a one-shot container's
// exit and a healthcheck's result are computed from them when asked, so an idle engine costs no
// timers.
import { createHash, randomBytes } from 'node:crypto';
import { runCommand, type ExecResult, type ExecTable } from './exec.js';
import { normalizeRef, splitNormalized, type CatalogImage, type ImageCatalog } from './images.js';
import type { LatencyKind, LatencySampler } from './latencies.js';
import { ContainerFs, MemFs, normalizePath, type FsMount } from './memfs.js';

/** A Docker API error: the status code and the `{"message"}` the engine would send. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What every engine of a fleet shares: the registry, the latencies, the fault rules, the command table. */
export interface EngineShared {
  catalog: ImageCatalog;
  sampler: LatencySampler;
  /** One-shot containers whose name matches exit 1 instead of 0. */
  failJobs?: RegExp;
  /** Containers whose name matches become unhealthy instead of healthy. */
  unhealthy?: RegExp;
  execHandlers: ExecTable;
  /** How a pull of an image the registry lacks fails: an error event in a 200 stream, or a 404 before any. */
  unknownPull: 'error-event' | 'http-404';
  ncpu: number;
  memTotal: number;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
const API_VERSION = '1.41';

type Json = Record<string, unknown>;

export interface EngineImage {
  image: CatalogImage;
  tags: Set<string>;
  /** When it arrived on this engine, for Metadata.LastTagTime. */
  at: string;
}

interface Mount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** A bind's host path; a volume's name; empty for tmpfs. */
  source: string;
  destination: string;
  mode: string;
  rw: boolean;
  propagation: string;
}

type WaitCondition = 'not-running' | 'next-exit' | 'removed';

interface Waiter {
  condition: WaitCondition;
  done: (exitCode: number) => void;
  timer?: NodeJS.Timeout;
}

interface LogLine {
  /** Counts up across the engine: what a following reader has seen. */
  seq: number;
  stream: 1 | 2;
  at: number;
  text: string;
}

export interface Container {
  id: string;
  name: string;
  created: string;
  imageId: string;
  /** Config as inspect shows it: the create body's Config fields merged with the image's. */
  config: Json;
  hostConfig: Json;
  /** Network name → endpoint settings given at create or connect. */
  networks: Map<string, Json>;
  mounts: Mount[];
  fs: ContainerFs;
  anonymousVolumes: string[];
  /** RestartPolicy empty or "no": it exits after the job latency; otherwise it runs until stopped. */
  oneShot: boolean;
  healthcheck: boolean;
  running: boolean;
  startedAt?: number;
  finishedAt?: number;
  exitCode: number;
  /** When a running one-shot container exits, and with which code. */
  exitAt?: number;
  jobCode: number;
  healthyAt?: number;
  pid: number;
  logs: LogLine[];
  waiters: Set<Waiter>;
  execIds: string[];
}

export interface Exec {
  id: string;
  containerId: string;
  argv: string[];
  user: string;
  tty: boolean;
  workingDir: string;
  privileged: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

export interface Volume {
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
  fs: MemFs;
}

interface Network {
  id: string;
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  created: string;
  internal: boolean;
  attachable: boolean;
  ipam: Json;
  predefined: boolean;
}

/** `filters` as Docker takes it: `{"k":["v"]}` or the older `{"k":{"v":true}}`. */
export function parseFilters(raw: string | null): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  if (!raw) return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ApiError(400, `invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new ApiError(400, `invalid filter: ${raw}`);
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(value)) filters.set(key, value.map(String));
    else if (typeof value === 'object' && value !== null) filters.set(key, Object.entries(value as Record<string, unknown>).filter(([, on]) => on).map(([k]) => k));
    else throw new ApiError(400, `invalid filter '${key}'`);
  }
  return filters;
}

function checkFilterKeys(filters: Map<string, string[]>, allowed: readonly string[], what: string): void {
  for (const key of filters.keys()) {
    if (!allowed.includes(key)) throw new ApiError(400, `invalid filter '${key}' (the simulator filters ${what} by ${allowed.join(', ')})`);
  }
}

/** `label` filters: every `k` or `k=v` must hold (Docker ANDs them). */
function labelsMatch(labels: Record<string, string>, wanted: readonly string[] | undefined): boolean {
  return (wanted ?? []).every((w) => {
    const eq = w.indexOf('=');
    return eq < 0 ? w in labels : labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** Go's path.Match as Docker's reference filter uses it: `*` and `?` within a path segment. */
function globMatch(pattern: string, text: string): boolean {
  const re = pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`).test(text);
}

function iso(ms: number | undefined): string {
  return ms === undefined ? ZERO_TIME : new Date(ms).toISOString();
}

export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** Docker's "Up 5 minutes", "Exited (0) 3 seconds ago". */
function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

function asStrings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.map(String) : undefined;
}

function withoutNulls(v: unknown): Json {
  return Object.fromEntries(Object.entries(asRecord(v)).filter(([, value]) => value !== null && value !== undefined));
}

function asRecord(v: unknown): Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, string>) : {};
}

const BIND_PROPAGATIONS = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);

export class SimEngine {
  readonly images = new Map<string, EngineImage>();
  /** Normalized reference → image id. */
  readonly tags = new Map<string, string>();
  /** Layer digests held, so a pull of an image sharing them says "Already exists". */
  readonly layers = new Set<string>();
  readonly containers = new Map<string, Container>();
  private readonly byName = new Map<string, Container>();
  readonly execs = new Map<string, Exec>();
  readonly volumes = new Map<string, Volume>();
  private readonly networks = new Map<string, Network>();
  /** The engine's host filesystem: where bind mounts land. */
  readonly hostFs = new MemFs();
  /** Multiplies every latency: the `slow` fault. */
  slowFactor = 1;
  private nextPid = 1000;
  private logSeq = 0;
  readonly engineId: string;

  constructor(
    readonly index: number,
    readonly name: string,
    /** The loopback address it listens on: its host's address, as a host-network exec reads it. */
    readonly address: string,
    readonly shared: EngineShared,
    private readonly initialImages: readonly string[],
  ) {
    this.engineId = createHash('sha256').update(`engine ${name}`).digest('hex').slice(0, 36).toUpperCase();
    this.resetState();
  }

  /** Back to the start: the configured images, the predefined networks, nothing else. */
  resetState(): void {
    for (const c of this.containers.values()) this.release(c, -1);
    this.images.clear();
    this.tags.clear();
    this.layers.clear();
    this.containers.clear();
    this.byName.clear();
    this.execs.clear();
    this.volumes.clear();
    this.networks.clear();
    this.hostFs.remove('/');
    for (const ref of this.initialImages) {
      const image = this.shared.catalog.get(ref);
      if (image) this.addImage(image, normalizeRef(ref));
    }
    for (const [name, driver] of [['bridge', 'bridge'], ['host', 'host'], ['none', 'null']] as const) {
      const id = createHash('sha256').update(`network ${this.name} ${name}`).digest('hex');
      const ipam = name === 'bridge' ? { Driver: 'default', Options: null, Config: [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }] } : { Driver: 'default', Options: null, Config: [] };
      this.networks.set(id, { id, name, driver, labels: {}, options: {}, created: new Date(0).toISOString(), internal: false, attachable: false, ipam, predefined: true });
    }
  }

  latency(kind: LatencyKind): number {
    return this.shared.sampler.ms(kind, this.slowFactor);
  }

  // ---- system

  version(): Json {
    return {
      Platform: { Name: '' },
      Components: [{ Name: 'Engine', Version: '20.10.24+dfsg1', Details: { ApiVersion: API_VERSION, Arch: 'amd64', MinAPIVersion: '1.12', Os: 'linux' } }],
      Version: '20.10.24+dfsg1',
      ApiVersion: API_VERSION,
      MinAPIVersion: '1.12',
      GitCommit: '5d6db84',
      GoVersion: 'go1.19.8',
      Os: 'linux',
      Arch: 'amd64',
      KernelVersion: '6.1.0-sim',
      BuildTime: '2023-05-18T08:38:34.000000000+00:00',
    };
  }

  info(): Json {
    const all = [...this.containers.values()];
    all.forEach((c) => this.settle(c));
    const running = all.filter((c) => c.running).length;
    return {
      ID: this.engineId,
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: all.length - running,
      Images: this.images.size,
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true'], ['Native Overlay Diff', 'true'], ['userxattr', 'false']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'ipvlan', 'macvlan', 'null', 'overlay'], Authorization: null, Log: ['json-file', 'local', 'journald'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 30,
      NGoroutines: 40,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'systemd',
      CgroupVersion: '2',
      NEventsListener: 0,
      KernelVersion: '6.1.0-sim',
      OperatingSystem: 'Debian GNU/Linux 12 (bookworm)',
      OSVersion: '12',
      OSType: 'linux',
      Architecture: 'x86_64',
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {}, Mirrors: [] },
      NCPU: this.shared.ncpu,
      MemTotal: this.shared.memTotal,
      DockerRootDir: '/var/lib/docker',
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: this.name,
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: '20.10.24+dfsg1',
      Runtimes: { runc: { path: 'runc' } },
      DefaultRuntime: 'runc',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: false,
      Isolation: '',
      InitBinary: 'docker-init',
      SecurityOptions: ['name=apparmor', 'name=seccomp,profile=default', 'name=cgroupns'],
      Warnings: null,
    };
  }

  // ---- images

  addImage(image: CatalogImage, ref: string): void {
    const held = this.images.get(image.id) ?? { image, tags: new Set<string>(), at: new Date().toISOString() };
    this.images.set(image.id, held);
    this.moveTag(ref, image.id);
    for (const l of image.layers) this.layers.add(l.digest);
  }

  /** A tag points at one image; the image it leaves stays, untagged, as Docker's dangling images do. */
  private moveTag(ref: string, id: string): void {
    const previous = this.tags.get(ref);
    if (previous) this.images.get(previous)?.tags.delete(ref);
    this.tags.set(ref, id);
    this.images.get(id)!.tags.add(ref);
  }

  /** By reference, id, id without `sha256:`, a unique id prefix, or `repo@digest`. */
  findImage(nameOrId: string): EngineImage | undefined {
    const byTag = this.tags.get(normalizeRef(nameOrId));
    if (byTag) return this.images.get(byTag);
    const hex = /^(?:sha256:)?([0-9a-f]{4,64})$/.exec(nameOrId)?.[1];
    if (hex) {
      const matches = [...this.images.values()].filter((i) => i.image.id.slice(7).startsWith(hex));
      if (matches.length === 1) return matches[0];
    }
    if (nameOrId.includes('@')) {
      const [repo, digest] = splitNormalized(normalizeRef(nameOrId));
      return [...this.images.values()].find((i) => i.image.digest === digest && [...i.tags].some((t) => splitNormalized(t)[0] === repo));
    }
    return undefined;
  }

  getImage(nameOrId: string): EngineImage {
    const found = this.findImage(nameOrId);
    if (!found) throw new ApiError(404, `No such image: ${nameOrId}`);
    return found;
  }

  private repoDigests(i: EngineImage): string[] {
    return [...new Set([...i.tags].map((t) => `${splitNormalized(t)[0]}@${i.image.digest}`))];
  }

  listImages(filters: Map<string, string[]>): Json[] {
    checkFilterKeys(filters, ['label', 'reference', 'dangling'], 'images');
    const dangling = filters.get('dangling')?.[0];
    return [...this.images.values()]
      .filter((i) => labelsMatch(i.image.labels, filters.get('label')))
      .filter((i) => dangling === undefined || (dangling === 'true' || dangling === '1') === (i.tags.size === 0))
      .filter((i) => {
        const refs = filters.get('reference');
        if (!refs?.length) return true;
        return [...i.tags].some((t) => refs.some((r) => globMatch(r, t) || globMatch(r, splitNormalized(t)[0])));
      })
      .map((i) => ({
        Containers: -1,
        Created: Math.floor(Date.parse(i.image.created) / 1000),
        Id: i.image.id,
        Labels: Object.keys(i.image.labels).length ? i.image.labels : null,
        ParentId: '',
        RepoDigests: this.repoDigests(i),
        RepoTags: i.tags.size ? [...i.tags] : ['<none>:<none>'],
        SharedSize: -1,
        Size: i.image.size,
        VirtualSize: i.image.size,
      }));
  }

  inspectImage(nameOrId: string): Json {
    const i = this.getImage(nameOrId);
    const config = {
      Hostname: '',
      Domainname: '',
      User: i.image.user,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: i.image.env,
      Cmd: i.image.cmd,
      Image: '',
      Volumes: null,
      WorkingDir: '',
      Entrypoint: i.image.entrypoint,
      OnBuild: null,
      Labels: Object.keys(i.image.labels).length ? i.image.labels : null,
    };
    return {
      Id: i.image.id,
      RepoTags: [...i.tags],
      RepoDigests: this.repoDigests(i),
      Parent: '',
      Comment: '',
      Created: i.image.created,
      Container: '',
      ContainerConfig: config,
      DockerVersion: '20.10.24',
      Author: '',
      Config: config,
      Architecture: 'amd64',
      Os: 'linux',
      Size: i.image.size,
      VirtualSize: i.image.size,
      GraphDriver: { Data: null, Name: 'overlay2' },
      RootFS: { Type: 'layers', Layers: i.image.layers.map((l) => l.digest) },
      Metadata: { LastTagTime: i.at },
    };
  }

  tagImage(source: string, repo: string, tag: string): void {
    const i = this.getImage(source);
    if (!repo) throw new ApiError(400, 'repository name must have at least one component');
    this.moveTag(normalizeRef(`${repo}:${tag || 'latest'}`), i.image.id);
  }

  removeImage(nameOrId: string, force: boolean): Json[] {
    const i = this.getImage(nameOrId);
    const short = i.image.id.slice(7, 19);
    const ref = normalizeRef(nameOrId);
    const byRef = i.tags.has(ref);
    const users = [...this.containers.values()].filter((c) => c.imageId === i.image.id);
    users.forEach((c) => this.settle(c));
    // A reference of an image with other names: untag only.
    if (byRef && i.tags.size > 1) {
      this.untag(ref);
      return [{ Untagged: ref }];
    }
    const running = users.find((c) => c.running);
    if (running) throw new ApiError(409, `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
    if (!force && users.length) {
      throw new ApiError(409, byRef ? `conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}` : `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${users[0]!.id.slice(0, 12)}`);
    }
    if (!force && !byRef && i.tags.size > 1) throw new ApiError(409, `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
    const report: Json[] = [...i.tags].map((t) => ({ Untagged: t }));
    for (const t of [...i.tags]) this.untag(t);
    this.images.delete(i.image.id);
    const kept = new Set([...this.images.values()].flatMap((o) => o.image.layers.map((l) => l.digest)));
    for (const l of i.image.layers) {
      if (kept.has(l.digest)) continue;
      this.layers.delete(l.digest);
      report.push({ Deleted: l.digest });
    }
    report.push({ Deleted: i.image.id });
    return report;
  }

  private untag(ref: string): void {
    const id = this.tags.get(ref);
    if (id) this.images.get(id)?.tags.delete(ref);
    this.tags.delete(ref);
  }

  // ---- containers

  /** By name (with or without `/`), id, or a unique id prefix, as Docker finds them. */
  findContainer(nameOrId: string): Container | undefined {
    const name = nameOrId.replace(/^\//, '');
    const found = this.containers.get(nameOrId) ?? this.byName.get(name);
    if (found || !/^[0-9a-f]+$/.test(nameOrId)) return found;
    const matches = [...this.containers.values()].filter((c) => c.id.startsWith(nameOrId));
    return matches.length === 1 ? matches[0] : undefined;
  }

  getContainer(nameOrId: string): Container {
    const c = this.findContainer(nameOrId);
    if (!c) throw new ApiError(404, `No such container: ${nameOrId}`);
    this.settle(c);
    return c;
  }

  createContainer(name: string | null, body: Json): string {
    if (name !== null && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) throw new ApiError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const id = newId();
    const containerName = name?.replace(/^\//, '') ?? `sim_${id.slice(0, 12)}`;
    const taken = this.byName.get(containerName);
    if (taken) throw new ApiError(409, `Conflict. The container name "/${containerName}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`);
    if (typeof body.Image !== 'string' || !body.Image) throw new ApiError(400, 'Config cannot be empty in order to create a container');
    const image = this.findImage(body.Image);
    if (!image) throw new ApiError(404, `No such image: ${normalizeRef(body.Image)}`);

    const { HostConfig, NetworkingConfig, ...given } = body;
    // Clients send unset fields as null (docker-py does): Docker's defaults stand for them.
    const requested = withoutNulls(given);
    const hostConfig: Json = {
      Binds: null,
      NetworkMode: 'default',
      RestartPolicy: { Name: '', MaximumRetryCount: 0 },
      LogConfig: { Type: 'json-file', Config: {} },
      AutoRemove: false,
      Privileged: false,
      CapAdd: null,
      ...withoutNulls(HostConfig),
    };
    const networkMode = String(hostConfig.NetworkMode);
    const networks = new Map<string, Json>();
    if (networkMode !== 'none' && !networkMode.startsWith('container:')) {
      const network = networkMode === 'default' ? 'bridge' : networkMode;
      if (!this.findNetwork(network)) throw new ApiError(404, `network ${network} not found`);
      networks.set(network, {});
    }
    for (const [net, endpoint] of Object.entries(asRecord((NetworkingConfig as Json | undefined)?.EndpointsConfig))) {
      if (!this.findNetwork(net)) throw new ApiError(404, `network ${net} not found`);
      networks.set(net, endpoint as unknown as Json);
    }

    const { mounts, fsMounts, anonymous } = this.mountsFor(hostConfig, requested.Volumes);
    // Docker's merge with the image's config: the image's Cmd only when neither Entrypoint nor Cmd
    // is given, its Entrypoint only when none is (an empty one clears it), its Env and Labels under
    // the container's own.
    let entrypoint = asStrings(requested.Entrypoint) ?? null;
    let cmd = asStrings(requested.Cmd) ?? null;
    if (!entrypoint?.length) {
      if (!cmd?.length) cmd = image.image.cmd;
      if (entrypoint === null) entrypoint = image.image.entrypoint;
    }
    const env = asStrings(requested.Env) ?? [];
    const envKeys = new Set(env.map((e) => e.split('=')[0]));
    env.push(...image.image.env.filter((e) => !envKeys.has(e.split('=')[0])));
    const healthcheck = requested.Healthcheck as { Test?: string[] } | undefined;
    const restart = (hostConfig.RestartPolicy as { Name?: string } | null)?.Name ?? '';
    const config: Json = {
      Domainname: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      WorkingDir: '',
      Volumes: null,
      OnBuild: null,
      ...requested,
      Hostname: typeof requested.Hostname === 'string' && requested.Hostname ? requested.Hostname : networkMode === 'host' ? this.name : id.slice(0, 12),
      User: typeof requested.User === 'string' && requested.User ? requested.User : image.image.user,
      Env: env,
      Cmd: cmd,
      Image: body.Image,
      Entrypoint: entrypoint,
      Labels: { ...image.image.labels, ...asRecord(requested.Labels) },
    };
    const c: Container = {
      id,
      name: containerName,
      created: new Date().toISOString(),
      imageId: image.image.id,
      config,
      hostConfig,
      networks,
      mounts,
      fs: new ContainerFs(fsMounts),
      anonymousVolumes: anonymous,
      oneShot: restart === '' || restart === 'no',
      healthcheck: Boolean(healthcheck?.Test?.length && healthcheck.Test[0] !== 'NONE'),
      running: false,
      exitCode: 0,
      jobCode: 0,
      pid: 0,
      logs: [],
      waiters: new Set(),
      execIds: [],
    };
    this.containers.set(id, c);
    this.byName.set(containerName, c);
    return id;
  }

  /**
   * Mounts from Binds (`src:dst[:opts]`, a source without a slash is a named volume, made if
   * missing, as Docker does), HostConfig.Mounts, and Config.Volumes (anonymous volumes). A bind's
   * missing source is made in the host filesystem, as Docker does for Binds.
   */
  private mountsFor(hostConfig: Json, volumes: unknown): { mounts: Mount[]; fsMounts: FsMount[]; anonymous: string[] } {
    const mounts: Mount[] = [];
    const fsMounts: FsMount[] = [];
    const anonymous: string[] = [];
    const add = (m: Mount): void => {
      mounts.push(m);
      const fs = m.type === 'bind' ? this.hostFs : m.type === 'volume' ? this.volumes.get(m.source)!.fs : new MemFs();
      fsMounts.push({ destination: m.destination, fs, source: m.type === 'bind' ? m.source : '/', readOnly: !m.rw });
    };
    for (const bind of asStrings(hostConfig.Binds) ?? []) {
      const [source, destination, options = ''] = bind.split(':');
      if (!source || !destination || !destination.startsWith('/')) throw new ApiError(400, `invalid volume specification: '${bind}'`);
      const opts = options.split(',').filter(Boolean);
      const rw = !opts.includes('ro');
      const dest = normalizePath(destination);
      if (source.startsWith('/')) {
        this.hostFs.mkdirp(source);
        const propagation = opts.find((o) => BIND_PROPAGATIONS.has(o)) ?? 'rprivate';
        add({ type: 'bind', source: normalizePath(source), destination: dest, mode: options, rw, propagation });
      } else {
        this.ensureVolume(source, {}, 'local', {});
        add({ type: 'volume', source, destination: dest, mode: options || 'z', rw, propagation: '' });
      }
    }
    for (const m of (hostConfig.Mounts as { Type?: string; Source?: string; Target?: string; ReadOnly?: boolean }[] | null | undefined) ?? []) {
      if (!m.Target) throw new ApiError(400, 'invalid mount config: Target must not be empty');
      const dest = normalizePath(m.Target);
      if (m.Type === 'bind') {
        if (!m.Source || !this.hostFs.stat(m.Source)) throw new ApiError(400, `invalid mount config for type "bind": bind source path does not exist: ${m.Source ?? ''}`);
        add({ type: 'bind', source: normalizePath(m.Source), destination: dest, mode: '', rw: !m.ReadOnly, propagation: 'rprivate' });
      } else if (m.Type === 'volume') {
        const name = m.Source || newId();
        this.ensureVolume(name, {}, 'local', {});
        if (!m.Source) anonymous.push(name);
        add({ type: 'volume', source: name, destination: dest, mode: 'z', rw: !m.ReadOnly, propagation: '' });
      } else if (m.Type === 'tmpfs') {
        add({ type: 'tmpfs', source: '', destination: dest, mode: '', rw: !m.ReadOnly, propagation: '' });
      } else {
        throw new ApiError(400, `invalid mount config: mount type ${m.Type ?? ''} is not simulated`);
      }
    }
    for (const destination of Object.keys(asRecord(volumes))) {
      const dest = normalizePath(destination);
      if (mounts.some((m) => m.destination === dest)) continue;
      const name = newId();
      this.ensureVolume(name, {}, 'local', {});
      anonymous.push(name);
      add({ type: 'volume', source: name, destination: dest, mode: '', rw: true, propagation: '' });
    }
    return { mounts, fsMounts, anonymous };
  }

  /** A one-shot container exits when its time comes: computed on every look, no timer behind it. */
  settle(c: Container, now = Date.now()): void {
    if (!c.running || c.exitAt === undefined || now < c.exitAt) return;
    this.exited(c, c.jobCode, c.exitAt);
    // --rm: the container goes, with its anonymous volumes.
    if (c.hostConfig.AutoRemove === true) this.forget(c, true);
  }

  private exited(c: Container, code: number, at: number): void {
    c.running = false;
    c.exitCode = code;
    c.finishedAt = at;
    c.exitAt = undefined;
    c.pid = 0;
    this.log(c, code ? 2 : 1, at, `sim: ${c.name} exited with code ${code}`);
    for (const w of [...c.waiters]) if (w.condition !== 'removed') this.resolveWaiter(c, w, code);
  }

  private log(c: Container, stream: 1 | 2, at: number, text: string): void {
    c.logs.push({ seq: ++this.logSeq, stream, at, text });
    // Bounded: a container restarted all day keeps its last lines only.
    if (c.logs.length > 200) c.logs.splice(0, c.logs.length - 200);
  }

  health(c: Container, now = Date.now()): 'starting' | 'healthy' | 'unhealthy' | undefined {
    if (!c.healthcheck || c.startedAt === undefined || c.healthyAt === undefined) return undefined;
    const t = c.running ? now : (c.finishedAt ?? now);
    if (t < c.healthyAt) return 'starting';
    return this.shared.unhealthy?.test(c.name) ? 'unhealthy' : 'healthy';
  }

  start(c: Container): boolean {
    this.settle(c);
    if (c.running) return false;
    const now = Date.now();
    c.running = true;
    c.startedAt = now;
    c.exitCode = 0;
    c.pid = this.nextPid++;
    c.exitAt = c.oneShot ? now + this.latency('job-run') : undefined;
    c.jobCode = this.shared.failJobs?.test(c.name) ? 1 : 0;
    c.healthyAt = c.healthcheck ? now + this.latency('healthy-after') : undefined;
    this.log(c, 1, now, `sim: ${c.name} started from ${String(c.config.Image)}`);
    for (const w of c.waiters) this.armWaiter(c, w);
    return true;
  }

  /** SIGTERM: a service stops cleanly (0); a job cut short reports SIGTERM's 143. */
  stop(c: Container): boolean {
    this.settle(c);
    if (!c.running) return false;
    this.exited(c, c.oneShot ? 143 : 0, Date.now());
    return true;
  }

  /** SIGKILL, SIGTERM and SIGINT end it (128 + the signal); any other signal is taken to be handled (a reload). */
  kill(c: Container, signal = 'SIGKILL'): void {
    this.settle(c);
    if (!c.running) throw new ApiError(409, `Cannot kill container: ${c.name}: Container ${c.id} is not running`);
    const name = signal.toUpperCase().replace(/^SIG/, '');
    const fatal: Record<string, number> = { KILL: 9, '9': 9, TERM: 15, '15': 15, INT: 2, '2': 2 };
    const number = fatal[name];
    if (number === undefined) {
      this.log(c, 1, Date.now(), `sim: ${c.name} got SIG${name}`);
      return;
    }
    this.exited(c, 128 + number, Date.now());
  }

  remove(c: Container, force: boolean, volumes: boolean): void {
    this.settle(c);
    if (c.running && !force) throw new ApiError(409, `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
    if (c.running) this.exited(c, 137, Date.now());
    this.forget(c, volumes);
  }

  private forget(c: Container, volumes: boolean): void {
    this.containers.delete(c.id);
    this.byName.delete(c.name);
    for (const id of c.execIds) this.execs.delete(id);
    if (volumes) for (const v of c.anonymousVolumes) if (!this.volumeUsers(v).length) this.volumes.delete(v);
    this.release(c, c.exitCode);
  }

  /** Every wait on a container that is going away ends. */
  private release(c: Container, code: number): void {
    for (const w of [...c.waiters]) this.resolveWaiter(c, w, code);
  }

  update(c: Container, body: Json): void {
    for (const [k, v] of Object.entries(body)) c.hostConfig[k] = v;
    if (body.RestartPolicy) {
      const name = (body.RestartPolicy as { Name?: string }).Name ?? '';
      c.oneShot = name === '' || name === 'no';
    }
  }

  /**
   * Waits for a container as POST /wait does. One timer per waiting call, and only while a
   * one-shot container runs towards its exit; returns a cancel for a client that goes away.
   */
  wait(c: Container, condition: WaitCondition, done: (exitCode: number) => void): () => void {
    this.settle(c);
    if (condition === 'not-running' && !c.running) {
      done(c.exitCode);
      return () => {};
    }
    const w: Waiter = { condition, done };
    c.waiters.add(w);
    this.armWaiter(c, w);
    return () => {
      clearTimeout(w.timer);
      c.waiters.delete(w);
    };
  }

  private armWaiter(c: Container, w: Waiter): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    if (!c.running || c.exitAt === undefined || w.condition === 'removed') return;
    // Settled as at its exit time: a timer may fire a millisecond before Date.now() reaches it,
    // and a settle that found it early would leave the wait without a timer, waiting for ever.
    const at = c.exitAt;
    w.timer = setTimeout(() => this.settle(c, Math.max(Date.now(), at)), Math.max(at - Date.now(), 0));
  }

  private resolveWaiter(c: Container, w: Waiter, code: number): void {
    clearTimeout(w.timer);
    c.waiters.delete(w);
    w.done(code);
  }

  listContainers(all: boolean, filters: Map<string, string[]>, limit: number): Json[] {
    checkFilterKeys(filters, ['label', 'name', 'status', 'id', 'health', 'exited', 'ancestor'], 'containers');
    const ancestors = filters.get('ancestor')?.map((a) => this.findImage(a)?.image.id ?? a);
    const now = Date.now();
    const matches = (values: string[] | undefined, test: (v: string) => boolean): boolean => !values?.length || values.some(test);
    for (const c of [...this.containers.values()]) this.settle(c, now);
    let list = [...this.containers.values()]
      .filter((c) => {
        const state = this.stateName(c);
        if (!all && !c.running && !filters.has('status')) return false;
        return (
          labelsMatch(c.config.Labels as Record<string, string>, filters.get('label')) &&
          matches(filters.get('name'), (n) => new RegExp(n).test(`/${c.name}`) || new RegExp(n).test(c.name)) &&
          matches(filters.get('status'), (s) => s === state) &&
          matches(filters.get('id'), (i) => c.id.startsWith(i)) &&
          matches(filters.get('health'), (h) => h === (this.health(c, now) ?? 'none')) &&
          matches(filters.get('exited'), (e) => !c.running && c.finishedAt !== undefined && Number(e) === c.exitCode) &&
          matches(ancestors, (a) => a === c.imageId || a === c.config.Image)
        );
      })
      .sort((a, b) => b.created.localeCompare(a.created));
    if (limit > 0) list = list.slice(0, limit);
    return list.map((c) => this.summary(c, now));
  }

  private stateName(c: Container): string {
    return c.running ? 'running' : c.startedAt === undefined ? 'created' : 'exited';
  }

  private statusText(c: Container, now: number): string {
    if (c.running) {
      const h = this.health(c, now);
      return `Up ${humanDuration(now - c.startedAt!)}${h === undefined ? '' : h === 'starting' ? ' (health: starting)' : ` (${h})`}`;
    }
    if (c.startedAt === undefined) return 'Created';
    return `Exited (${c.exitCode}) ${humanDuration(now - (c.finishedAt ?? now))} ago`;
  }

  private command(c: Container): string[] {
    return [...((c.config.Entrypoint as string[] | null) ?? []), ...((c.config.Cmd as string[] | null) ?? [])];
  }

  private mountsJson(c: Container): Json[] {
    return c.mounts.map((m) =>
      m.type === 'volume'
        ? { Type: 'volume', Name: m.source, Source: `/var/lib/docker/volumes/${m.source}/_data`, Destination: m.destination, Driver: 'local', Mode: m.mode, RW: m.rw, Propagation: '' }
        : m.type === 'bind'
          ? { Type: 'bind', Source: m.source, Destination: m.destination, Mode: m.mode, RW: m.rw, Propagation: m.propagation }
          : { Type: 'tmpfs', Source: '', Destination: m.destination, Mode: '', RW: m.rw, Propagation: '' },
    );
  }

  private networksJson(c: Container): Json {
    const out: Json = {};
    for (const [name, endpoint] of c.networks) {
      const net = this.findNetwork(name);
      const bridged = net?.driver === 'bridge' && c.running;
      // A stable address per container and network, for what it is worth: nothing routes to it.
      const host = (parseInt(createHash('sha256').update(`${c.id} ${name}`).digest('hex').slice(0, 4), 16) % 250) + 2;
      out[name] = {
        IPAMConfig: endpoint.IPAMConfig ?? null,
        Links: null,
        Aliases: endpoint.Aliases ?? null,
        NetworkID: net?.id ?? '',
        EndpointID: c.running ? createHash('sha256').update(`endpoint ${c.id} ${name}`).digest('hex') : '',
        Gateway: bridged ? '172.17.0.1' : '',
        IPAddress: bridged ? `172.17.0.${host}` : '',
        IPPrefixLen: bridged ? 16 : 0,
        IPv6Gateway: '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        MacAddress: bridged ? `02:42:ac:11:00:${host.toString(16).padStart(2, '0')}` : '',
        DriverOpts: null,
      };
    }
    return out;
  }

  private summary(c: Container, now: number): Json {
    return {
      Id: c.id,
      Names: [`/${c.name}`],
      Image: c.config.Image,
      ImageID: c.imageId,
      Command: this.command(c).join(' '),
      Created: Math.floor(Date.parse(c.created) / 1000),
      Ports: [],
      Labels: c.config.Labels,
      State: this.stateName(c),
      Status: this.statusText(c, now),
      HostConfig: { NetworkMode: c.hostConfig.NetworkMode },
      NetworkSettings: { Networks: this.networksJson(c) },
      Mounts: this.mountsJson(c),
    };
  }

  inspectContainer(c: Container): Json {
    const now = Date.now();
    const health = this.health(c, now);
    const [path = '', ...args] = this.command(c);
    const failing = health === 'unhealthy';
    const runningExecs = c.execIds.filter((id) => this.execs.get(id)?.running);
    return {
      Id: c.id,
      Created: c.created,
      Path: path,
      Args: args,
      State: {
        Status: this.stateName(c),
        Running: c.running,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: c.pid,
        ExitCode: c.exitCode,
        Error: '',
        StartedAt: iso(c.startedAt),
        FinishedAt: iso(c.finishedAt),
        ...(health === undefined
          ? {}
          : {
              Health: {
                Status: health,
                FailingStreak: failing ? 3 : 0,
                Log: health === 'starting' ? [] : [{ Start: iso(c.healthyAt! - 20), End: iso(c.healthyAt), ExitCode: failing ? 1 : 0, Output: '' }],
              },
            }),
      },
      Image: c.imageId,
      ResolvConfPath: `/var/lib/docker/containers/${c.id}/resolv.conf`,
      HostnamePath: `/var/lib/docker/containers/${c.id}/hostname`,
      HostsPath: `/var/lib/docker/containers/${c.id}/hosts`,
      LogPath: `/var/lib/docker/containers/${c.id}/${c.id}-json.log`,
      Name: `/${c.name}`,
      RestartCount: 0,
      Driver: 'overlay2',
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: 'docker-default',
      ExecIDs: runningExecs.length ? runningExecs : null,
      HostConfig: c.hostConfig,
      GraphDriver: { Data: null, Name: 'overlay2' },
      Mounts: this.mountsJson(c),
      Config: c.config,
      NetworkSettings: {
        Bridge: '',
        SandboxID: c.running ? createHash('sha256').update(`sandbox ${c.id}`).digest('hex') : '',
        HairpinMode: false,
        LinkLocalIPv6Address: '',
        LinkLocalIPv6PrefixLen: 0,
        Ports: {},
        SandboxKey: c.running ? `/var/run/docker/netns/${c.id.slice(0, 12)}` : '',
        SecondaryIPAddresses: null,
        SecondaryIPv6Addresses: null,
        EndpointID: '',
        Gateway: '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        IPAddress: '',
        IPPrefixLen: 0,
        IPv6Gateway: '',
        MacAddress: '',
        Networks: this.networksJson(c),
      },
    };
  }

  /** The log lines kept, as (stream, text) with an optional timestamp: those after line `after`, the last `tail`. */
  logs(c: Container, o: { stdout: boolean; stderr: boolean; tail?: number; timestamps: boolean; after?: number }): { stream: 1 | 2; text: string }[] {
    const { stdout, stderr, tail, timestamps, after = 0 } = o;
    let lines = c.logs.filter((l) => (l.stream === 1 ? stdout : stderr) && l.seq > after);
    if (tail !== undefined) lines = tail > 0 ? lines.slice(-tail) : [];
    return lines.map((l) => ({ stream: l.stream, text: `${timestamps ? `${new Date(l.at).toISOString()} ` : ''}${l.text}\n` }));
  }

  // ---- exec

  createExec(c: Container, body: Json): string {
    if (!c.running) throw new ApiError(409, `Container ${c.id} is not running`);
    const argv = asStrings(body.Cmd);
    if (!argv?.length) throw new ApiError(400, 'No exec command specified');
    const id = newId();
    this.execs.set(id, {
      id,
      containerId: c.id,
      argv,
      user: typeof body.User === 'string' ? body.User : '',
      tty: body.Tty === true,
      workingDir: typeof body.WorkingDir === 'string' && body.WorkingDir ? body.WorkingDir : '/',
      privileged: body.Privileged === true,
      attachStdin: body.AttachStdin === true,
      attachStdout: body.AttachStdout === true,
      attachStderr: body.AttachStderr === true,
      running: false,
      exitCode: null,
      pid: 0,
    });
    c.execIds.push(id);
    // Bounded: a health probe every second would otherwise keep every exec forever.
    if (c.execIds.length > 20) for (const old of c.execIds.splice(0, c.execIds.length - 20)) this.execs.delete(old);
    return id;
  }

  getExec(id: string): Exec {
    const e = this.execs.get(id);
    if (!e) throw new ApiError(404, `No such exec instance: ${id}`);
    return e;
  }

  /** Checks an exec can start and marks it running; its container. */
  beginExec(e: Exec): Container {
    const c = this.findContainer(e.containerId);
    if (!c) throw new ApiError(404, `No such container: ${e.containerId}`);
    this.settle(c);
    if (!c.running) throw new ApiError(409, `Container ${c.id} is not running`);
    e.running = true;
    e.exitCode = null;
    e.pid = this.nextPid++;
    return c;
  }

  /**
   * Runs the command at the end of its latency. The container's own healthcheck, run by hand (as
   * berth's health wait does), fails until the container is healthy; anything else goes through
   * the command table.
   */
  finishExec(e: Exec, stdin: Buffer = Buffer.alloc(0)): ExecResult {
    const c = this.findContainer(e.containerId);
    let result: ExecResult;
    if (!c) result = { code: 137 };
    else {
      this.settle(c);
      if (!c.running) result = { code: 137 };
      else if (this.isHealthcheck(c, e.argv)) result = { code: this.health(c) === 'healthy' ? 0 : 1 };
      else {
        const host = String(c.hostConfig.NetworkMode) === 'host';
        result = runCommand({ argv: e.argv, stdin, fs: c.fs, hostname: host ? this.name : String(c.config.Hostname), ...(host ? { address: this.address } : {}), cwd: e.workingDir, process: { pid: c.pid, started: c.startedAt ?? Date.now() } }, this.shared.execHandlers);
      }
    }
    e.running = false;
    e.exitCode = result.code;
    return result;
  }

  private isHealthcheck(c: Container, argv: readonly string[]): boolean {
    const test = (c.config.Healthcheck as { Test?: string[] } | undefined)?.Test;
    if (!c.healthcheck || !test?.length) return false;
    const [kind, ...rest] = test;
    if (kind === 'CMD-SHELL') return argv.length === 3 && argv[1] === '-c' && argv[2] === rest[0];
    return kind === 'CMD' && rest.length === argv.length && rest.every((a, i) => a === argv[i]);
  }

  inspectExec(e: Exec): Json {
    return {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { tty: e.tty, entrypoint: e.argv[0], arguments: e.argv.slice(1), privileged: e.privileged, user: e.user },
      OpenStdin: false,
      OpenStderr: e.attachStderr,
      OpenStdout: e.attachStdout,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: '',
      Pid: e.running ? e.pid : 0,
    };
  }

  // ---- volumes

  ensureVolume(name: string, labels: Record<string, string>, driver: string, options: Record<string, string>): Volume {
    const existing = this.volumes.get(name);
    if (existing) {
      if (driver && existing.driver !== driver) throw new ApiError(409, `create ${name}: a volume with the name ${name} already exists with driver "${existing.driver}"`);
      return existing;
    }
    const v: Volume = { name, driver: driver || 'local', labels, options, createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), fs: new MemFs() };
    this.volumes.set(name, v);
    return v;
  }

  getVolume(name: string): Volume {
    const v = this.volumes.get(name);
    if (!v) throw new ApiError(404, `get ${name}: no such volume`);
    return v;
  }

  volumeUsers(name: string): Container[] {
    return [...this.containers.values()].filter((c) => c.mounts.some((m) => m.type === 'volume' && m.source === name));
  }

  volumeJson(v: Volume): Json {
    return {
      CreatedAt: v.createdAt,
      Driver: v.driver,
      Labels: Object.keys(v.labels).length ? v.labels : null,
      Mountpoint: `/var/lib/docker/volumes/${v.name}/_data`,
      Name: v.name,
      Options: Object.keys(v.options).length ? v.options : null,
      Scope: 'local',
    };
  }

  listVolumes(filters: Map<string, string[]>): Json {
    checkFilterKeys(filters, ['label', 'name', 'dangling', 'driver'], 'volumes');
    const dangling = filters.get('dangling')?.[0];
    const volumes = [...this.volumes.values()]
      .filter((v) => labelsMatch(v.labels, filters.get('label')))
      .filter((v) => !filters.get('name')?.length || filters.get('name')!.some((n) => v.name.includes(n)))
      .filter((v) => !filters.get('driver')?.length || filters.get('driver')!.includes(v.driver))
      .filter((v) => dangling === undefined || (dangling === 'true' || dangling === '1') === (this.volumeUsers(v.name).length === 0))
      .map((v) => this.volumeJson(v));
    return { Volumes: volumes, Warnings: null };
  }

  removeVolume(name: string, force: boolean): void {
    if (!this.volumes.has(name)) {
      if (force) return;
      throw new ApiError(404, `get ${name}: no such volume`);
    }
    const users = this.volumeUsers(name);
    if (users.length) throw new ApiError(409, `remove ${name}: volume is in use - [${users.map((c) => c.id).join(', ')}]`);
    this.volumes.delete(name);
  }

  // ---- networks

  findNetwork(nameOrId: string): Network | undefined {
    const exact = this.networks.get(nameOrId) ?? [...this.networks.values()].find((n) => n.name === nameOrId);
    if (exact) return exact;
    const byPrefix = [...this.networks.values()].filter((n) => n.id.startsWith(nameOrId));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  getNetwork(nameOrId: string): Network {
    const n = this.findNetwork(nameOrId);
    if (!n) throw new ApiError(404, `network ${nameOrId} not found`);
    return n;
  }

  networkJson(n: Network): Json {
    const containers: Json = {};
    for (const c of this.containers.values()) {
      this.settle(c);
      if (!c.running || !c.networks.has(n.name)) continue;
      const ep = this.networksJson(c)[n.name] as Json;
      containers[c.id] = { Name: c.name, EndpointID: ep.EndpointID, MacAddress: ep.MacAddress, IPv4Address: ep.IPAddress ? `${ep.IPAddress as string}/16` : '', IPv6Address: '' };
    }
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: 'local',
      Driver: n.driver,
      EnableIPv6: false,
      IPAM: n.ipam,
      Internal: n.internal,
      Attachable: n.attachable,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: n.options,
      Labels: n.labels,
    };
  }

  listNetworks(filters: Map<string, string[]>): Json[] {
    checkFilterKeys(filters, ['label', 'name', 'id', 'driver', 'type'], 'networks');
    const matches = (values: string[] | undefined, test: (v: string) => boolean): boolean => !values?.length || values.some(test);
    return [...this.networks.values()]
      .filter(
        (n) =>
          labelsMatch(n.labels, filters.get('label')) &&
          matches(filters.get('name'), (v) => n.name.includes(v)) &&
          matches(filters.get('id'), (v) => n.id.startsWith(v)) &&
          matches(filters.get('driver'), (v) => n.driver === v) &&
          matches(filters.get('type'), (v) => v === (n.predefined ? 'builtin' : 'custom')),
      )
      .map((n) => this.networkJson(n));
  }

  createNetwork(body: Json): string {
    const name = typeof body.Name === 'string' ? body.Name : '';
    if (!name) throw new ApiError(400, 'network name must be set');
    if (this.findNetwork(name)?.name === name) throw new ApiError(409, `network with name ${name} already exists`);
    const id = newId();
    const index = this.networks.size + 17;
    const ipam = (body.IPAM as Json | undefined) ?? { Driver: 'default', Options: {}, Config: [{ Subnet: `172.${index}.0.0/16`, Gateway: `172.${index}.0.1` }] };
    this.networks.set(id, {
      id,
      name,
      driver: typeof body.Driver === 'string' && body.Driver ? body.Driver : 'bridge',
      labels: asRecord(body.Labels),
      options: asRecord(body.Options),
      created: new Date().toISOString(),
      internal: body.Internal === true,
      attachable: body.Attachable === true,
      ipam,
      predefined: false,
    });
    return id;
  }

  removeNetwork(nameOrId: string): void {
    const n = this.getNetwork(nameOrId);
    if (n.predefined) throw new ApiError(403, `${n.name} is a pre-defined network and cannot be removed`);
    for (const c of this.containers.values()) this.settle(c);
    const users = [...this.containers.values()].filter((c) => c.networks.has(n.name) && c.running);
    if (users.length) throw new ApiError(403, `error while removing network: network ${n.name} id ${n.id} has active endpoints`);
    for (const c of this.containers.values()) c.networks.delete(n.name);
    this.networks.delete(n.id);
  }

  connect(nameOrId: string, container: string, endpoint: Json): void {
    const n = this.getNetwork(nameOrId);
    const c = this.getContainer(container);
    if (c.networks.has(n.name)) throw new ApiError(403, `endpoint with name ${c.name} already exists in network ${n.name}`);
    c.networks.set(n.name, endpoint);
  }

  disconnect(nameOrId: string, container: string): void {
    const n = this.getNetwork(nameOrId);
    const c = this.getContainer(container);
    if (!c.networks.delete(n.name)) throw new ApiError(403, `container ${c.id} is not connected to network ${n.name}`);
  }
}
