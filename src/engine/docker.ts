// The only module that talks to Docker Engine. Everything above it sees plain data.
import type Docker from 'dockerode';
import { createReadStream } from 'node:fs';
import { inspect } from 'node:util';
import { InputError } from '../config/errors.js';
import { DockerApi, type DockerEndpoint } from './docker-api.js';
import { PullProgress, type PullEvent } from './pull-progress.js';
import { PassThrough, type Readable } from 'node:stream';

export interface ImageInfo {
  id: string;
  labels: Record<string, string>;
  size: number;
  created: string;
}

export class EngineError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    /** The host cannot be reached at all (no connection, engine not answering): reconcile skips it and goes on with the others. */
    readonly unreachable = false,
  ) {
    super(message);
  }
}

export interface BuildRequest {
  context: Readable;
  tag: string;
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  signal?: AbortSignal;
  /** Every line of build output, for the image's log file. */
  onOutput: (text: string) => void;
}

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** How a TCP engine is named in messages: the scheme says whether it is TLS. */
export function tcpEngineUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? 'https' : 'tcp'}://${host}:${port}`;
}

/**
 * Starts an exec made with AttachStdout/AttachStderr (and AttachStdin when `stdin` is given),
 * writes stdin and half-closes, hands each output frame to its sink, and returns the exit code.
 * Passing one sink for both keeps the order the command wrote in.
 */
export async function runExec(docker: Docker, exec: Docker.Exec, sinks: { stdout: (chunk: Buffer) => void; stderr: (chunk: Buffer) => void }, what: string, stdin?: Buffer, timeoutMs = 10 * 60_000): Promise<number> {
  const stream = await exec.start({ hijack: true, stdin: stdin !== undefined });
  const out = new PassThrough().on('data', sinks.stdout);
  const err = sinks.stderr === sinks.stdout ? out : new PassThrough().on('data', sinks.stderr);
  docker.modem.demuxStream(stream, out, err);
  // 'close' as well as 'end', and a stream already done counts: a quick command's output, end
  // and close can come with the upgrade itself, before this listens (over SSH, execs through
  // sudo's dial-stdio waited out their timeout, once a deploy 20 minutes). The timeout is the
  // last resort: the caller sees a failed run and may try again.
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve, reject) => {
    if (stream.destroyed || stream.readableEnded) return resolve();
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
    timer = setTimeout(() => reject(new EngineError(`${what} gave no answer within ${timeoutMs / 1000}s`)), timeoutMs);
  });
  // Half-closed after stdin: the engine gives the command its end of input, then its output.
  if (stdin !== undefined) stream.end(stdin);
  try {
    await done;
  } finally {
    clearTimeout(timer);
    // The engine only ended its side of the hijacked connection; close ours (over SSH it is a channel).
    stream.destroy();
  }
  return (await exec.inspect()).ExitCode ?? -1;
}

/** This machine's engine: BERTH_DOCKER_SOCKET or Docker's default socket. */
export function localEndpoint(): DockerEndpoint {
  return { socketPath: process.env.BERTH_DOCKER_SOCKET ?? '/var/run/docker.sock' };
}

export class Engine {
  /** Reads (lists, inspects) without loading dockerode. */
  readonly api: DockerApi;
  private dockerode?: Promise<Docker>;
  /** Requests dockerode made, for the benchmark. */
  private dialed = 0;

  constructor(
    readonly endpoint: DockerEndpoint = localEndpoint(),
    /** A transport failure as the host's transport names it (a TCP host: unreachable). */
    private readonly transportError: (err: Error) => Error = (err) => err,
  ) {
    this.api = new DockerApi(endpoint, transportError);
    // docker-modem logs every request's options with util.inspect (showHidden, unlimited depth)
    // even when its debug output is off: with an agent among them (SSH, TCP) that walked every
    // kept-alive socket and TLS context, seconds of CPU per hundred requests. One word instead.
    const agent = 'agent' in endpoint ? endpoint.agent : 'tcp' in endpoint ? endpoint.tcp.agent : undefined;
    if (agent) Object.defineProperty(agent, inspect.custom, { value: () => '[Agent]' });
  }

