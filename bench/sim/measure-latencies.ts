// Measures what the fleet simulator sleeps: each kind of Docker Engine call, timed N times one
// after another against this machine's real engine (its local socket, through dockerode, as berth
// calls it), written to bench/sim/latencies.json with the median, the p90, the date, the engine's
// version and how each figure was taken. Containers use host networking, as berth's do.
//
//   node --import tsx bench/sim/measure-latencies.ts [--image debian:bookworm-slim] [--pull REF]
//     [--repetitions 20] [--health-interval 10] [--out bench/sim/latencies.json]
//
// --image: an image already on the engine with /bin/sh, true and sleep (nothing is pulled for it).
// --pull: an image a registry serves and nothing on this machine uses: it is removed and pulled
// again N times (pull), then pulled N times while present (pull-current). Without it both stay
// unmeasured and the fleet says so. Everything the script makes is labelled berth.sim-measure and
// removed at the end. --docker-host HOST:PORT times an engine over TCP instead (to try the script
// against the simulator itself).
import Docker from 'dockerode';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pack } from 'tar-stream';
import type { LatencyFigure, LatencyFile, LatencyKind } from './latencies.js';

const LABEL = 'berth.sim-measure';
const PREFIX = 'berth-sim-measure';
/** A service that stops at once on SIGTERM (as kolla's images do under dumb-init), not after the stop timeout. */
const SERVICE_CMD = ['sh', '-c', "trap 'exit 0' TERM; sleep infinity & wait"];

const { values } = parseArgs({
  options: {
    image: { type: 'string', default: 'debian:bookworm-slim' },
    pull: { type: 'string' },
    repetitions: { type: 'string', default: '20' },
    'health-interval': { type: 'string', default: '10' },
    out: { type: 'string', default: fileURLToPath(new URL('./latencies.json', import.meta.url)) },
    'docker-host': { type: 'string' },
  },
  strict: true,
});
const N = Number(values.repetitions);
const healthIntervalS = Number(values['health-interval']);
const image = values.image;

function docker(): Docker {
  if (values['docker-host']) {
    const colon = values['docker-host'].lastIndexOf(':');
    return new Docker({ host: values['docker-host'].slice(0, colon), port: Number(values['docker-host'].slice(colon + 1)) });
  }
  return new Docker({ socketPath: process.env.BERTH_DOCKER_SOCKET ?? '/var/run/docker.sock' });
}

const api = docker();
const figures: Partial<Record<LatencyKind, LatencyFigure | null>> = {};

function summarize(samples: number[], how: string): LatencyFigure {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const p90 = sorted[Math.max(Math.ceil(sorted.length * 0.9) - 1, 0)]!;
  const round = (ms: number): number => Math.round(ms * 100) / 100;
  return { medianMs: round(median), p90Ms: round(p90), samples: samples.length, how };
}

/** Times `fn(i)` for i in 0..n-1, one after another; `setup(i)` runs before each, untimed. */
async function time(n: number, fn: (i: number) => Promise<unknown>, setup?: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    if (setup) await setup(i);
    const t0 = performance.now();
    await fn(i);
    samples.push(performance.now() - t0);
  }
  return samples;
}

function record(kind: LatencyKind, samples: number[], how: string): void {
  figures[kind] = summarize(samples, how);
  const f = figures[kind];
  process.stderr.write(`${kind.padEnd(14)} median ${f.medianMs.toFixed(2).padStart(9)} ms  p90 ${f.p90Ms.toFixed(2).padStart(9)} ms  (${how})\n`);
}

/** Reads a stream to its end: the call is not over until its stream is. */
async function drain(stream: Readable): Promise<void> {
  stream.resume();
  await finished(stream);
}

