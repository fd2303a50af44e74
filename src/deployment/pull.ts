// berth pull: every selected host gets the images its planned containers and jobs use, hosts in
// parallel (at most --forks). An image already there with the ID this machine built is left alone.
// Where from depends on docker_registry (plan/images.ts): berth's loopback registry on the
// deployment host (each other host's 127.0.0.1:<port> forwarded to it over its SSH connection for
// the pull), an operator's registry, or, without one, streamed from this machine (docker save → load).
import pLimit from 'p-limit';
import { Transform, type Readable } from 'node:stream';
import { Engine, EngineError } from '../engine/docker.js';
import { isUnreachable, type Host } from '../engine/host.js';
import type { PullSnapshot } from '../engine/pull-progress.js';
import { imagesByHost, registryMode } from '../plan/images.js';
import type { DeploymentContext } from './context.js';
import { registrySite, sameMachine, waitRegistry, withRegistry } from './registry.js';

export type ImageOutcome = 'pulled' | 'present' | 'failed';

export type PullEvent =
  | { type: 'host-start'; host: string; images: number; toFetch: number; via: string }
  | { type: 'image-start'; host: string; ref: string }
  | ({ type: 'image-progress'; host: string; ref: string } & PullSnapshot)
  | { type: 'image-end'; host: string; ref: string; outcome: ImageOutcome; durationMs: number; bytes: number; error?: string }
  | { type: 'host-unreachable'; host: string; reason: string };

export interface HostPullRecap {
  host: string;
  pulled: number;
  present: number;
  failed: number;
  bytes: number;
  durationMs: number;
  unreachable?: string;
  /** Why the host's images could not be fetched at all (a refused forward, say). */
  error?: string;
}

export interface PullOptions {
  /** Hosts to pull onto (--limit's selection), in inventory order. */
  hosts: readonly string[];
  forks: number;
  onEvent: (ev: PullEvent) => void;
  /** How often an image's progress is reported, at most. */
  progressEveryMs?: number;
}

