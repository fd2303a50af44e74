// A SIMULATION of many Docker Engines in one Node process, for berth's scale benchmark. It is not
// a deploy target and nothing in it runs a container.
//
// What is real: each engine listens on its own loopback address and port and speaks Docker's
// remote API over plain HTTP/1.1 (version-prefixed paths, the JSON shapes of API 1.41 as Docker
// 20.10 sends them, its status codes and error messages, JSON-lines pull progress, multiplexed
// log and exec streams, the hijacked exec connection, tar archives with the path-stat header);
// each keeps real state in memory (images, containers with their full create body, execs,
// volumes, networks, files on the engine's host, in volumes and in containers), so a second
// deploy sees what the first one did.
//
// What is not: no process runs. A container's run is timestamps: a one-shot container (restart
// policy empty or "no") exits 0 after the measured run time of a trivial job; any other container
// runs until stopped. Health is a delay: "starting" from a start, "healthy" after the measured
// delay. Commands in exec act on the simulated files through a small table (exec.ts, with berth's
// scripts and haproxy's admin socket: berth-scripts.ts, haproxy.ts); any other command exits 0. A
// pull copies nothing, it takes the time. Every call sleeps the median the same call took on this
// machine's real engine (latencies.json, written by measure-latencies.ts), so figures taken
// against the fleet say how berth and Ansible behave at scale, not how fast a real cloud deploys.
// Failures happen only when asked for: jobs whose name matches --fail-jobs exit 1, containers
// matching --unhealthy turn unhealthy, and the faults below.
//
//   node --import tsx bench/sim/fleet.ts --engines 1000 [--first 127.1.0.1] [--port 2375]
//     [--latencies FILE|none] [--control 127.0.0.1:2398] [--images FILE] [--jitter SIGMA]
//     [--seed N] [--fail-jobs REGEX] [--unhealthy REGEX] [--unknown-pull error-event|http-404]
//     [--fault I:KIND[:FACTOR]]...
//
// --images FILE: {"registry": [REF | {"ref", "labels"?, "size"?, "layers"?, "id"?, "env"?,
// "cmd"?}], "present"?: [REF] | "all"}: what pulls can fetch, and what every engine starts with.
//
// The control port speaks JSON: GET /engines (addresses and statistics), GET /engines/{i},
// POST /engines/{i}/fault {"kind": "slow"|"refuse"|"die"|"recover", "factor"?: n},
// POST /reset {"state"?: true}, POST /shutdown. One JSON line on stdout says when it is ready.
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { dispatch, rawOut, RequestCounts, responseOut } from './api.js';
import { SimEngine } from './engine.js';
import { withBerthScripts } from './berth-scripts.js';
import type { ExecTable } from './exec.js';
import { ImageCatalog, readImagesFile, type ImageSpec } from './images.js';
import { LatencySampler, readLatencyFile, zeroLatencies, type Latencies, type LatencyKind } from './latencies.js';

export type FaultKind = 'slow' | 'refuse' | 'die' | 'recover';
export const FAULT_KINDS: readonly FaultKind[] = ['slow', 'refuse', 'die', 'recover'];

export interface FleetOptions {
  engines: number;
  /** The first engine's address; the next ones count up from it (skipping .0 and .255). Default 127.1.0.1. */
  first?: string;
  /** Every engine's port (they differ by address); 0 for a free port each. Default 2375. */
  port?: number;
  /** Engine host names (what /info's Name says); by default sim-0001, sim-0002, … */
  names?: readonly string[];
  /** Milliseconds per kind of call; kinds left out take no time. Default: all zero. */
  latencies?: Partial<Latencies>;
  /** Sigma of a log-normal factor on every latency (median kept); 0 for none. */
  jitter?: number;
  seed?: number;
  /** What pulls can fetch: references, or specs with labels, sizes, layers. */
  registry?: readonly (string | ImageSpec)[];
  /** Images every engine holds at start: references of the registry, or all of it. Default none. */
  present?: readonly string[] | 'all';
  /** One-shot containers whose name matches exit 1. */
  failJobs?: RegExp | string;
  /** Containers with a healthcheck whose name matches turn unhealthy instead of healthy. */
  unhealthy?: RegExp | string;
  /** Faults set at start. */
  faults?: readonly { engine: number; kind: FaultKind; factor?: number }[];
  /**
   * How a pull of an image the registry lacks fails: an error event inside a 200 stream (the
   * default, the form berth's pull-progress parses), or a 404 before any stream, which is what
   * Docker 20.10 answers when the registry says "manifest unknown" before the first progress line.
   */
  unknownPull?: 'error-event' | 'http-404';
  /** The exec command table; default exec.ts's. */
  execHandlers?: ExecTable;
  /** What /info reports: this machine's by default. */
  ncpu?: number;
  memTotal?: number;
}