  /** dockerode, loaded on first use: commands that only read never load it. */
  docker(): Promise<Docker> {
    this.dockerode ??= import('dockerode').then(({ default: Dockerode }) => {
      const e = this.endpoint;
      const options =
        'socketPath' in e
          ? { socketPath: e.socketPath }
          : 'tcp' in e
            ? { host: e.tcp.host, port: e.tcp.port, protocol: e.tcp.tls ? ('https' as const) : ('http' as const), agent: e.tcp.agent, ...e.tcp.tls }
            : // With an agent of its own, the host name only labels requests: the agent opens every connection.
              { host: 'http://docker', port: 80, protocol: 'http' as const, agent: e.agent };
      const docker = new Dockerode(options);
      const modem = docker.modem as { dial: (...args: unknown[]) => unknown };
      const dial = modem.dial.bind(modem);
      modem.dial = (...args: unknown[]) => {
        this.dialed++;
        const callback = args.at(-1);
        if (typeof callback === 'function') {
          args[args.length - 1] = (err: unknown, ...rest: unknown[]) => (callback as (...a: unknown[]) => unknown)(err instanceof Error && !('statusCode' in err) ? this.transportError(err) : err, ...rest);
        }
        return dial(...args);
      };
      return docker;
    });
    return this.dockerode;
  }

  /** Docker API requests made so far, both ways. */
  get requests(): number {
    return this.api.requests + this.dialed;
  }

  async ping(): Promise<string> {
    try {
      const v = await this.api.get<{ Version: string }>('/version');
      return v?.Version ?? 'unknown';
    } catch (err) {
      // A remote transport says itself what is wrong (host, cause, what to do).
      if (err instanceof EngineError || err instanceof InputError) throw err;
      if ('tcp' in this.endpoint) {
        const { host, port, tls } = this.endpoint.tcp;
        throw new EngineError(`Docker Engine at ${tcpEngineUrl(host, port, tls !== undefined)}: ${(err as Error).message}`, 'check berth_docker_host and berth_docker_tls_dir in the inventory, and that dockerd listens there', true);
      }
      throw new EngineError(
        `Docker Engine does not answer on its socket: ${(err as Error).message}`,
        'install and start it (scripts/host-setup.sh does both), or set BERTH_DOCKER_SOCKET',
        true,
      );
    }
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    const info = await this.api.get<{ Id: string; Config?: { Labels?: Record<string, string> | null }; Size: number; Created: string }>(`/images/${ref}/json`);
    if (!info) return undefined;
    return { id: info.Id, labels: info.Config?.Labels ?? {}, size: info.Size, created: info.Created };
  }


  /** An image carrying this label value, whatever its name: a build under another registry or tag. */
  /**
   * An image carrying label=value and tagged as `name` under some registry, namespace or tag.
   * Labels are inherited: an image built FROM a berth image (by berth or anyone) carries its
   * parent's labels until it sets its own, so the label alone does not identify the build.
   */
  async findImageByLabel(label: string, value: string, name: string): Promise<string | undefined> {
    const list = await (await this.docker()).listImages({ filters: { label: [`${label}=${value}`] } });
    const named = (tag: string): boolean => {
      const repo = tag.slice(0, tag.lastIndexOf(':'));
      return repo === name || repo.endsWith(`/${name}`);
    };
    return list.find((i) => (i.RepoTags ?? []).some(named))?.Id;
  }

  /**
   * Builds from a tar context. The engine reports a failed build as an error event inside a
   * successful HTTP stream, so the stream is scanned rather than trusted.
   */
  async build(req: BuildRequest): Promise<string> {
    const stream = (await (await this.docker()).buildImage(req.context, {
      t: req.tag,
      labels: req.labels,
      buildargs: req.buildArgs,
      rm: true,
      forcerm: true,
      abortSignal: req.signal,
    } as Docker.ImageBuildOptions)) as Readable;
    let imageId: string | undefined;
    let failure: string | undefined;
    await consumeJsonLines(stream, (ev: BuildEvent) => {
      if (ev.stream) req.onOutput(ev.stream);
      if (ev.status) req.onOutput(ev.status + '\n');
      if (ev.aux?.ID) imageId = ev.aux.ID;
      if (ev.error || ev.errorDetail) {
        failure = ev.errorDetail?.message ?? ev.error;
        req.onOutput(`ERROR: ${failure}\n`);
      }
    });
    if (failure) throw new EngineError(failure);
    const info = await this.inspectImage(req.tag);
    if (!info) throw new EngineError(`build of ${req.tag} reported success but no image exists`);
    return imageId ?? info.id;
  }

  /** Imports a root filesystem tarball as a single-layer image. */
  async importRootfs(tarPath: string, ref: string, changes: string[]): Promise<void> {
    const [repo, tag] = splitRef(ref);
    const stream = (await (await this.docker()).importImage(createReadStream(tarPath), {
      repo,
      tag,
      changes,
    } as object)) as Readable;
    let failure: string | undefined;
    await consumeJsonLines(stream, (ev: BuildEvent) => {
      if (ev.error || ev.errorDetail) failure = ev.errorDetail?.message ?? ev.error;
    });
    if (failure) throw new EngineError(`import of ${ref} failed: ${failure}`);
  }