/** Starts an exec as berth does (hijacked) and reads its stream to the end. */
async function runExec(exec: Docker.Exec): Promise<void> {
  const stream = await exec.start({ hijack: true, stdin: false });
  const sink = new PassThrough();
  sink.resume();
  api.modem.demuxStream(stream, sink, sink);
  await new Promise<void>((resolve, reject) => {
    if (stream.destroyed || stream.readableEnded) return resolve();
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  stream.destroy();
}

async function smallTar(i: number): Promise<Buffer> {
  const tar = pack();
  tar.entry({ name: `${PREFIX}/`, type: 'directory', mode: 0o700 });
  for (const f of ['a.conf', 'b.conf', 'c.json']) tar.entry({ name: `${PREFIX}/${f}`, mode: 0o600 }, `# file ${f} of run ${i}\n${'x'.repeat(300)}\n`);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const c of tar) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function cleanup(): Promise<void> {
  const filters = { label: [LABEL] };
  for (const c of await api.listContainers({ all: true, filters })) await api.getContainer(c.Id).remove({ force: true, v: true });
  for (const v of (await api.listVolumes({ filters })).Volumes ?? []) await api.getVolume(v.Name).remove();
  for (const n of await api.listNetworks({ filters })) await api.getNetwork(n.Id).remove();
  for (const i of await api.listImages({ filters: { reference: [`${PREFIX}/tag`] } })) for (const t of i.RepoTags ?? []) await api.getImage(t).remove();
}

async function main(): Promise<void> {
  const version = await api.version();
  const info = (await api.info()) as { Driver: string; NCPU: number; MemTotal: number; OperatingSystem: string };
  try {
    await api.getImage(image).inspect();
  } catch {
    throw new Error(`no image ${image} on the engine: pass --image REF of an image there with /bin/sh (nothing is pulled for it)`);
  }
  await cleanup();
  const hostDir = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  const names = Array.from({ length: N }, (_, i) => `${PREFIX}-${i}`);
  const labels = { [LABEL]: '1', 'berth.service': 'measure', 'berth.spec-hash': 'x'.repeat(64) };

  record('ping', await time(N, () => api.ping()), 'GET /_ping');
  record('version', await time(N, () => api.version()), 'GET /version');
  record('info', await time(N, () => api.info()), 'GET /info');

  // Volumes first, as berth makes them before the containers that mount them; removal is timed at the end.
  const volumeCreate = await time(N, (i) => api.createVolume({ Name: `${names[i]!}-vol`, Labels: labels }));

  const create = await time(N, (i) =>
    api.createContainer({
      name: names[i],
      Image: image,
      Cmd: SERVICE_CMD,
      Labels: labels,
      Env: ['KOLLA_CONFIG_STRATEGY=COPY_ALWAYS', 'A=1', 'B=2'],
      HostConfig: {
        NetworkMode: 'host',
        Binds: [`${hostDir}:/etc/berth-measure:ro`, `${names[i]!}-vol:/var/lib/measure`],
        RestartPolicy: { Name: 'unless-stopped' },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '50m', 'max-file': '3' } },
      },
    }),
  );
  record('create', create, 'POST /containers/create: host network, a read-only bind, a named volume, labels, env, restart unless-stopped');
  const containers = names.map((n) => api.getContainer(n));

  record('start', await time(N, (i) => containers[i]!.start()), 'POST /containers/{id}/start of a created container (host network, sh waiting on sleep)');

  const listContainers = await time(N, () => api.listContainers({ all: true, filters: { label: [`${LABEL}=1`] } }));
  const listImages = await time(N, () => api.listImages());
  record('list', [...listContainers, ...listImages], 'GET /containers/json?all=1 with a label filter, and GET /images/json, pooled');

  const inspectContainer = await time(N, (i) => containers[i]!.inspect());
  const inspectImage = await time(N, () => api.getImage(image).inspect());
  const inspectVolume = await time(N, (i) => api.getVolume(`${names[i]!}-vol`).inspect());
  record('inspect', [...inspectContainer, ...inspectImage, ...inspectVolume], 'GET /containers/{id}/json, /images/{name}/json and /volumes/{name}, pooled');

  const execs: Docker.Exec[] = [];
  record('exec-create', await time(N, async (i) => execs.push(await containers[i]!.exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true }))), 'POST /containers/{id}/exec of `true`');
  record('exec', await time(N, (i) => runExec(execs[i]!)), 'POST /exec/{id}/start hijacked (Upgrade: tcp) of `true`, until the stream ends');

  const tars = await Promise.all(names.map((_, i) => smallTar(i)));
  record('archive-put', await time(N, (i) => containers[i]!.putArchive(tars[i]!, { path: '/tmp' })), 'PUT /containers/{id}/archive?path=/tmp of a 2.5 kB tar: a directory and three files');
  record('archive-get', await time(N, async (i) => drain((await containers[i]!.getArchive({ path: `/tmp/${PREFIX}` })) as unknown as Readable)), 'GET /containers/{id}/archive of that directory, read to the end');
  record('logs', await time(N, (i) => containers[i]!.logs({ stdout: true, stderr: true, tail: 50, follow: false })), 'GET /containers/{id}/logs?tail=50');

  record('restart', await time(N, (i) => containers[i]!.restart({ t: 10 })), 'POST /containers/{id}/restart?t=10 of a running container that exits on SIGTERM');
  record('stop', await time(N, (i) => containers[i]!.stop({ t: 10 })), 'POST /containers/{id}/stop?t=10 of a running container that exits on SIGTERM');
  record('kill', await time(N, (i) => containers[i]!.kill(), (i) => containers[i]!.start()), 'POST /containers/{id}/kill (SIGKILL) of a running container');
  record('remove', await time(N, (i) => containers[i]!.remove()), 'DELETE /containers/{id} of an exited container');

  const volumeRemove = await time(N, (i) => api.getVolume(`${names[i]!}-vol`).remove());
  record('volume', [...volumeCreate, ...volumeRemove], 'POST /volumes/create of a new named volume with labels, and DELETE /volumes/{name} of an unused one, pooled');

  const networkCreate = await time(N, (i) => api.createNetwork({ Name: `${names[i]!}-net`, Labels: labels }));
  const networkRemove = await time(N, (i) => api.getNetwork(`${names[i]!}-net`).remove());
  record('network', [...networkCreate, ...networkRemove], 'POST /networks/create (bridge) and DELETE /networks/{id}, pooled');

  record('tag', await time(N, (i) => api.getImage(image).tag({ repo: `${PREFIX}/tag`, tag: String(i) })), 'POST /images/{name}/tag to a new reference');
  record('image-remove', await time(N, (i) => api.getImage(`${PREFIX}/tag:${i}`).remove()), 'DELETE /images/{ref} of an extra tag (untag only)');

  // The run proper: from start's answer to wait's, without the start call itself (timed above).
  const jobs = names.map((n) => `${n}-job`);
  const runs: number[] = [];
  for (const job of jobs) {
    await api.createContainer({ name: job, Image: image, Cmd: ['true'], Labels: labels, HostConfig: { NetworkMode: 'host' } });
    await api.getContainer(job).start();
    const t0 = performance.now();
    await api.getContainer(job).wait();
    runs.push(performance.now() - t0);
    await api.getContainer(job).remove({ force: true });
  }
  record('job-run', runs, 'a one-shot container running `true` (host network, restart no): from POST /start answering to POST /wait answering');

  // All at once (each takes at least the interval): from start's answer to the first inspect saying healthy.
  const healthy = await Promise.all(
    names.map(async (n) => {
      const c = await api.createContainer({
        name: `${n}-health`,
        Image: image,
        Cmd: SERVICE_CMD,
        Labels: labels,
        Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: healthIntervalS * 1e9, Timeout: 30e9, Retries: 3, StartPeriod: 0 },
        HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'unless-stopped' } },
      });
      await c.start();
      const t0 = performance.now();
      for (;;) {
        const state = await c.inspect();
        if (state.State.Health?.Status === 'healthy') return performance.now() - t0;
        if (performance.now() - t0 > (healthIntervalS + 60) * 1000) throw new Error(`${n}-health not healthy after ${healthIntervalS + 60}s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  record('healthy-after', healthy, `a container with HEALTHCHECK CMD-SHELL true, interval ${healthIntervalS}s (berth's catalog uses 10s): from POST /start answering to inspect saying healthy, polled every 100 ms, all ${N} at once`);

  if (values.pull) {
    const ref = values.pull;
    const users = await api.listContainers({ all: true, filters: { ancestor: [ref] } });
    if (users.length) throw new Error(`--pull ${ref}: containers use it (${users.map((c) => c.Names[0]).join(', ')}); name an image nothing uses`);
    const pullOnce = async (): Promise<void> => {
      const stream = (await api.pull(ref)) as Readable;
      let failure: string | undefined;
      let pending = '';
      for await (const chunk of stream) {
        pending += (chunk as Buffer).toString('utf8');
        if (/"error"/.test(pending)) failure = pending;
      }
      if (failure) throw new Error(`pull of ${ref} failed: ${failure}`);
    };
    await pullOnce();
    const size = (await api.getImage(ref).inspect()).Size;
    const removeRef = async (): Promise<void> => {
      await api.getImage(ref).remove();
    };
    record('pull', await time(N, pullOnce, removeRef), `POST /images/create of ${ref} (${(size / 1e6).toFixed(0)} MB, every layer downloaded), read to the end`);
    record('pull-current', await time(N, pullOnce), `POST /images/create of ${ref} already present ("Image is up to date"), read to the end`);
  } else {
    figures.pull = null;
    figures['pull-current'] = null;
    process.stderr.write('pull, pull-current: not measured (no --pull REF)\n');
  }

  await cleanup();
  rmSync(hostDir, { recursive: true, force: true });

  const file: LatencyFile = {
    measuredAt: new Date().toISOString(),
    engine: { version: version.Version, apiVersion: version.ApiVersion, os: info.OperatingSystem, kernel: version.KernelVersion, driver: info.Driver, ncpu: info.NCPU, memTotal: info.MemTotal },
    repetitions: N,
    method: `Each kind timed ${N} times in a row from this process through dockerode (${values['docker-host'] ? `TCP ${values['docker-host']}` : 'the local unix socket'}), one call at a time (run it when nothing else uses the engine: other work skews the figures); the wall time from the request to the end of the answer (streams read to their end). Image ${image}; containers with host networking. The simulator sleeps the median.`,
    kinds: figures,
  };
  writeFileSync(values.out, `${JSON.stringify(file, null, 2)}\n`);
  process.stderr.write(`written: ${values.out}\n`);
}

main().catch(async (err: Error) => {
  process.stderr.write(`measure-latencies: ${err.message}\n`);
  await cleanup().catch(() => {});
  process.exit(1);
});
