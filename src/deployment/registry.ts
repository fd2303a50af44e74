// berth's registry (images/registry: Debian's docker-registry) on the deployment host, for a
// loopback docker_registry: it listens on that host's 127.0.0.1:<port> only, with a named volume
// for its storage, both labelled as the deployment's (destroy removes them, ownership checks see
// them). Other machines reach it through SSH: the build machine to push, each host to pull, with
// their 127.0.0.1:<port> forwarded to it (withRegistry), so image references are the same everywhere.
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { imageRef, type BuildConfig } from '../config/build-config.js';
import { InputError } from '../config/errors.js';
import { Engine, EngineError } from '../engine/docker.js';
import type { Host } from '../engine/host.js';
import { LocalHost } from '../engine/local-host.js';
import { registryMode } from '../plan/images.js';
import { LABEL, type ContainerSpec } from '../plan/types.js';
import { toolHostName, type DeploymentContext } from './context.js';

export const REGISTRY_CONTAINER = 'berth_registry';
export const REGISTRY_VOLUME = 'berth_registry';
const STORAGE = '/var/lib/docker-registry';

/** Where the registry runs and how every machine of the deployment reaches it. */
export interface RegistrySite {
  port: number;
  /** The deployment host: the first host of [deployment]. */
  hostName: string;
  host: Host;
  /** Inventory hosts that are this machine (ansible_connection=local): one machine, one loopback. */
  localHosts: ReadonlySet<string>;
}

/** The loopback registry's site, or undefined when docker_registry is not a loopback address. */
export function registrySite(ctx: Pick<DeploymentContext, 'deployment' | 'hosts' | 'unreachable' | 'build'>): RegistrySite | undefined {
  const mode = registryMode(ctx.build.registry);
  if (mode.kind !== 'loopback') return undefined;
  const hostName = toolHostName(ctx.deployment.inventory);
  const reason = ctx.unreachable.get(hostName);
  if (reason !== undefined) throw new EngineError(`the deployment host ${hostName}, where the registry runs, is unreachable: ${reason}`, 'make it reachable, or name another host under [deployment]');
  const localHosts = new Set(ctx.deployment.hosts.filter((h) => h.connection === 'local').map((h) => h.name));
  return { port: mode.port, hostName, host: ctx.hosts.get(hostName)!, localHosts };
}

/** Whether a host of the inventory is the deployment host's machine (its loopback is the registry's). */
export function sameMachine(site: RegistrySite, hostName: string): boolean {
  return hostName === site.hostName || (site.localHosts.has(hostName) && site.localHosts.has(site.hostName));
}

/** The registry's container: host network, bound to loopback, storage on its volume. */
export function registrySpec(image: string, port: number): ContainerSpec {
  return {
    image,
    environment: { REGISTRY_HTTP_ADDR: `127.0.0.1:${port}` },
    volumes: [`${REGISTRY_VOLUME}:${STORAGE}`],
    capAdd: [],
    healthcheck: { test: `healthcheck_listen docker-registry ${port}`, intervalSeconds: 30, retries: 3, startPeriodSeconds: 5, timeoutSeconds: 10 },
    networkMode: 'host',
    restartPolicy: 'unless-stopped',
  };
}

/**
 * Makes the registry run on the deployment host (idempotent): its image there (streamed from this
 * machine when the host is remote and lacks it), its volume, the container recreated when its
 * image or port changed, started when stopped; then waits until it answers. Returns what it did.
 */
