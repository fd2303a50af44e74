// The Docker Engine API over HTTP/1.1 for one simulated engine: a request's route, its latency,
// and the answer in Docker's shapes (JSON documents, JSON-lines pull progress, multiplexed
// streams, tar archives, the hijacked exec stream). Sockets and listeners are fleet.ts's.
import { STATUS_CODES, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ApiError, newId, parseFilters, type Container, type SimEngine } from './engine.js';
import type { ExecResult } from './exec.js';
import { normalizeRef, pullEvents, splitNormalized } from './images.js';
import { sleep, type LatencyKind } from './latencies.js';
import { extractInto, packPath, pathStatHeader, ReadOnlyError } from './memfs.js';

export const API_VERSION = '1.41';
const MIN_API_VERSION = '1.12';
/** The least time between a hijacked exec's 101 and its output (see execStart). */
const HIJACK_GAP_MS = 10;

/** Sent on every answer, as Docker's middleware does. */
const COMMON_HEADERS = {
  'Api-Version': API_VERSION,
  'Docker-Experimental': 'false',
  Ostype: 'linux',
  Server: 'Docker/20.10.24+dfsg1 (linux)',
};

/** Where an answer goes: a normal response, or the raw socket of an upgrade request. */
export interface Out {
  head(status: number, headers?: Record<string, string | number>): void;
  write(chunk: Buffer | string): void;
  end(chunk?: Buffer | string): void;
  /** The client went away or the engine died: the request is cut, nothing more is sent. */
  readonly closed: boolean;
  /** The status line is out. */
  readonly started: boolean;
  /** Cuts the connection. */
  abort(): void;
  onClose(listener: () => void): void;
  /** Set for a request that asked to upgrade the connection (exec start's hijack). */
  readonly raw?: Socket;
}

export function responseOut(res: ServerResponse): Out {
  return {
    head(status, headers = {}) {
      res.writeHead(status, { ...COMMON_HEADERS, ...headers });
      // Streams (a wait, a pull) show their status at once, as Docker flushes it.
      res.flushHeaders();
    },
    write: (chunk) => void res.write(chunk),
    end: (chunk) => void (chunk === undefined ? res.end() : res.end(chunk)),
    get closed() {
      return res.destroyed || !res.socket || res.socket.destroyed;
    },
    get started() {
      return res.headersSent;
    },
    abort: () => void res.destroy(),
    onClose: (listener) => void res.once('close', listener),
  };
}

