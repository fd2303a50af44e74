// A deploy target: its Docker Engine and its files. Reconcile, plan and the CLI see only this
// interface; DockerHost implements it once, over a transport: LocalHost (the Docker socket and this
// machine's files) or SshHost (one SSH connection: the Docker API tunnelled through it, files
// copied over it).
import type { ContainerSpec, HostFacts } from '../plan/types.js';
import { EngineError } from './docker.js';
import type { ModuleFacts } from './kernel-modules.js';
import type { PullProgress } from './pull-progress.js';
import type { Duplex, Readable } from 'node:stream';

/**
 * A host berth cannot reach at all: the connection failed, or its engine does not answer. A Host
 * throws it (or any EngineError with `unreachable` set) from its first call; deploy then reports
 * the host as unreachable and goes on with the others.
 */
export class UnreachableError extends EngineError {
  constructor(message: string, hint?: string) {
    super(message, hint, true);
  }
}

export function isUnreachable(err: unknown): boolean {
  return err instanceof EngineError && err.unreachable;
}

export type { HostFacts };

export interface ActualContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  imageId: string;
  /** Docker's state: created (never started), running, restarting, exited, ... */
  status: string;
  running: boolean;
  exitCode: number;
  startedAt: string;
  /** Unset while the container has never finished a run. */
  finishedAt?: string;
  health?: string;
  /** Named volumes it mounts. */
  volumes: string[];
}

export interface ContainerSummary {
  name: string;
  labels: Record<string, string>;
  /** Named volumes it mounts. */
  volumes: string[];
}

export interface ActualVolume {
  name: string;
  labels: Record<string, string>;
}

/** A file (or, with `directory`, a directory) put into a tool's container before it starts. */
export interface ToolFile {
  /** Absolute path in the container. */
  path: string;
  content?: string | Buffer;
  directory?: boolean;
  mode: number;
  /** Owner in the container (numeric); root by default. */
  uid?: number;
  gid?: number;
}

/**
 * What a one-shot run of a tool (toolbox, tempest) needs. Its inputs go into the container and its
 * results come out through the Docker API, never through paths on the host: the deployment host
 * that runs it may be another machine.
 */
export interface ToolRun {
  image: string;
  /** Without a command the image's own entrypoint runs (kolla_start and its config.json). */
  cmd?: string[];
  files: ToolFile[];
  /** A directory of the container copied, after it exits, into a local directory (made 0700). */
  collect?: { from: string; into: string };
  /** Labels that mark the container as the deployment's, so a killed run's leftovers are found. */
  labels: Record<string, string>;
  env?: Record<string, string>;
  /** Named volumes and host paths mounted, `source:dest[:ro]` (a service's data, its config directory). */
  volumes?: string[];
  timeoutMs?: number;
}

/** berth's own bookkeeping in a config directory (what was applied live to the running container). */
export const MARKER = '.applied';

/** A container's config directory as decide() reads it: the files, when they were written, berth's marker. */
export interface ConfigState {
  files?: Record<string, string>;
  filesWrittenAt?: number;
  marker?: string;
}

export interface Host {
  readonly name: string;

  /** What the host's kernel says about a module (loaded, built in, loadable), for prechecks. */
  kernelModule(module: string): Promise<ModuleFacts>;

  /** The engine's version; throws an EngineError saying how to fix it when it does not answer (`unreachable` set). */
  ping(): Promise<string>;

  /** Hostname and the IPv4 addresses of the named interfaces (a missing one is undefined, not an error). */
  facts(interfaces: readonly string[]): Promise<HostFacts>;

  /** Every container on the host, as the engine's list gives it (one call): for ownership checks. */
  listAll(): Promise<ContainerSummary[]>;
  /** Containers carrying `label=value` (or just `label` when value is undefined), inspected. */
  listContainers(label: string, value?: string): Promise<ActualContainer[]>;
  inspect(nameOrId: string): Promise<ActualContainer | undefined>;
  imageId(ref: string): Promise<string | undefined>;
  /** Points a reference at an image ID the host holds (rollback puts the previous images back under their names). */
  tagImage(id: string, ref: string): Promise<void>;
  /** Every tagged image on the host, reference → image ID, in one call (deploy's missing-image check). */
  imageTags(): Promise<Map<string, string>>;
  /** Pulls an image, reporting progress as it goes; a failure in the engine's stream throws. */
  pull(ref: string, onProgress: (p: PullProgress) => void): Promise<PullProgress>;
  /** Loads images from a `docker save` tar stream (a host without a registry). */
  loadImages(tar: Readable): Promise<void>;
  /** A TCP connection to the host's own 127.0.0.1:port (berth's registry on the deployment host). */
  connectLoopback(port: number): Promise<Duplex>;
  /**
   * Makes the host's 127.0.0.1:port lead to `connect()` until the returned close() (how a host
   * reaches the deployment host's loopback registry). Refused with a clear EngineError when the
   * port is taken on the host, or forwarding is not allowed.
   */
  exposeLoopback(port: number, connect: () => Promise<Duplex>): Promise<{ close(): Promise<void> }>;
  create(name: string, spec: ContainerSpec, labels: Record<string, string>): Promise<void>;
  start(name: string): Promise<void>;
  /** Stop then start; the container has `timeoutSeconds` (default 10) to stop before it is killed. */
  restart(name: string, timeoutSeconds?: number): Promise<void>;
  /** SIGTERM (its stop signal), then SIGKILL after `timeoutSeconds` (default 10). A stopped or missing container is fine. */
  stop(name: string, timeoutSeconds?: number): Promise<void>;
  /** Removes it at once, killed if it runs (stop first for a clean shutdown). */
  remove(name: string): Promise<void>;
  /** Waits for a one-shot container to exit; returns its exit code. */
  wait(name: string, timeoutMs: number): Promise<number>;
  logs(name: string, tail?: number | 'all'): Promise<string>;
  /** Runs a command in a running container; an answer later than timeoutMs is an EngineError. */
  exec(name: string, cmd: string[], user?: string, timeoutMs?: number): Promise<{ code: number; output: string }>;
  /** Runs a command in a throwaway container (host network) and returns its exit code and output. */
  runTool(run: ToolRun): Promise<{ code: number; output: string }>;

  volumes(): Promise<ActualVolume[]>;
  /** Creates a named volume with labels; an existing one is left as it is. */
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
  removeVolume(name: string): Promise<boolean>;

  // Config directories are root-owned, 0700, files 0600 (they hold secrets). Names starting with a
  // dot are berth's own bookkeeping: not part of the container's files.
  readDir(dir: string): Promise<Record<string, string> | undefined>;
  /** Makes dir hold exactly `files` (besides dot files); returns whether anything changed. */
  syncDir(dir: string, files: Record<string, string>): Promise<boolean>;
  /** A container's config directory as decide() reads it: the files, when they were written, berth's marker. */
  configState(dir: string): Promise<ConfigState>;
  /** configState of many directories at once: one round trip to a remote host, not one per container. */
  configStates(dirs: readonly string[]): Promise<Map<string, ConfigState>>;
  writeMarker(dir: string, text: string): Promise<void>;
  removeDir(dir: string): Promise<void>;

  /** Releases what the host holds open (an SSH connection); the CLI calls it once at the end. */
  close(): Promise<void>;
}