export interface EngineAddress {
  index: number;
  name: string;
  host: string;
  port: number;
}

export interface EngineStats extends EngineAddress {
  /** up; refusing (listener closed); dead (listener closed and connections cut). */
  state: 'up' | 'refusing' | 'dead';
  slowFactor: number;
  requests: number;
  byKind: Record<string, number>;
  /** Requests no route knows, by method and path (ids folded). */
  unknown: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  connections: number;
  containers: number;
  running: number;
  images: number;
  volumes: number;
}

export interface FleetStats {
  engines: EngineStats[];
  totals: { requests: number; byKind: Record<string, number>; unknown: Record<string, number>; bytesIn: number; bytesOut: number };
}

export interface Fleet {
  engines: EngineAddress[];
  stats(): FleetStats;
  fault(index: number, kind: FaultKind, factor?: number): Promise<void>;
  /** Clears the counters; with 'state', also puts every engine back as it started. */
  reset(what?: 'stats' | 'state'): void;
  /** An engine's state, for a test or a harness to look at (its hostFs, containers). */
  engine(index: number): SimEngine;
  close(): Promise<void>;
}

/** One engine's listener and connections: what faults act on and what the byte counts read. */
class EngineServer {
  readonly counts = new RequestCounts();
  state: EngineStats['state'] = 'dead';
  private listener?: NetServer;
  /** Open connections and the requests in flight on each. */
  private readonly sockets = new Map<Socket, number>();
  /** Bytes of connections already closed, since the last reset (negative after a reset: see resetStats). */
  private bytesIn = 0;
  private bytesOut = 0;

  constructor(
    readonly engine: SimEngine,
    readonly host: string,
    public port: number,
    private readonly adopt: (socket: Socket, server: EngineServer) => void,
  ) {}

  async listen(): Promise<void> {
    // A port just closed can take a moment to be free again: a few tries.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.listenOnce();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw new Error(`engine ${this.engine.name} cannot listen on ${this.host}:${this.port}: ${(err as Error).message}`, { cause: err });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private listenOnce(): Promise<void> {
    // Half-open connections stay open: an exec's client closes its stdin and still reads the output.
    const listener = createNetServer({ allowHalfOpen: true }, (socket) => {
      this.sockets.set(socket, 0);
      socket.setNoDelay(true);
      // A client that resets its connection is no error of the engine's.
      socket.on('error', () => {});
      socket.on('close', () => {
        this.bytesIn += socket.bytesRead;
        this.bytesOut += socket.bytesWritten;
        this.sockets.delete(socket);
      });
      this.adopt(socket, this);
    });
    return new Promise((resolvePromise, reject) => {
      listener.once('error', reject);
      listener.listen({ host: this.host, port: this.port, backlog: 511 }, () => {
        listener.off('error', reject);
        this.port = (listener.address() as AddressInfo).port;
        this.listener = listener;
        this.state = 'up';
        resolvePromise();
      });
    });
  }

  begin(socket: Socket): void {
    const n = this.sockets.get(socket);
    if (n !== undefined) this.sockets.set(socket, n + 1);
  }

  /** A request done: a refusing engine closes the connection it came on once it is idle. */
  end(socket: Socket): void {
    const n = this.sockets.get(socket);
    if (n === undefined) return;
    this.sockets.set(socket, n - 1);
    if (n - 1 <= 0 && this.state !== 'up') socket.end();
  }

  private closeListener(): void {
    this.listener?.close();
    this.listener = undefined;
  }

  /** The listener closes: new connections are refused; idle ones close, requests in flight finish. */
  refuse(): void {
    this.state = 'refusing';
    this.closeListener();
    for (const [socket, inFlight] of this.sockets) if (inFlight <= 0) socket.destroy();
  }

  /** The engine is gone: the listener closes and every connection is cut, requests in flight too. */
  die(): void {
    this.state = 'dead';
    this.closeListener();
    for (const socket of this.sockets.keys()) socket.destroy();
  }

  async recover(): Promise<void> {
    this.engine.slowFactor = 1;
    if (this.state !== 'up') await this.listen();
  }