export async function ensureRegistry(site: RegistrySite, build: BuildConfig, deploymentId: string, say: (line: string) => void): Promise<void> {
  const host = site.host;
  const image = imageRef(build, 'registry');
  let imageId = await host.imageId(image);
  if (!imageId) {
    const local = new Engine();
    if (!site.localHosts.has(site.hostName) && (await local.inspectImage(image))) {
      say(`${site.hostName}: sending ${image} from this machine`);
      await host.loadImages(await local.save([image]));
      imageId = await host.imageId(image);
    }
    if (!imageId) throw new EngineError(`${site.hostName}: the registry image ${image} is not there`, 'run berth build registry on this machine (berth push sends it to the deployment host)');
  }
  const spec = registrySpec(image, site.port);
  const specHash = createHash('sha256').update(JSON.stringify({ spec, imageId })).digest('hex');
  const labels = { [LABEL.deployment]: deploymentId, [LABEL.kind]: 'registry', [LABEL.image]: image, [LABEL.specHash]: specHash };
  const found = await host.inspect(REGISTRY_CONTAINER);
  if (found && found.labels[LABEL.deployment] !== deploymentId) {
    const owner = found.labels[LABEL.deployment];
    throw new InputError(
      `${site.hostName}: container ${REGISTRY_CONTAINER} ${owner ? `belongs to deployment ${owner}` : 'was not made by berth'}; nothing was changed`,
      owner ? 'push with that deployment\'s config directory, or remove its registry (docker rm -f berth_registry) if it is gone' : 'remove or rename that container',
    );
  }
  if (found && found.labels[LABEL.specHash] === specHash && found.running) {
    say(`${site.hostName}: registry ${REGISTRY_CONTAINER} runs on 127.0.0.1:${site.port}`);
  } else {
    if (found && found.labels[LABEL.specHash] === specHash) {
      await host.start(REGISTRY_CONTAINER);
      say(`${site.hostName}: started registry ${REGISTRY_CONTAINER}`);
    } else {
      if (found) await host.remove(REGISTRY_CONTAINER);
      // Something else on the port would leave the registry crash-looping: say so instead.
      const squatter = await site.host.connectLoopback(site.port).then((s) => (s.destroy(), true), () => false);
      if (squatter) {
        throw new EngineError(
          `${site.hostName}: port 127.0.0.1:${site.port} (docker_registry) is taken by another process`,
          `stop it, or choose another port in docker_registry`,
        );
      }
      await host.ensureVolume(REGISTRY_VOLUME, { [LABEL.deployment]: deploymentId, [LABEL.kind]: 'volume' });
      await host.create(REGISTRY_CONTAINER, spec, labels);
      await host.start(REGISTRY_CONTAINER);
      say(`${site.hostName}: ${found ? 'recreated' : 'created'} registry ${REGISTRY_CONTAINER} on 127.0.0.1:${site.port} (storage: volume ${REGISTRY_VOLUME})`);
    }
  }
  await waitRegistry(site, 30_000);
}

/** Until GET /v2/ answers 200 on the deployment host's loopback port (or the time is up). */
export async function waitRegistry(site: RegistrySite, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const status = await httpStatus(await site.host.connectLoopback(site.port), '/v2/');
      if (status === 200) return;
      last = `GET /v2/ answered ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const logs = await site.host.logs(REGISTRY_CONTAINER, 5).catch(() => '');
      throw new EngineError(
        `${site.hostName}: the registry does not answer on 127.0.0.1:${site.port}: ${last}${logs ? `; its last log lines: ${logs.trim().split('\n').join(' | ')}` : ''}`,
        'berth push starts it; see docker logs berth_registry on the deployment host',
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The status code of a plain HTTP GET over an open stream (the registry speaks plain HTTP on loopback). */
function httpStatus(stream: Duplex, path: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let head = '';
    const timer = setTimeout(() => finish(new Error('no answer within 5s')), 5000);
    const finish = (err?: Error, status?: number): void => {
      clearTimeout(timer);
      stream.destroy();
      if (err) reject(err);
      else resolve(status!);
    };
    stream.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (m) finish(undefined, Number(m[1]));
      else if (head.includes('\r\n')) finish(new Error(`not an HTTP answer: ${head.split('\r\n')[0]}`));
    });
    stream.on('error', (err: Error) => finish(err));
    stream.on('end', () => finish(new Error('the connection closed without an answer')));
    stream.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

/**
 * Runs fn with the registry reachable at 127.0.0.1:<port> of `target` (a host of the inventory,
 * or this machine when target is undefined): nothing to do on the deployment host's own machine,
 * else that port forwarded to the registry for as long as fn runs.
 */
export async function withRegistry<T>(site: RegistrySite, target: { name: string; host: Host } | undefined, fn: () => Promise<T>): Promise<T> {
  const here = target === undefined;
  if (here ? site.localHosts.has(site.hostName) : sameMachine(site, target.name)) return fn();
  const host = target?.host ?? new LocalHost('this machine');
  const forward = await host.exposeLoopback(site.port, () => site.host.connectLoopback(site.port));
  try {
    return await fn();
  } finally {
    await forward.close().catch(() => undefined);
  }
}