  async push(ref: string, onOutput: (text: string) => void): Promise<void> {
    const [repo, tag] = splitRef(ref);
    const stream = (await (await this.docker()).getImage(ref).push({ tag, authconfig: {} } as object)) as Readable;
    let failure: string | undefined;
    await consumeJsonLines(stream, (ev: BuildEvent) => {
      if (ev.status) onOutput(`${ev.status}\n`);
      if (ev.error || ev.errorDetail) failure = ev.errorDetail?.message ?? ev.error;
    });
    if (failure) throw new EngineError(`push of ${repo}:${tag} failed: ${failure}`);
  }

  /** Every tagged image: reference → image ID, in one call (GET /images/json). */
  async imageTags(): Promise<Map<string, string>> {
    const list = (await this.api.get<{ Id: string; RepoTags?: string[] | null }[]>('/images/json')) ?? [];
    const tags = new Map<string, string>();
    for (const i of list) for (const t of i.RepoTags ?? []) if (t !== '<none>:<none>') tags.set(t, i.Id);
    return tags;
  }

  /**
   * Pulls an image (POST /images/create). Like a build, a failed pull is an error event inside a
   * successful HTTP stream: the progress keeps it, and it is thrown here.
   */
  async pull(ref: string, onProgress: (p: PullProgress) => void): Promise<PullProgress> {
    const [repo, tag] = splitRef(ref);
    const progress = new PullProgress();
    let stream: Readable;
    try {
      stream = (await (await this.docker()).createImage({ fromImage: repo, tag })) as Readable;
    } catch (err) {
      throw new EngineError(`pull of ${ref} failed: ${engineMessage(err)}`);
    }
    await consumeJsonLines(stream, (ev: PullEvent) => {
      if (progress.feed(ev)) onProgress(progress);
    });
    if (progress.error !== undefined) throw new EngineError(`pull of ${ref} failed: ${progress.error}`);
    return progress;
  }

  /** Images as one `docker save` tar stream (GET /images/get): shared layers are sent once. */
  async save(refs: readonly string[]): Promise<Readable> {
    const docker = await this.docker();
    const modem = docker.modem as unknown as { dial: (opts: object, cb: (err: Error | null, stream: Readable) => void) => void };
    // dockerode's getImage().get() names one image; the API takes several.
    return new Promise<Readable>((resolve, reject) =>
      modem.dial({ path: '/images/get?', method: 'GET', options: { names: [...refs] }, isStream: true, statusCodes: { 200: true, 500: 'server error' } }, (err, stream) =>
        err ? reject(new EngineError(`saving ${refs.join(', ')} failed: ${engineMessage(err)}`)) : resolve(stream),
      ),
    );
  }

  /** Loads images from a `docker save` tar stream (POST /images/load): a host without a registry. */
  async loadImages(tar: Readable): Promise<void> {
    const stream = (await (await this.docker()).loadImage(tar, { quiet: true })) as Readable;
    let failure: string | undefined;
    await consumeJsonLines(stream, (ev: BuildEvent) => {
      if (ev.error || ev.errorDetail) failure = ev.errorDetail?.message ?? ev.error;
    });
    if (failure) throw new EngineError(`image load failed: ${failure}`);
  }

  async removeImageIfUnused(id: string): Promise<void> {
    try {
      // Still tagged elsewhere (a twin with the same build key): keep it. Asked first, because some
      // engines untag one of several names on a plain delete by ID instead of refusing.
      const docker = await this.docker();
      const info = await docker.getImage(id).inspect();
      if ((info.RepoTags ?? []).some((t) => t !== '<none>:<none>')) return;
      await docker.getImage(id).remove({ noprune: false });
    } catch {
      // In use by a container or a child image: keep it.
    }
  }

  async tag(source: string, ref: string): Promise<void> {
    const [repo, tag] = splitRef(ref);
    await (await this.docker()).getImage(source).tag({ repo, tag });
  }
}

/** What the engine said, without dockerode's "(HTTP code 404) ..." prefix when it has the JSON message. */
function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return e.json?.message ?? e.message ?? String(err);
}

/** `registry:5000/ns/name:tag` → [`registry:5000/ns/name`, `tag`]; the port colon is not a tag. */
export function splitRef(ref: string): [string, string] {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return [ref.slice(0, colon), ref.slice(colon + 1)];
  return [ref, 'latest'];
}

async function consumeJsonLines<T>(stream: Readable, onEvent: (ev: T) => void): Promise<void> {
  let pending = '';
  for await (const chunk of stream) {
    pending += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line) onEvent(JSON.parse(line) as T);
    }
  }
  if (pending.trim()) onEvent(JSON.parse(pending) as T);
}
