// A host whose Docker Engine berth reaches over TCP (inventory: berth_docker_host=tcp://ADDR:PORT),
// as Docker's own remote API offers: TLS with Docker's client certificate (--tlsverify), plain TCP
// only on loopback. The API goes through a keep-alive agent, so a run opens a few connections per
// host, not one per request. Files go through ScriptFiles' scripts, run by `docker exec` in the
// host's files container (berth_files): a long-lived container of the deployment's base image that
// mounts the node config directory and /lib/modules and shares the host's network and UTS
// namespaces, so the hostname, interfaces and addresses it reads are the host's.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { isLoopback } from '../config/values.js';
import { Engine, EngineError, runExec, tcpEngineUrl } from './docker.js';
import { DockerHost } from './docker-host.js';
import { UnreachableError } from './host.js';
import { ScriptFiles, type RunResult, type ScriptRunner } from './script-files.js';

export const FILES_CONTAINER = 'berth_files';

export interface TcpTarget {
  name: string;
  address: string;
  port: number;
  /** Docker's client files (ca.pem, cert.pem, key.pem), read by the caller; none only on loopback. */
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  /** The files container's image: the deployment's base image (every service image's parent). */
  filesImage: string;
  /** node_config_directory: the files container mounts it at the same path. */
  configRoot: string;
  /** Its labels: the deployment's, kind `files` (destroy removes it last). */
  labels: Record<string, string>;
}

/** Connections kept open per host; more requests queue (the deploy's own limits come first). */
const SOCKETS_PER_HOST = 16;

export class TcpHost extends DockerHost {
  private readonly agent: HttpAgent;
  private readonly onLoopback: boolean;

  constructor(target: TcpTarget) {
    const agent = target.tls ? new HttpsAgent({ keepAlive: true, maxSockets: SOCKETS_PER_HOST, ...target.tls }) : new HttpAgent({ keepAlive: true, maxSockets: SOCKETS_PER_HOST });
    const url = tcpEngineUrl(target.address, target.port, target.tls !== undefined);
    // A refused, reset or silent connection is a host lost, as a dropped SSH connection is: the
    // deploy goes on with the other hosts and reports it.
    const lost = (err: Error): Error =>
      CONNECTION_ERRORS.has((err as NodeJS.ErrnoException).code ?? '') ? new UnreachableError(`host ${target.name}: its Docker Engine at ${url} does not answer (${(err as NodeJS.ErrnoException).code})`, 'start it, or check berth_docker_host in the inventory') : err;
    const engine = new Engine({ tcp: { host: target.address, port: target.port, agent, ...(target.tls ? { tls: target.tls } : {}) } }, lost);
    super(target.name, engine, new ScriptFiles(new FilesContainer(target, engine), `host ${target.name}`));
    this.agent = agent;
    this.onLoopback = isLoopback(target.address);
  }

  /** On a loopback address the host is this machine: its loopback is ours. */
  override connectLoopback(port: number): Promise<Duplex> {
    if (!this.onLoopback) return Promise.reject(new EngineError(`${this.name}: its port ${port} on loopback cannot be reached through Docker's TCP API`, 'give docker_registry an address every host reaches'));
    return new Promise<Duplex>((resolve, reject) => {
      const socket = tcpConnect({ host: '127.0.0.1', port }, () => resolve(socket)).once('error', reject);
    });
  }

  override exposeLoopback(port: number): Promise<{ close(): Promise<void> }> {
    if (this.onLoopback) return Promise.resolve({ close: () => Promise.resolve() });
    return Promise.reject(new EngineError(`${this.name}: berth cannot forward port ${port} to a host it reaches through Docker's TCP API (there is no SSH connection to carry it)`, 'give docker_registry an address every host reaches'));
  }

  override close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** Runs ScriptFiles' scripts in the host's files container, made (and its image pulled) on first use. */
class FilesContainer implements ScriptRunner {
  private ready?: Promise<void>;

  constructor(
    private readonly target: TcpTarget,
    private readonly engine: Engine,
  ) {}

  async runScript(script: string, args: string[], stdin?: Buffer): Promise<RunResult> {
    this.ready ??= this.ensure().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    await this.ready;
    const docker = await this.engine.docker();
    const exec = await docker.getContainer(FILES_CONTAINER).exec({
      Cmd: ['sh', '-c', script, 'berth', ...args],
      AttachStdin: stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      User: 'root',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const code = await runExec(docker, exec, { stdout: (c) => stdout.push(c), stderr: (c) => stderr.push(c) }, `host ${this.target.name}: a script in ${FILES_CONTAINER}`, stdin);
    return { code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') };
  }

  /** The files container running this target's image and mounts; anything else of that name replaced. */
  private async ensure(): Promise<void> {
    const { filesImage, configRoot } = this.target;
    const binds = [`${configRoot}:${configRoot}`, '/lib/modules:/lib/modules:ro'];
    const found = await this.engine.api.get<{ State: { Running: boolean }; Config: { Image: string }; HostConfig: { Binds: string[] | null } }>(`/containers/${FILES_CONTAINER}/json`);
    if (found?.State.Running && found.Config.Image === filesImage && JSON.stringify(found.HostConfig.Binds ?? []) === JSON.stringify(binds)) return;
    const docker = await this.engine.docker();
    if (found) await docker.getContainer(FILES_CONTAINER).remove({ force: true });
    if (!(await this.engine.inspectImage(filesImage))) {
      await this.engine.pull(filesImage, () => undefined).catch((err: Error) => {
        throw new EngineError(`host ${this.target.name}: its files container needs ${filesImage}: ${err.message}`, 'the host must reach docker_registry, where berth push puts the images');
      });
    }
    await docker.createContainer({
      name: FILES_CONTAINER,
      Image: filesImage,
      Entrypoint: ['sleep'],
      Cmd: ['infinity'],
      User: 'root',
      Labels: this.target.labels,
      HostConfig: { NetworkMode: 'host', UTSMode: 'host', Binds: binds, RestartPolicy: { Name: 'unless-stopped' } },
    });
    await docker.getContainer(FILES_CONTAINER).start();
  }
}