/** An upgrade request's socket: the response is written by hand and the connection ends with it. */
export function rawOut(socket: Socket): Out {
  let started = false;
  return {
    head(status, headers = {}) {
      started = true;
      const reason = status === 101 ? 'UPGRADED' : (STATUS_CODES[status] ?? '');
      const all: Record<string, string | number> = { ...COMMON_HEADERS, ...headers };
      if (status !== 101) all.Connection = 'close';
      socket.write(`HTTP/1.1 ${status} ${reason}\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    },
    write: (chunk) => void socket.write(chunk),
    end(chunk) {
      if (chunk === undefined) socket.end();
      else socket.end(chunk);
      // Read on, to the client's own end, so the half-open connection closes.
      socket.resume();
    },
    get closed() {
      return socket.destroyed;
    },
    get started() {
      return started;
    },
    abort: () => void socket.destroy(),
    onClose: (listener) => void socket.once('close', listener),
    raw: socket,
  };
}

export interface Call {
  engine: SimEngine;
  method: string;
  /** As the client sent it: with its version prefix and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  out: Out;
  /** An upgraded connection's data after the request, to the client's half-close: exec's stdin. */
  stdin?: () => Promise<Buffer>;
}

/** Requests counted per route, for the benchmark, and the ones no route knows, so a gap shows. */
export class RequestCounts {
  total = 0;
  readonly byKind = new Map<string, number>();
  readonly unknown = new Map<string, number>();

  count(kind: string): void {
    this.total++;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }

  countUnknown(method: string, path: string): void {
    this.count('unknown');
    // Ids folded away, and the table bounded, so an unknown route is one line however often it is called.
    const key = `${method} ${path.replace(/^\/(containers|exec|images|volumes|networks|plugins|services|nodes|tasks|secrets|configs)\/[^/]+(?=\/|$)/, (_, kind: string) => `/${kind}/{id}`)}`;
    if (this.unknown.has(key) || this.unknown.size < 200) this.unknown.set(key, (this.unknown.get(key) ?? 0) + 1);
  }

  clear(): void {
    this.total = 0;
    this.byKind.clear();
    this.unknown.clear();
  }
}

type Reply = { status: number; json?: unknown; text?: string; body?: Buffer; headers?: Record<string, string | number> };

interface Route {
  method: string;
  path: RegExp;
  /** The name it is counted under. */
  kind: string;
  /** Slept before the handler runs; routes that stream time themselves. */
  latency?: LatencyKind;
  handle: (call: Call, q: URLSearchParams, params: string[]) => Reply | undefined | Promise<Reply | undefined>;
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = (q.get(name) ?? '').toLowerCase();
  return v === '1' || v === 'true';
}

function jsonBody(call: Call): Record<string, unknown> {
  const text = call.body.toString('utf8').trim();
  if (!text) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch (err) {
    throw new ApiError(400, `invalid JSON body: ${(err as Error).message}`);
  }
}

/** Docker's multiplexed stream: an 8-byte header (stream, 0, 0, 0, size) before each frame. */
export function frame(stream: 1 | 2, data: Buffer | string): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function ok(json: unknown, status = 200): Reply {
  return { status, json };
}

const NO_CONTENT: Reply = { status: 204 };

function containerOf(call: Call, id: string): Container {
  return call.engine.getContainer(id);
}

function execOutput(result: ExecResult, tty: boolean, stdout: boolean, stderr: boolean): Buffer {
  const parts: Buffer[] = [];
  const out = result.stdout === undefined ? Buffer.alloc(0) : Buffer.from(result.stdout);
  const err = Buffer.from(result.stderr ?? '');
  if (stdout && out.length) parts.push(tty ? out : frame(1, out));
  if (stderr && err.length) parts.push(tty ? err : frame(2, err));
  return Buffer.concat(parts);
}

/**
 * POST /images/create: a pull. The stream starts at once; the events are spread over the pull's
 * latency (scaled by the share of bytes not already on the engine); the image arrives at the end,
 * unless the client went away (Docker cancels the pull). An image the registry does not know is
 * an error event inside the 200 stream, or a 404 (the fleet's `unknownPull`).
 */
async function pull(call: Call, q: URLSearchParams): Promise<undefined> {
  const { engine, out } = call;
  const fromImage = q.get('fromImage');
  if (!fromImage) throw new ApiError(400, q.has('fromSrc') ? 'image import (fromSrc) is not simulated' : 'fromImage must be set');
  const tag = q.get('tag') ?? '';
  const ref = normalizeRef(tag ? (tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage);
  const image = engine.shared.catalog.get(ref);
  const unknown = `manifest for ${ref} not found: manifest unknown: manifest unknown`;
  if (!image && engine.shared.unknownPull === 'http-404') {
    await sleep(engine.latency('pull-current'));
    throw new ApiError(404, unknown);
  }
  out.head(200, { 'Content-Type': 'application/json' });
  const send = (event: Record<string, unknown>): void => out.write(`${JSON.stringify(event)}\r\n`);
  if (!image) {
    await sleep(engine.latency('pull-current'));
    if (out.closed) return;
    send({ errorDetail: { message: unknown }, error: unknown });
    out.end();
    return;
  }
  if (engine.findImage(ref)?.image.id === image.id) {
    await sleep(engine.latency('pull-current'));
    if (out.closed) return;
    const [repo, tagOrDigest] = splitNormalized(ref);
    send({ status: `Pulling from ${repo}`, id: tagOrDigest });
    send({ status: `Digest: ${image.digest}` });
    send({ status: `Status: Image is up to date for ${ref}` });
    out.end();
    return;
  }
  const missingBytes = image.layers.filter((l) => !engine.layers.has(l.digest)).reduce((n, l) => n + l.size, 0);
  const total = Math.max(engine.latency('pull') * (missingBytes / image.size), engine.latency('pull-current'));
  const started = Date.now();
  let committed = false;
  for (const { at, event } of pullEvents(image, ref, engine.layers)) {
    await sleep(started + at * total - Date.now());
    if (out.closed) return;
    if (at >= 1 && !committed) {
      engine.addImage(image, ref);
      committed = true;
    }
    send(event);
  }
  out.end();
  return undefined;
}

/** POST /containers/{id}/wait: the status goes out at once (as Docker's does); the body when the condition is met. */
function wait(call: Call, q: URLSearchParams, [id]: string[]): undefined {
  const c = containerOf(call, id!);
  const condition = q.get('condition') || 'not-running';
  if (condition !== 'not-running' && condition !== 'next-exit' && condition !== 'removed') throw new ApiError(400, `invalid condition: "${condition}"`);
  const { out } = call;
  out.head(200, { 'Content-Type': 'application/json' });
  const cancel = call.engine.wait(c, condition, (code) => {
    if (!out.closed) out.end(`${JSON.stringify({ Error: null, StatusCode: code })}\n`);
  });
  out.onClose(cancel);
  return undefined;
}

function logs(call: Call, q: URLSearchParams, [id]: string[]): undefined {
  const c = containerOf(call, id!);
  const stdout = flag(q, 'stdout');
  const stderr = flag(q, 'stderr');
  if (!stdout && !stderr) throw new ApiError(400, 'Bad parameters: you must choose at least one stream');
  const tailParam = q.get('tail');
  const tail = !tailParam || tailParam === 'all' ? undefined : Number(tailParam);
  const tty = c.config.Tty === true;
  const { out, engine } = call;
  const write = (lines: { stream: 1 | 2; text: string }[]): void => {
    for (const l of lines) out.write(tty ? l.text : frame(l.stream, l.text));
  };
  out.head(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
  const timestamps = flag(q, 'timestamps');
  const after = c.logs.at(-1)?.seq ?? 0;
  write(engine.logs(c, { stdout, stderr, tail, timestamps }));
  if (!flag(q, 'follow') || !c.running) {
    out.end();
    return undefined;
  }
  // Following: the lines that come until the container stops, then the end.
  const cancel = engine.wait(c, 'not-running', () => {
    if (out.closed) return;
    write(engine.logs(c, { stdout, stderr, timestamps, after }));
    out.end();
  });
  out.onClose(cancel);
  return undefined;
}

/**
 * POST /exec/{id}/start. Hijacked (Upgrade: tcp, as dockerode's hijack and Docker's own clients
 * ask): `101 UPGRADED` at once; with AttachStdin, the client's stdin read to its half-close (the
 * simulated command consumes all its input before it answers); the multiplexed output when the
 * command ends, then the socket ends. Not hijacked: the same stream as a 200 body. Detached: 200
 * at once, the command ends in the background.
 */
async function execStart(call: Call, _q: URLSearchParams, [id]: string[]): Promise<Reply | undefined> {
  const { engine, out } = call;
  const e = engine.getExec(id!);
  const body = jsonBody(call);
  const tty = body.Tty === true || e.tty;
  if (body.Detach === true) {
    await sleep(engine.latency('exec-create'));
    if (out.closed) return undefined;
    engine.beginExec(e);
    setTimeout(() => engine.finishExec(e), engine.latency('exec'));
    return { status: 200, body: Buffer.alloc(0) };
  }
  engine.beginExec(e);
  if (out.raw) out.head(101, { 'Content-Type': 'application/vnd.docker.raw-stream', Connection: 'Upgrade', Upgrade: 'tcp' });
  const stdin = out.raw && e.attachStdin && call.stdin ? await call.stdin() : undefined;
  // docker-py (and Ansible's vendored copy) reads the 101 through a buffered reader and then the
  // raw socket: output arriving with the 101 would be lost in that buffer. A real exec's start
  // keeps them apart; with zero latencies a short gap does.
  await sleep(out.raw ? Math.max(engine.latency('exec'), HIJACK_GAP_MS) : engine.latency('exec'));
  if (out.closed) {
    e.running = false;
    e.exitCode = 137;
    return undefined;
  }
  const output = execOutput(engine.finishExec(e, stdin), tty, e.attachStdout, e.attachStderr);
  if (out.raw) {
    out.end(output);
    return undefined;
  }
  return { status: 200, body: output, headers: { 'Content-Type': 'application/vnd.docker.raw-stream' } };
}

async function archivePut(call: Call, q: URLSearchParams, [id]: string[]): Promise<Reply> {
  const c = containerOf(call, id!);
  const path = q.get('path');
  if (!path) throw new ApiError(400, 'path cannot be empty');
  const node = c.fs.stat(path);
  if (!node) throw new ApiError(404, `Could not find the file ${path} in container ${c.name}`);
  if (node.type !== 'dir') throw new ApiError(400, 'extraction point is not a directory');
  const target = c.fs.resolve(path);
  if (!target.mount && c.hostConfig.ReadonlyRootfs === true) throw new ApiError(403, 'container rootfs is marked read-only');
  try {
    await extractInto(c.fs, path, call.body);
  } catch (err) {
    if (err instanceof ReadOnlyError) throw new ApiError(403, 'mounted volume is marked read-only');
    throw new ApiError(400, `Error processing tar file: ${(err as Error).message}`);
  }
  return { status: 200, body: Buffer.alloc(0) };
}

async function archiveGet(call: Call, q: URLSearchParams, [id]: string[], headOnly: boolean): Promise<Reply> {
  const c = containerOf(call, id!);
  const path = q.get('path');
  if (!path) throw new ApiError(400, 'path cannot be empty');
  const node = c.fs.stat(path);
  if (!node) throw new ApiError(404, `Could not find the file ${path} in container ${c.name}`);
  const headers = { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': pathStatHeader(path, node) };
  if (headOnly) return { status: 200, headers };
  return { status: 200, body: await packPath(c.fs, path), headers };
}

const routes: Route[] = [
  { method: 'GET', path: /^\/_ping$/, kind: 'ping', latency: 'ping', handle: () => ({ status: 200, text: 'OK', headers: { 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' } }) },
  { method: 'HEAD', path: /^\/_ping$/, kind: 'ping', latency: 'ping', handle: () => ({ status: 200, text: '', headers: { 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' } }) },
  { method: 'GET', path: /^\/version$/, kind: 'version', latency: 'version', handle: (call) => ok(call.engine.version()) },
  { method: 'GET', path: /^\/info$/, kind: 'info', latency: 'info', handle: (call) => ok(call.engine.info()) },

  { method: 'GET', path: /^\/images\/json$/, kind: 'images.list', latency: 'list', handle: (call, q) => ok(call.engine.listImages(parseFilters(q.get('filters')))) },
  { method: 'POST', path: /^\/images\/create$/, kind: 'images.pull', handle: pull },
  { method: 'GET', path: /^\/images\/(.+)\/json$/, kind: 'images.inspect', latency: 'inspect', handle: (call, _q, [name]) => ok(call.engine.inspectImage(name!)) },
  {
    method: 'POST',
    path: /^\/images\/(.+)\/tag$/,
    kind: 'images.tag',
    latency: 'tag',
    handle: (call, q, [name]) => {
      call.engine.tagImage(name!, q.get('repo') ?? '', q.get('tag') ?? '');
      return { status: 201, body: Buffer.alloc(0) };
    },
  },
  { method: 'DELETE', path: /^\/images\/(.+)$/, kind: 'images.remove', latency: 'image-remove', handle: (call, q, [name]) => ok(call.engine.removeImage(name!, flag(q, 'force'))) },

  {
    method: 'GET',
    path: /^\/containers\/json$/,
    kind: 'containers.list',
    latency: 'list',
    handle: (call, q) => ok(call.engine.listContainers(flag(q, 'all'), parseFilters(q.get('filters')), Number(q.get('limit') ?? -1))),
  },
  { method: 'POST', path: /^\/containers\/create$/, kind: 'containers.create', latency: 'create', handle: (call, q) => ok({ Id: call.engine.createContainer(q.get('name') || null, jsonBody(call)), Warnings: [] }, 201) },
  { method: 'GET', path: /^\/containers\/([^/]+)\/json$/, kind: 'containers.inspect', latency: 'inspect', handle: (call, _q, [id]) => ok(call.engine.inspectContainer(containerOf(call, id!))) },
  { method: 'POST', path: /^\/containers\/([^/]+)\/start$/, kind: 'containers.start', latency: 'start', handle: (call, _q, [id]) => (call.engine.start(containerOf(call, id!)) ? NO_CONTENT : { status: 304 }) },
  { method: 'POST', path: /^\/containers\/([^/]+)\/stop$/, kind: 'containers.stop', latency: 'stop', handle: (call, _q, [id]) => (call.engine.stop(containerOf(call, id!)) ? NO_CONTENT : { status: 304 }) },
  {
    method: 'POST',
    path: /^\/containers\/([^/]+)\/restart$/,
    kind: 'containers.restart',
    latency: 'restart',
    handle: (call, _q, [id]) => {
      const c = containerOf(call, id!);
      call.engine.stop(c);
      call.engine.start(c);
      return NO_CONTENT;
    },
  },
  {
    method: 'POST',
    path: /^\/containers\/([^/]+)\/kill$/,
    kind: 'containers.kill',
    latency: 'kill',
    handle: (call, q, [id]) => {
      call.engine.kill(containerOf(call, id!), q.get('signal') || undefined);
      return NO_CONTENT;
    },
  },
  {
    method: 'POST',
    path: /^\/containers\/([^/]+)\/update$/,
    kind: 'containers.update',
    latency: 'create',
    handle: (call, _q, [id]) => {
      call.engine.update(containerOf(call, id!), jsonBody(call));
      return ok({ Warnings: [] });
    },
  },
  { method: 'POST', path: /^\/containers\/([^/]+)\/wait$/, kind: 'containers.wait', latency: 'inspect', handle: wait },
  {
    method: 'DELETE',
    path: /^\/containers\/([^/]+)$/,
    kind: 'containers.remove',
    latency: 'remove',
    handle: (call, q, [id]) => {
      const c = call.engine.findContainer(id!);
      if (!c) throw new ApiError(404, `No such container: ${id!}`);
      call.engine.remove(c, flag(q, 'force'), flag(q, 'v'));
      return NO_CONTENT;
    },
  },
  { method: 'GET', path: /^\/containers\/([^/]+)\/logs$/, kind: 'containers.logs', latency: 'logs', handle: logs },
  { method: 'PUT', path: /^\/containers\/([^/]+)\/archive$/, kind: 'containers.archive-put', latency: 'archive-put', handle: archivePut },
  { method: 'GET', path: /^\/containers\/([^/]+)\/archive$/, kind: 'containers.archive-get', latency: 'archive-get', handle: (call, q, params) => archiveGet(call, q, params, false) },
  { method: 'HEAD', path: /^\/containers\/([^/]+)\/archive$/, kind: 'containers.archive-stat', latency: 'inspect', handle: (call, q, params) => archiveGet(call, q, params, true) },

  { method: 'POST', path: /^\/containers\/([^/]+)\/exec$/, kind: 'exec.create', latency: 'exec-create', handle: (call, _q, [id]) => ok({ Id: call.engine.createExec(containerOf(call, id!), jsonBody(call)) }, 201) },
  { method: 'POST', path: /^\/exec\/([^/]+)\/start$/, kind: 'exec.start', handle: execStart },
  { method: 'GET', path: /^\/exec\/([^/]+)\/json$/, kind: 'exec.inspect', latency: 'inspect', handle: (call, _q, [id]) => ok(call.engine.inspectExec(call.engine.getExec(id!))) },

  { method: 'GET', path: /^\/volumes$/, kind: 'volumes.list', latency: 'list', handle: (call, q) => ok(call.engine.listVolumes(parseFilters(q.get('filters')))) },
  {
    method: 'POST',
    path: /^\/volumes\/create$/,
    kind: 'volumes.create',
    latency: 'volume',
    handle: (call) => {
      const b = jsonBody(call);
      // No name: Docker names it like an id.
      const name = typeof b.Name === 'string' && b.Name ? b.Name : newId();
      const labels = (b.Labels ?? {}) as Record<string, string>;
      const options = (b.DriverOpts ?? {}) as Record<string, string>;
      return ok(call.engine.volumeJson(call.engine.ensureVolume(name, labels, typeof b.Driver === 'string' ? b.Driver : 'local', options)), 201);
    },
  },
  { method: 'GET', path: /^\/volumes\/([^/]+)$/, kind: 'volumes.inspect', latency: 'inspect', handle: (call, _q, [name]) => ok(call.engine.volumeJson(call.engine.getVolume(name!))) },
  {
    method: 'DELETE',
    path: /^\/volumes\/([^/]+)$/,
    kind: 'volumes.remove',
    latency: 'volume',
    handle: (call, q, [name]) => {
      call.engine.removeVolume(name!, flag(q, 'force'));
      return NO_CONTENT;
    },
  },

  { method: 'GET', path: /^\/networks$/, kind: 'networks.list', latency: 'list', handle: (call, q) => ok(call.engine.listNetworks(parseFilters(q.get('filters')))) },
  { method: 'POST', path: /^\/networks\/create$/, kind: 'networks.create', latency: 'network', handle: (call) => ok({ Id: call.engine.createNetwork(jsonBody(call)), Warning: '' }, 201) },
  { method: 'GET', path: /^\/networks\/([^/]+)$/, kind: 'networks.inspect', latency: 'inspect', handle: (call, _q, [id]) => ok(call.engine.networkJson(call.engine.getNetwork(id!))) },
  {
    method: 'POST',
    path: /^\/networks\/([^/]+)\/(connect|disconnect)$/,
    kind: 'networks.connect',
    latency: 'network',
    handle: (call, _q, [id, action]) => {
      const b = jsonBody(call);
      const container = typeof b.Container === 'string' ? b.Container : '';
      if (action === 'connect') call.engine.connect(id!, container, (b.EndpointConfig ?? {}) as Record<string, unknown>);
      else call.engine.disconnect(id!, container);
      return { status: 200, body: Buffer.alloc(0) };
    },
  },
  {
    method: 'DELETE',
    path: /^\/networks\/([^/]+)$/,
    kind: 'networks.remove',
    latency: 'network',
    handle: (call, _q, [id]) => {
      call.engine.removeNetwork(id!);
      return NO_CONTENT;
    },
  },
];

function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

function send(out: Out, reply: Reply): void {
  if (out.closed) return;
  const headers: Record<string, string | number> = { ...reply.headers };
  let body: Buffer | undefined = reply.body;
  if (reply.json !== undefined) {
    body = Buffer.from(`${JSON.stringify(reply.json)}\n`);
    headers['Content-Type'] = 'application/json';
  } else if (reply.text !== undefined) {
    body = Buffer.from(reply.text);
    headers['Content-Type'] = 'text/plain; charset=utf-8';
  }
  if (reply.status === 204 || reply.status === 304) body = undefined;
  headers['Content-Length'] = body?.length ?? 0;
  out.head(reply.status, headers);
  out.end(body);
}

function sendError(out: Out, status: number, message: string): void {
  send(out, { status, json: { message } });
}

/**
 * Answers one request: strips and checks the version prefix, finds the route, counts it, sleeps
 * its latency, runs it. A request the engine's death cut while it slept does nothing.
 */
export async function dispatch(call: Call, counts: RequestCounts): Promise<void> {
  const { out } = call;
  const q = call.url.indexOf('?');
  const rawPath = q < 0 ? call.url : call.url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : call.url.slice(q + 1));
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    counts.countUnknown(call.method, rawPath);
    return sendError(out, 400, `invalid path: ${rawPath}`);
  }
  const version = /^\/v(\d+\.\d+)(?=\/)/.exec(path);
  if (version) path = path.slice(version[0].length);
  let route: Route | undefined;
  let m: RegExpExecArray | null = null;
  for (const r of routes) {
    if (r.method === call.method && (m = r.path.exec(path))) {
      route = r;
      break;
    }
  }
  if (!route || !m) {
    counts.countUnknown(call.method, path);
    return sendError(out, 404, `page not found: ${call.method} ${path} is not simulated`);
  }
  counts.count(route.kind);
  if (version && compareVersions(version[1]!, API_VERSION) > 0) return sendError(out, 400, `client version ${version[1]} is too new. Maximum supported API version is ${API_VERSION}`);
  if (version && compareVersions(version[1]!, MIN_API_VERSION) < 0) {
    return sendError(out, 400, `client version ${version[1]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  }
  if (route.latency) await sleep(call.engine.latency(route.latency));
  if (out.closed) return;
  try {
    const reply = await route.handle(call, query, m.slice(1));
    if (reply) send(out, reply);
  } catch (err) {
    // A stream already under way cannot change its status: it is cut instead, as a failing engine's would be.
    if (out.started) out.abort();
    else if (err instanceof ApiError) sendError(out, err.status, err.message);
    else sendError(out, 500, `simulator error: ${(err as Error).stack ?? String(err)}`);
  }
}