export async function pullImages(ctx: DeploymentContext, opts: PullOptions): Promise<HostPullRecap[]> {
  const mode = registryMode(ctx.build.registry);
  const needed = imagesByHost(ctx.plan, opts.hosts);
  const local = new Engine();
  // The IDs this machine built: an image with the same ID on a host is the right one.
  const built = await local.imageTags();
  const site = registrySite(ctx);
  if (site) await waitRegistry(site, 3000).catch((err: EngineError) => Promise.reject(new EngineError(err.message, 'berth push starts the registry and fills it; run it first')));
  const localHosts = new Set(ctx.deployment.hosts.filter((h) => h.connection === 'local').map((h) => h.name));
  const limit = pLimit(opts.forks);
  const every = opts.progressEveryMs ?? 1000;

  const onHost = async (name: string): Promise<HostPullRecap> => {
    const t0 = Date.now();
    const recap: HostPullRecap = { host: name, pulled: 0, present: 0, failed: 0, bytes: 0, durationMs: 0 };
    const done = (): HostPullRecap => ({ ...recap, durationMs: Date.now() - t0 });
    const reason = ctx.unreachable.get(name);
    if (reason !== undefined) {
      opts.onEvent({ type: 'host-unreachable', host: name, reason });
      return { ...done(), unreachable: reason };
    }
    const host = ctx.hosts.get(name)!;
    const refs = needed.get(name) ?? [];
    const end = (ref: string, outcome: ImageOutcome, start: number, bytes = 0, error?: string): void => {
      recap[outcome]++;
      recap.bytes += bytes;
      opts.onEvent({ type: 'image-end', host: name, ref, outcome, durationMs: Date.now() - start, bytes, ...(error ? { error } : {}) });
    };
    try {
      const tags = refs.length ? await host.imageTags() : new Map<string, string>();
      const fetch = refs.filter((ref) => !(tags.has(ref) && tags.get(ref) === built.get(ref)));
      const via = mode.kind === 'loopback' ? (sameMachine(site!, name) ? 'the registry on this host' : `the registry on ${site!.hostName}, through SSH`) : mode.kind === 'remote' ? mode.address : localHosts.has(name) ? 'this machine' : 'this machine, streamed';
      opts.onEvent({ type: 'host-start', host: name, images: refs.length, toFetch: fetch.length, via });
      for (const ref of refs.filter((r) => !fetch.includes(r))) end(ref, 'present', Date.now());
      if (!fetch.length) return done();

      if (mode.kind === 'none') {
        await stream(host, name, localHosts.has(name), fetch, built, local, opts, end, every);
        return done();
      }
      const pullAll = async (): Promise<void> => {
        for (const ref of fetch) {
          const start = Date.now();
          opts.onEvent({ type: 'image-start', host: name, ref });
          let last = 0;
          try {
            const p = await host.pull(ref, (progress) => {
              if (Date.now() - last < every) return;
              last = Date.now();
              opts.onEvent({ type: 'image-progress', host: name, ref, ...progress.snapshot() });
            });
            end(ref, p.upToDate ? 'present' : 'pulled', start, p.upToDate ? 0 : p.snapshot().bytesDone);
          } catch (err) {
            if (isUnreachable(err)) throw err;
            end(ref, 'failed', start, 0, (err as Error).message);
          }
        }
      };
      if (site) await withRegistry(site, { name, host }, pullAll);
      else await pullAll();
      return done();
    } catch (err) {
      if (isUnreachable(err)) {
        opts.onEvent({ type: 'host-unreachable', host: name, reason: (err as Error).message });
        return { ...done(), unreachable: (err as Error).message };
      }
      // The host as a whole failed (a refused forward): every image not yet done failed with it.
      const message = (err as Error).message + ((err as EngineError).hint ? ` (${(err as EngineError).hint})` : '');
      const counted = recap.pulled + recap.present + recap.failed;
      return { ...done(), failed: recap.failed + (refs.length - counted), error: message };
    }
  };
  return Promise.all(opts.hosts.map((h) => limit(() => onHost(h))));
}

/**
 * Without a registry: a remote host gets one `docker save` stream of what it lacks from this
 * machine (shared layers sent once) into POST /images/load; this machine's own hosts have what it built.
 */
async function stream(
  host: Host,
  name: string,
  isLocal: boolean,
  refs: string[],
  built: ReadonlyMap<string, string>,
  local: Engine,
  opts: PullOptions,
  end: (ref: string, outcome: ImageOutcome, start: number, bytes?: number, error?: string) => void,
  every: number,
): Promise<void> {
  const start = Date.now();
  const absent = refs.filter((r) => !built.has(r));
  for (const ref of absent) end(ref, 'failed', start, 0, `${ref} is not built on this machine and docker_registry is empty; run berth build, or set docker_registry`);
  const send = refs.filter((r) => built.has(r));
  if (!send.length || isLocal) return;
  const label = send.length === 1 ? send[0]! : `${send.length} images`;
  opts.onEvent({ type: 'image-start', host: name, ref: label });
  let bytes = 0;
  let last = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (Date.now() - last >= every) {
        last = Date.now();
        opts.onEvent({ type: 'image-progress', host: name, ref: label, layers: 0, layersDone: 0, bytesDone: bytes, bytesTotal: 0 });
      }
      cb(null, chunk);
    },
  });
  try {
    const tar: Readable = await local.save(send);
    await host.loadImages(tar.pipe(counter));
    const after = await host.imageTags();
    // The stream's bytes counted once, on the first image.
    for (const [i, ref] of send.entries()) {
      if (after.get(ref) === built.get(ref)) end(ref, 'pulled', start, i === 0 ? bytes : 0);
      else end(ref, 'failed', start, 0, `${ref} is not on the host after loading it`);
    }
  } catch (err) {
    if (isUnreachable(err)) throw err;
    for (const ref of send) end(ref, 'failed', start, 0, (err as Error).message);
  }
}