  /** Dies, and resolves once the listener and every connection are closed. */
  async close(): Promise<void> {
    const listener = this.listener;
    const closed = listener ? new Promise<void>((r) => listener.once('close', () => r())) : Promise.resolve();
    this.die();
    await closed;
  }

  stats(index: number): EngineStats {
    let bytesIn = this.bytesIn;
    let bytesOut = this.bytesOut;
    for (const s of this.sockets.keys()) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    const containers = [...this.engine.containers.values()];
    for (const c of containers) this.engine.settle(c);
    return {
      index,
      name: this.engine.name,
      host: this.host,
      port: this.port,
      state: this.state,
      slowFactor: this.engine.slowFactor,
      requests: this.counts.total,
      byKind: Object.fromEntries(this.counts.byKind),
      unknown: Object.fromEntries(this.counts.unknown),
      bytesIn,
      bytesOut,
      connections: this.sockets.size,
      containers: this.engine.containers.size,
      running: containers.filter((c) => c.running).length,
      images: this.engine.images.size,
      volumes: this.engine.volumes.size,
    };
  }

  /** Counters to zero; bytes already moved on open connections are subtracted from what follows. */
  resetStats(): void {
    this.counts.clear();
    this.bytesIn = 0;
    this.bytesOut = 0;
    for (const s of this.sockets.keys()) {
      this.bytesIn -= s.bytesRead;
      this.bytesOut -= s.bytesWritten;
    }
  }
}

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return parts.reduce((n, p) => n * 256 + p, 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `count` loopback addresses from `first`, skipping host parts .0 and .255. */
export function engineAddresses(first: string, count: number): string[] {
  const out: string[] = [];
  for (let n = ipToInt(first); out.length < count; n++) {
    if (n >>> 24 !== 127) throw new Error(`${count} engines from ${first} leave 127.0.0.0/8`);
    if ((n & 255) !== 0 && (n & 255) !== 255) out.push(intToIp(n));
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolvePromise(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A chunked body's complete chunks, the bytes they took; `done` once the last (empty) chunk came. */
function dechunk(buf: Buffer): { body: Buffer; done: boolean; used: number } {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(buf.subarray(i, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) break;
    if (size === 0) return { body: Buffer.concat(parts), done: true, used: Math.min(eol + 4, buf.length) };
    if (buf.length < eol + 2 + size + 2) break;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return { body: Buffer.concat(parts), done: false, used: i };
}

/** Reads an upgraded connection on from where its request ended to the client's half-close. */
function stdinOf(socket: Socket, rest: Buffer): () => Promise<Buffer> {
  return () =>
    new Promise((resolvePromise) => {
      const chunks = [rest];
      const done = (): void => resolvePromise(Buffer.concat(chunks));
      if (socket.readableEnded || socket.destroyed) return done();
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.once('end', done);
      socket.once('close', done);
      socket.resume();
    });
}

/**
 * The body of an upgrade request: Node hands over the socket after the headers, with what it read
 * beyond them. A chunked body counts as complete once it parses as JSON, since a client keeping
 * stdin open never sends the last chunk. What follows the body (stdin) is left in `rest` and the
 * socket paused, for stdinOf.
 */
function readUpgradeBody(req: IncomingMessage, socket: Socket, head: Buffer): Promise<{ body: Buffer; rest: Buffer }> {
  const chunked = /chunked/i.test(req.headers['transfer-encoding'] ?? '');
  const length = Number(req.headers['content-length'] ?? 0);
  return new Promise((resolvePromise, reject) => {
    let buf = head;
    const complete = (): { body: Buffer; rest: Buffer } | undefined => {
      if (!chunked) return buf.length >= length ? { body: buf.subarray(0, length), rest: buf.subarray(length) } : undefined;
      const { body, done, used } = dechunk(buf);
      if (done) return { body, rest: buf.subarray(used) };
      try {
        JSON.parse(body.toString('utf8'));
        return { body, rest: buf.subarray(used) };
      } catch {
        return undefined;
      }
    };
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const body = complete();
      if (body) finish(body);
    };
    const onClose = (): void => reject(new Error('connection closed before the request body'));
    const finish = (done: { body: Buffer; rest: Buffer }): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      resolvePromise(done);
    };
    const body = complete();
    if (body) return finish(body);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  if (!Number.isInteger(options.engines) || options.engines < 1) throw new Error('engines must be a positive integer');
  const catalog = new ImageCatalog(options.registry ?? []);
  const present = options.present === 'all' ? catalog.refs() : [...(options.present ?? [])];
  const regex = (r: RegExp | string | undefined): RegExp | undefined => (r === undefined ? undefined : typeof r === 'string' ? new RegExp(r) : r);
  const shared = {
    catalog,
    sampler: new LatencySampler({ ...zeroLatencies(), ...options.latencies }, options.jitter ?? 0, options.seed ?? 1),
    failJobs: regex(options.failJobs),
    unhealthy: regex(options.unhealthy),
    execHandlers: options.execHandlers ?? withBerthScripts(),
    unknownPull: options.unknownPull ?? 'error-event',
    ncpu: options.ncpu ?? cpus().length,
    memTotal: options.memTotal ?? totalmem(),
  };

  // One HTTP server parses every engine's connections; each socket knows its engine.
  const owners = new WeakMap<Socket, EngineServer>();
  // Docker's server never closes an idle kept-alive connection; this one waits longer than
  // clients keep theirs (Node's agents: 5 s), so a client never reuses one the server is closing.
  const http: HttpServer = createHttpServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => {
    const server = owners.get(req.socket);
    if (!server) return void res.destroy();
    server.begin(req.socket);
    res.once('close', () => server.end(req.socket));
    readBody(req)
      .then((body) => dispatch({ engine: server.engine, method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, out: responseOut(res) }, server.counts))
      .catch(() => res.destroy());
  });
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const server = owners.get(socket);
    if (!server) return void socket.destroy();
    // In flight until the connection closes: the hijacked stream is the rest of its life.
    server.begin(socket);
    readUpgradeBody(req, socket, head)
      .then(({ body, rest }) =>
        dispatch({ engine: server.engine, method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, out: rawOut(socket), stdin: stdinOf(socket, rest) }, server.counts),
      )
      .catch(() => socket.destroy());
  });
  http.on('clientError', (_err, socket) => socket.destroy());
  const adopt = (socket: Socket, server: EngineServer): void => {
    owners.set(socket, server);
    http.emit('connection', socket);
  };

  const addresses = engineAddresses(options.first ?? '127.1.0.1', options.engines);
  const servers = addresses.map((host, i) => {
    const name = options.names?.[i] ?? `sim-${String(i + 1).padStart(4, '0')}`;
    return new EngineServer(new SimEngine(i, name, host, shared, present), host, options.port ?? 2375, adopt);
  });
  try {
    await Promise.all(servers.map((s) => s.listen()));
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }

  const at = (index: number): EngineServer => {
    const s = servers[index];
    if (!s) throw new Error(`no engine ${index} (the fleet has ${servers.length}, from 0)`);
    return s;
  };
  const fault = async (index: number, kind: FaultKind, factor = 10): Promise<void> => {
    const s = at(index);
    switch (kind) {
      case 'slow':
        if (!(factor > 0)) throw new Error(`slow needs a positive factor, not ${factor}`);
        s.engine.slowFactor = factor;
        return;
      case 'refuse':
        return s.refuse();
      case 'die':
        return s.die();
      case 'recover':
        return s.recover();
      default:
        throw new Error(`unknown fault ${String(kind)}: one of ${FAULT_KINDS.join(', ')}`);
    }
  };
  for (const f of options.faults ?? []) await fault(f.engine, f.kind, f.factor);

  return {
    engines: servers.map((s, index) => ({ index, name: s.engine.name, host: s.host, port: s.port })),
    stats() {
      const engines = servers.map((s, i) => s.stats(i));
      const byKind: Record<string, number> = {};
      const unknown: Record<string, number> = {};
      for (const e of engines) {
        for (const [k, n] of Object.entries(e.byKind)) byKind[k] = (byKind[k] ?? 0) + n;
        for (const [k, n] of Object.entries(e.unknown)) unknown[k] = (unknown[k] ?? 0) + n;
      }
      const sum = (f: (e: EngineStats) => number): number => engines.reduce((n, e) => n + f(e), 0);
      return { engines, totals: { requests: sum((e) => e.requests), byKind, unknown, bytesIn: sum((e) => e.bytesIn), bytesOut: sum((e) => e.bytesOut) } };
    },
    fault,
    reset(what = 'stats') {
      for (const s of servers) {
        s.resetStats();
        if (what === 'state') s.engine.resetState();
      }
    },
    engine: (index) => at(index).engine,
    async close() {
      await Promise.all(servers.map((s) => s.close()));
      http.close();
    },
  };
}

// ---- the command line and its control port

function parseFault(text: string): { engine: number; kind: FaultKind; factor?: number } {
  const [engine, kind, factor] = text.split(':');
  if (!FAULT_KINDS.includes(kind as FaultKind) || !/^\d+$/.test(engine ?? '')) throw new Error(`--fault ${text}: expected ENGINE:KIND[:FACTOR], KIND one of ${FAULT_KINDS.join(', ')}`);
  return { engine: Number(engine), kind: kind as FaultKind, ...(factor ? { factor: Number(factor) } : {}) };
}

function splitHostPort(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  const port = Number(text.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) throw new Error(`expected HOST:PORT, got ${text}`);
  return { host: text.slice(0, colon), port };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engines: { type: 'string' },
      first: { type: 'string', default: '127.1.0.1' },
      port: { type: 'string', default: '2375' },
      latencies: { type: 'string', default: fileURLToPath(new URL('./latencies.json', import.meta.url)) },
      control: { type: 'string', default: '127.0.0.1:2398' },
      images: { type: 'string' },
      jitter: { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
      'fail-jobs': { type: 'string' },
      unhealthy: { type: 'string' },
      'unknown-pull': { type: 'string', default: 'error-event' },
      fault: { type: 'string', multiple: true, default: [] },
    },
    strict: true,
  });
  const engines = Number(values.engines);
  if (!Number.isInteger(engines) || engines < 1) throw new Error('--engines N is required (a positive integer)');
  const unknownPull = values['unknown-pull'];
  if (unknownPull !== 'error-event' && unknownPull !== 'http-404') throw new Error('--unknown-pull is error-event or http-404');

  let latencies: Latencies = zeroLatencies();
  let missing: LatencyKind[] = [];
  if (values.latencies !== 'none') {
    if (!existsSync(values.latencies)) {
      throw new Error(`${values.latencies} does not exist: measure it first (node --import tsx bench/sim/measure-latencies.ts), or pass --latencies none for zero latencies`);
    }
    ({ latencies, missing } = readLatencyFile(values.latencies));
    if (missing.length) process.stderr.write(`warning: ${values.latencies} has no figure for ${missing.join(', ')}: those take no time\n`);
  }
  const images = values.images ? readImagesFile(values.images) : { registry: [] };
  const fleet = await startFleet({
    engines,
    first: values.first,
    port: Number(values.port),
    latencies,
    jitter: Number(values.jitter),
    seed: Number(values.seed),
    registry: images.registry,
    present: images.present,
    failJobs: values['fail-jobs'],
    unhealthy: values.unhealthy,
    unknownPull,
    faults: values.fault.map(parseFault),
  });

  const control = splitHostPort(values.control);
  const shutdown = async (): Promise<void> => {
    controlServer.close();
    await fleet.close();
    process.exit(0);
  };
  const controlServer = createHttpServer((req, res) => {
    const reply = (status: number, json: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify(json)}\n`);
    };
    readBody(req)
      .then(async (raw) => {
        const body = (raw.length ? JSON.parse(raw.toString('utf8')) : {}) as { kind?: FaultKind; factor?: number; state?: boolean };
        const path = (req.url ?? '/').split('?')[0]!;
        const engine = /^\/engines\/(\d+)(\/fault)?$/.exec(path);
        if (req.method === 'GET' && path === '/engines') return reply(200, fleet.stats());
        if (req.method === 'GET' && engine && !engine[2]) return reply(200, fleet.stats().engines[Number(engine[1])] ?? { message: 'no such engine' });
        if (req.method === 'POST' && engine?.[2]) {
          await fleet.fault(Number(engine[1]), body.kind!, body.factor);
          return reply(200, fleet.stats().engines[Number(engine[1])]);
        }
        if (req.method === 'POST' && path === '/reset') {
          fleet.reset(body.state ? 'state' : 'stats');
          return reply(200, { ok: true });
        }
        if (req.method === 'POST' && path === '/shutdown') {
          reply(200, { ok: true });
          return void res.once('finish', () => void shutdown());
        }
        reply(404, { message: `no such control call: ${req.method ?? ''} ${path}` });
      })
      .catch((err: Error) => reply(400, { message: err.message }));
  });
  await new Promise<void>((r) => controlServer.listen(control.port, control.host, r));
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  const first = fleet.engines[0]!;
  const last = fleet.engines[fleet.engines.length - 1]!;
  process.stdout.write(
    `${JSON.stringify({ ready: true, engines: fleet.engines.length, first: `${first.host}:${first.port}`, last: `${last.host}:${last.port}`, control: values.control, latencies: values.latencies, missingLatencies: missing })}\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: Error) => {
    process.stderr.write(`fleet: ${err.message}\n`);
    process.exit(2);
  });
}
