// The fleet simulator of bench/sim (not berth itself): a few engines on loopback addresses with
// tiny latencies, driven as berth drives a real engine (dockerode, raw HTTP) to check the API's
// shapes, the state kept between calls, the shared files, the faults and the counts.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { extract, pack } from 'tar-stream';
import { startFleet, type Fleet } from '../../bench/sim/fleet.js';
import { defaultExecHandlers, splitScript } from '../../bench/sim/exec.js';
import { normalizeRef } from '../../bench/sim/images.js';

// Unusual addresses, ports chosen by the system: nothing else on the machine is in the way.
const FIRST = '127.77.0.1';
const KEYSTONE = 'registry.sim:4000/berth/keystone:2024.1';
const GLANCE = 'registry.sim:4000/berth/glance-api:2024.1';
const BASE = 'registry.sim:4000/berth/base:2024.1';

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(port: number, host: string, method: string, path: string, body?: unknown): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host, port, method, path, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function readAll(stream: NodeJS.ReadableStream | AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<unknown>) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An exec as berth's DockerHost runs it: hijacked, demultiplexed, then inspected. */
async function exec(docker: Docker, container: string, cmd: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const e = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const collect = (into: Buffer[]): NodeJS.WritableStream => ({ write: (c: Buffer) => into.push(c) }) as unknown as NodeJS.WritableStream;
  docker.modem.demuxStream(stream, collect(out), collect(err));
  await new Promise<void>((resolve, reject) => {
    if (stream.destroyed || stream.readableEnded) return resolve();
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  stream.destroy();
  const info = await e.inspect();
  return { code: info.ExitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files)) tar.entry({ name, mode: 0o600 }, content);
  tar.finalize();
  return readAll(tar);
}

async function untar(buf: Buffer): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, body, next) => {
      readAll(body)
        .then((content) => {
          files.set(`${header.name}${header.type === 'directory' ? '/' : ''}`, content.toString());
          next();
        })
        .catch(reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(buf);
  await done;
  return files;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fleet simulator', () => {
  let fleet: Fleet;
  let docker: Docker;
  let host: string;
  let port: number;

  before(async () => {
    fleet = await startFleet({
      engines: 3,
      first: FIRST,
      port: 0,
      latencies: { pull: 40, 'job-run': 150, 'healthy-after': 250, exec: 5 },
      registry: [
        { ref: BASE, layers: ['debian', 'base'] },
        { ref: KEYSTONE, labels: { 'berth.image': 'keystone' }, layers: ['debian', 'base', 'openstack', 'keystone'] },
        { ref: GLANCE, labels: { 'berth.image': 'glance-api' }, layers: ['debian', 'base', 'openstack', 'glance'] },
      ],
      present: [BASE],
      failJobs: 'failing',
    });
    ({ host, port } = fleet.engines[0]!);
    docker = new Docker({ host, port });
  });

  after(async () => {
    await fleet.close();
  });

  test('engines listen on consecutive loopback addresses, each its own host', async () => {
    assert.deepEqual(
      fleet.engines.map((e) => e.host),
      ['127.77.0.1', '127.77.0.2', '127.77.0.3'],
    );
    const names = await Promise.all(fleet.engines.map((e) => new Docker({ host: e.host, port: e.port }).info().then((i: { Name: string }) => i.Name)));
    assert.deepEqual(names, ['sim-0001', 'sim-0002', 'sim-0003']);
  });

  test('ping, version and info answer with and without a version prefix', async () => {
    assert.equal(String(await docker.ping()), 'OK');
    for (const prefix of ['', '/v1.41', '/v1.24']) {
      const ping = await raw(port, host, 'GET', `${prefix}/_ping`);
      assert.equal(ping.status, 200);
      assert.equal(ping.body, 'OK');
      assert.equal(ping.headers['api-version'], '1.41');
      const version = JSON.parse((await raw(port, host, 'GET', `${prefix}/version`)).body) as Record<string, string>;
      assert.equal(version.ApiVersion, '1.41');
      assert.match(version.Version!, /^20\.10\.24/);
      assert.equal(version.Os, 'linux');
      assert.equal(version.Arch, 'amd64');
      assert.equal(version.MinAPIVersion, '1.12');
      const info = JSON.parse((await raw(port, host, 'GET', `${prefix}/info`)).body) as Record<string, unknown>;
      assert.equal(info.Name, 'sim-0001');
      assert.equal(info.Driver, 'overlay2');
      assert.equal(info.DockerRootDir, '/var/lib/docker');
      assert.ok((info.NCPU as number) > 0 && (info.MemTotal as number) > 0);
    }
    assert.equal((await raw(port, host, 'HEAD', '/_ping')).status, 200);
    const tooNew = await raw(port, host, 'GET', '/v1.45/version');
    assert.equal(tooNew.status, 400);
    assert.match((JSON.parse(tooNew.body) as { message: string }).message, /too new/);
  });

  test('a pull streams Docker progress, then the image is there; a known layer "Already exists"', async () => {
    const events = (await readAll(await docker.createImage({ fromImage: KEYSTONE.replace(/:2024\.1$/, ''), tag: '2024.1' })))
      .toString()
      .split(/\r?\n/)
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { status?: string; id?: string; error?: string });
    const statuses = events.map((e) => e.status);
    assert.equal(statuses[0], 'Pulling from registry.sim:4000/berth/keystone');
    // debian and base came with the base image.
    assert.equal(statuses.filter((s) => s === 'Already exists').length, 2);
    assert.equal(statuses.filter((s) => s === 'Pulling fs layer').length, 2);
    assert.ok(statuses.includes('Downloading') && statuses.includes('Download complete') && statuses.includes('Pull complete'));
    assert.match(statuses.at(-2)!, /^Digest: sha256:[0-9a-f]{64}$/);
    assert.equal(statuses.at(-1), `Status: Downloaded newer image for ${KEYSTONE}`);

    const image = await docker.getImage(KEYSTONE).inspect();
    assert.match(image.Id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(image.RepoTags, [KEYSTONE]);
    assert.equal(image.Config.Labels?.['berth.image'], 'keystone');
    assert.ok(image.Size > 0);
    // Stable: the same image has the same id on another engine.
    const other = fleet.engines[1]!;
    await readAll(await new Docker({ host: other.host, port: other.port }).createImage({ fromImage: KEYSTONE }));
    assert.equal((await new Docker({ host: other.host, port: other.port }).getImage(KEYSTONE).inspect()).Id, image.Id);

    const again = (await readAll(await docker.createImage({ fromImage: KEYSTONE }))).toString();
    assert.match(again, /Status: Image is up to date for registry\.sim:4000\/berth\/keystone:2024\.1/);

    const listed = await docker.listImages({ filters: { label: ['berth.image=keystone'] } });
    assert.deepEqual(
      listed.map((i) => i.RepoTags),
      [[KEYSTONE]],
    );
    const byReference = await raw(port, host, 'GET', `/v1.41/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: ['registry.sim:4000/berth/keystone'] }))}`);
    assert.equal((JSON.parse(byReference.body) as unknown[]).length, 1);
  });

  test('a pull of an image the registry lacks is an error event inside a 200 stream', async () => {
    const answer = await raw(port, host, 'POST', '/images/create?fromImage=registry.sim:4000/berth/nope&tag=1');
    assert.equal(answer.status, 200);
    const event = JSON.parse(answer.body.trim()) as { error: string; errorDetail: { message: string } };
    assert.match(event.errorDetail.message, /manifest unknown/);
    assert.equal(event.error, event.errorDetail.message);
  });

  test('tag and remove an image', async () => {
    await docker.getImage(KEYSTONE).tag({ repo: 'berth/keystone', tag: 'rollback' });
    assert.equal((await docker.getImage('berth/keystone:rollback').inspect()).Id, (await docker.getImage(KEYSTONE).inspect()).Id);
    const removed = (await docker.getImage('berth/keystone:rollback').remove()) as { Untagged?: string }[];
    assert.deepEqual(removed, [{ Untagged: 'berth/keystone:rollback' }]);
    await assert.rejects(docker.getImage('berth/keystone:rollback').inspect(), { statusCode: 404 });
  });

  test('a service: create with labels, binds and a healthcheck, start, health starting then healthy, listed by label', async () => {
    await docker.createContainer({
      name: 'keystone',
      Image: KEYSTONE,
      Env: ['KOLLA_CONFIG_STRATEGY=COPY_ALWAYS'],
      Labels: { 'berth.service': 'keystone', 'berth.deployment': 'd1' },
      Healthcheck: { Test: ['CMD-SHELL', 'healthcheck_curl http://127.0.0.1:5000'], Interval: 10e9, Timeout: 30e9, Retries: 3, StartPeriod: 5e9 },
      HostConfig: {
        NetworkMode: 'host',
        Binds: ['/etc/berth/keystone/:/var/lib/kolla/config_files/:ro', 'kolla_logs:/var/log/kolla/'],
        RestartPolicy: { Name: 'unless-stopped' },
        CapAdd: ['NET_ADMIN'],
      },
    });
    const created = await docker.getContainer('keystone').inspect();
    assert.equal(created.State.Status, 'created');
    assert.equal(created.State.Health, undefined);
    assert.equal(created.State.FinishedAt, '0001-01-01T00:00:00Z');
    assert.equal(created.Name, '/keystone');
    assert.equal(created.Config.Image, KEYSTONE);
    assert.equal(created.Image, (await docker.getImage(KEYSTONE).inspect()).Id);
    // The image's labels and env are merged in, as Docker does.
    assert.equal(created.Config.Labels['berth.image'], 'keystone');
    assert.equal(created.Config.Labels['berth.service'], 'keystone');
    assert.ok(created.Config.Env.includes('KOLLA_CONFIG_STRATEGY=COPY_ALWAYS') && created.Config.Env.some((e) => e.startsWith('PATH=')));
    assert.deepEqual(created.HostConfig.CapAdd, ['NET_ADMIN']);
    assert.deepEqual(
      created.Mounts.map((m) => [m.Type, m.Name ?? m.Source, m.Destination, m.RW]),
      [
        ['bind', '/etc/berth/keystone', '/var/lib/kolla/config_files', false],
        ['volume', 'kolla_logs', '/var/log/kolla', true],
      ],
    );
    // The named volume was made on the fly.
    assert.equal((await docker.getVolume('kolla_logs').inspect()).Driver, 'local');

    await docker.getContainer('keystone').start();
    await assert.rejects(docker.getContainer('keystone').start(), { statusCode: 304 });
    const starting = await docker.getContainer('keystone').inspect();
    assert.equal(starting.State.Running, true);
    assert.ok(starting.State.Pid > 0);
    assert.equal(starting.State.Health?.Status, 'starting');
    // The healthcheck run by hand (as berth's health wait does) fails until healthy.
    assert.equal((await exec(docker, 'keystone', ['sh', '-c', 'healthcheck_curl http://127.0.0.1:5000'])).code, 1);
    await sleep(300);
    const healthy = await docker.getContainer('keystone').inspect();
    assert.equal(healthy.State.Health?.Status, 'healthy');
    assert.equal((await exec(docker, 'keystone', ['sh', '-c', 'healthcheck_curl http://127.0.0.1:5000'])).code, 0);

    const listed = await docker.listContainers({ all: true, filters: { label: ['berth.deployment=d1'] } });
    assert.deepEqual(
      listed.map((c) => [c.Names, c.State, c.Labels['berth.service']]),
      [[['/keystone'], 'running', 'keystone']],
    );
    assert.match(listed[0]!.Status, /^Up .* \(healthy\)$/);
    assert.equal((await docker.listContainers({ all: true, filters: { label: ['berth.deployment=other'] } })).length, 0);
    assert.equal((await docker.listContainers({ all: true, filters: { label: ['berth.service'] } })).length, 1);
    // What berth's raw client reads.
    const viaRaw = JSON.parse((await raw(port, host, 'GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['berth.service=keystone'] }))}`)).body) as { Mounts: { Type: string; Name?: string }[] }[];
    assert.deepEqual(
      viaRaw[0]!.Mounts.filter((m) => m.Type === 'volume').map((m) => m.Name),
      ['kolla_logs'],
    );

    await docker.getContainer('keystone').stop({ t: 10 });
    await assert.rejects(docker.getContainer('keystone').stop(), { statusCode: 304 });
    const stopped = await docker.getContainer('keystone').inspect();
    assert.equal(stopped.State.Status, 'exited');
    assert.equal(stopped.State.ExitCode, 0);
    assert.notEqual(stopped.State.FinishedAt, '0001-01-01T00:00:00Z');
    assert.equal((await docker.listContainers({ filters: { label: ['berth.deployment=d1'] } })).length, 0, 'without all, only running ones');
  });

  test('a job runs once, exits 0 and wait returns its code; a failing job exits 1', async () => {
    const job = await docker.createContainer({ name: 'keystone_bootstrap', Image: KEYSTONE, HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'no' } } });
    await job.start();
    assert.equal((await job.inspect()).State.Running, true);
    const t0 = Date.now();
    assert.deepEqual(await job.wait(), { Error: null, StatusCode: 0 });
    assert.ok(Date.now() - t0 >= 100, 'it ran for the job latency');
    const done = await job.inspect();
    assert.equal(done.State.Status, 'exited');
    assert.equal(done.State.ExitCode, 0);
    assert.ok(Date.parse(done.State.FinishedAt) >= Date.parse(done.State.StartedAt));
    // Already exited: wait answers at once.
    assert.equal(((await job.wait()) as { StatusCode: number }).StatusCode, 0);
    const logs = (await job.logs({ stdout: true, stderr: true, follow: false })).toString();
    assert.match(logs, /started/);
    assert.match(logs, /exited with code 0/);

    const failing = await docker.createContainer({ name: 'failing_job', Image: BASE });
    await failing.start();
    assert.equal(((await failing.wait()) as { StatusCode: number }).StatusCode, 1);
  });

  test('exec through dockerode hijack: output, exit code, files removed', async () => {
    await docker.createContainer({ name: 'toolbox', Image: BASE, HostConfig: { RestartPolicy: { Name: 'always' }, Binds: ['/srv/shared:/shared'] } });
    await docker.getContainer('toolbox').start();
    await docker.getContainer('toolbox').putArchive(await tarOf({ 'old.conf': 'x=1\n', 'keep.conf': 'y=2\n' }), { path: '/shared' });

    const cat = await exec(docker, 'toolbox', ['cat', '/shared/old.conf']);
    assert.deepEqual(cat, { code: 0, stdout: 'x=1\n', stderr: '' });
    const missing = await exec(docker, 'toolbox', ['cat', '/shared/nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such file or directory/);
    assert.equal((await exec(docker, 'toolbox', ['hostname'])).stdout.trim().length, 12);
    assert.equal((await exec(docker, 'toolbox', ['test', '-f', '/shared/old.conf'])).code, 0);

    assert.equal((await exec(docker, 'toolbox', ['rm', '-rf', '--', '/shared/old.conf'])).code, 0);
    assert.equal((await exec(docker, 'toolbox', ['test', '-e', '/shared/old.conf'])).code, 1);
    assert.equal((await exec(docker, 'toolbox', ['sh', '-c', 'mkdir -p /shared/a/b && test -d /shared/a/b && echo made'])).stdout, 'made\n');
    // The engine's host filesystem saw it all: the bind's source is shared.
    const hostFs = fleet.engine(0).hostFs;
    assert.equal(hostFs.stat('/srv/shared/old.conf'), undefined);
    assert.equal(hostFs.stat('/srv/shared/keep.conf')?.content.toString(), 'y=2\n');
    assert.equal(hostFs.stat('/srv/shared/a/b')?.type, 'dir');
    // Any other command: exit 0, no output.
    assert.deepEqual(await exec(docker, 'toolbox', ['keystone-manage', 'db_sync']), { code: 0, stdout: '', stderr: '' });

    // Without the upgrade the stream comes as a 200 body.
    const created = JSON.parse((await raw(port, host, 'POST', '/containers/toolbox/exec', { Cmd: ['echo', 'plain'], AttachStdout: true })).body) as { Id: string };
    const plain = await raw(port, host, 'POST', `/exec/${created.Id}/start`, { Detach: false, Tty: false });
    assert.equal(plain.status, 200);
    assert.equal(plain.body.slice(8), 'plain\n');
    const detached = JSON.parse((await raw(port, host, 'POST', '/containers/toolbox/exec', { Cmd: ['true'] })).body) as { Id: string };
    assert.equal((await raw(port, host, 'POST', `/exec/${detached.Id}/start`, { Detach: true })).status, 200);
    await sleep(20);
    assert.equal((JSON.parse((await raw(port, host, 'GET', `/exec/${detached.Id}/json`)).body) as { ExitCode: number }).ExitCode, 0);

    await docker.getContainer('toolbox').stop();
    await assert.rejects(docker.getContainer('toolbox').exec({ Cmd: ['true'] }), { statusCode: 409 });
  });

  test('archives: put into a bind-mounted directory, get from another container mounting the same source', async () => {
    await docker.createContainer({ name: 'writer', Image: BASE, HostConfig: { Binds: ['/etc/berth/glance:/var/lib/kolla/config_files'] } });
    await docker.createContainer({ name: 'reader', Image: BASE, HostConfig: { Binds: ['/etc/berth/glance:/config:ro'] } });
    // A created container takes archives too (berth's tool runs put their inputs before start).
    await docker.getContainer('writer').putArchive(await tarOf({ 'glance-api.conf': '[DEFAULT]\n', 'sub/policy.yaml': '{}\n' }), { path: '/var/lib/kolla/config_files' });

    const stream = await docker.getContainer('reader').getArchive({ path: '/config' });
    const files = await untar(await readAll(stream));
    assert.equal(files.get('config/glance-api.conf'), '[DEFAULT]\n');
    assert.equal(files.get('config/sub/policy.yaml'), '{}\n');
    assert.ok(files.has('config/'));

    const head = await raw(port, host, 'HEAD', '/containers/reader/archive?path=/config/glance-api.conf');
    const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString()) as { name: string; size: number; mode: number };
    assert.deepEqual([stat.name, stat.size, stat.mode], ['glance-api.conf', 10, 0o600]);
    const dirStat = JSON.parse(Buffer.from(String((await raw(port, host, 'HEAD', '/containers/reader/archive?path=/config')).headers['x-docker-container-path-stat']), 'base64').toString()) as { mode: number };
    assert.ok(dirStat.mode >= 0x80000000, 'the directory bit');

    // A container's own files (not mounted) are kept and read back.
    await docker.getContainer('writer').putArchive(await tarOf({ 'berth/input.sql': 'SELECT 1;\n' }), { path: '/tmp' });
    assert.deepEqual([...(await untar(await readAll(await docker.getContainer('writer').getArchive({ path: '/tmp/berth/input.sql' })))).entries()], [['input.sql', 'SELECT 1;\n']]);
    // A read-only mount refuses writes.
    await assert.rejects(docker.getContainer('reader').putArchive(await tarOf({ 'x.conf': 'x' }), { path: '/config' }), { statusCode: 403 });

    await assert.rejects(docker.getContainer('writer').getArchive({ path: '/nope' }), { statusCode: 404 });
    await assert.rejects(docker.getContainer('writer').putArchive(await tarOf({ a: 'b' }), { path: '/does/not/exist' }), { statusCode: 404 });
  });

  test('volumes and networks', async () => {
    const created = await raw(port, host, 'POST', '/volumes/create', { Name: 'mariadb', Labels: { 'berth.deployment': 'd1' } });
    assert.equal(created.status, 201);
    assert.equal((JSON.parse(created.body) as { Name: string }).Name, 'mariadb');
    const again = await raw(port, host, 'POST', '/volumes/create', { Name: 'mariadb' });
    assert.equal(again.status, 201, 'idempotent');
    assert.deepEqual((JSON.parse(again.body) as { Labels: unknown }).Labels, { 'berth.deployment': 'd1' });
    const labelled = await docker.listVolumes({ filters: { label: ['berth.deployment=d1'] } });
    assert.deepEqual(
      labelled.Volumes.map((v) => [v.Name, v.Labels]),
      [['mariadb', { 'berth.deployment': 'd1' }]],
    );
    await docker.createContainer({ name: 'mariadb', Image: BASE, HostConfig: { Binds: ['mariadb:/var/lib/mysql'] } });
    await assert.rejects(docker.getVolume('mariadb').remove(), (err: { statusCode: number; json: { message: string } }) => err.statusCode === 409 && /volume is in use/.test(err.json.message));
    await docker.getContainer('mariadb').remove();
    await docker.getVolume('mariadb').remove();
    await assert.rejects(docker.getVolume('mariadb').inspect(), { statusCode: 404 });

    const names = (await docker.listNetworks()).map((n) => n.Name).sort();
    assert.deepEqual(names, ['bridge', 'host', 'none']);
    const net = await docker.createNetwork({ Name: 'berth_test', Labels: { a: 'b' } });
    assert.equal((await docker.getNetwork('berth_test').inspect()).Id, net.id);
    await assert.rejects(docker.createNetwork({ Name: 'berth_test' }), { statusCode: 409 });
    await assert.rejects(docker.getNetwork('host').remove(), { statusCode: 403 });
    await docker.getNetwork(net.id).remove();
    await assert.rejects(docker.getNetwork('berth_test').inspect(), { statusCode: 404 });
  });

  test("errors have Docker's shape and codes", async () => {
    const noSuch = await raw(port, host, 'GET', '/v1.41/containers/ghost/json');
    assert.equal(noSuch.status, 404);
    assert.deepEqual(JSON.parse(noSuch.body), { message: 'No such container: ghost' });
    assert.equal(noSuch.headers['content-type'], 'application/json');

    await docker.createContainer({ name: 'dup', Image: BASE, HostConfig: { RestartPolicy: { Name: 'always' } } });
    const dup = await raw(port, host, 'POST', '/containers/create?name=dup', { Image: BASE });
    assert.equal(dup.status, 409);
    assert.match((JSON.parse(dup.body) as { message: string }).message, /^Conflict\. The container name "\/dup" is already in use by container "[0-9a-f]{64}"/);

    const noImage = await raw(port, host, 'POST', '/containers/create?name=xx', { Image: 'registry.sim:4000/berth/absent:1' });
    assert.equal(noImage.status, 404);
    assert.deepEqual(JSON.parse(noImage.body), { message: 'No such image: registry.sim:4000/berth/absent:1' });

    await docker.getContainer('dup').start();
    const running = await raw(port, host, 'DELETE', '/containers/dup');
    assert.equal(running.status, 409);
    assert.match((JSON.parse(running.body) as { message: string }).message, /You cannot remove a running container/);
    assert.equal((await raw(port, host, 'DELETE', '/containers/dup?force=1')).status, 204);
    assert.equal((await raw(port, host, 'DELETE', '/containers/dup')).status, 404);

    const unknown = await raw(port, host, 'POST', '/v1.41/containers/abc/attach?stream=1');
    assert.equal(unknown.status, 404);
    assert.match((JSON.parse(unknown.body) as { message: string }).message, /POST \/containers\/abc\/attach is not simulated/);
    assert.equal(fleet.stats().engines[0]!.unknown['POST /containers/{id}/attach'], 1);
  });

  test('faults: a refused engine gives ECONNREFUSED while the others answer', async () => {
    const victim = fleet.engines[2]!;
    const d = new Docker({ host: victim.host, port: victim.port });
    await d.createContainer({ name: 'survivor', Image: BASE, HostConfig: { RestartPolicy: { Name: 'always' } } });
    await fleet.fault(2, 'refuse');
    // The client must first see its idle kept-alive connection close; a request sent on it before
    // that fails with ECONNRESET, as it does when a real engine goes away.
    await sleep(20);
    await assert.rejects(d.ping(), { code: 'ECONNREFUSED' });
    assert.equal(String(await docker.ping()), 'OK');
    assert.equal(fleet.stats().engines[2]!.state, 'refusing');
    await fleet.fault(2, 'recover');
    assert.equal((await d.getContainer('survivor').inspect()).Name, '/survivor');
  });

  test('faults: die cuts an in-flight wait; recover brings the engine back with its containers', async () => {
    const victim = fleet.engines[1]!;
    const d = new Docker({ host: victim.host, port: victim.port });
    await d.createContainer({ name: 'memcached', Image: KEYSTONE, HostConfig: { RestartPolicy: { Name: 'unless-stopped' } } });
    await d.getContainer('memcached').start();

    // Docker sends a wait's status at once and its body at the exit: the cut comes in between.
    const cut = new Promise<{ status: number; complete: boolean }>((resolve, reject) => {
      const req = request({ host: victim.host, port: victim.port, method: 'POST', path: '/v1.41/containers/memcached/wait' }, (res) => {
        res.resume();
        res.on('close', () => resolve({ status: res.statusCode ?? 0, complete: res.complete }));
        void fleet.fault(1, 'die');
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(await cut, { status: 200, complete: false });
    await assert.rejects(d.ping(), { code: 'ECONNREFUSED' });
    assert.equal(fleet.stats().engines[1]!.state, 'dead');

    await fleet.fault(1, 'recover');
    const back = await d.getContainer('memcached').inspect();
    assert.equal(back.State.Running, true);
    assert.equal((await d.getImage(KEYSTONE).inspect()).RepoTags[0], KEYSTONE);
  });

  test('faults: slow multiplies the latencies', async () => {
    const e = fleet.engines[2]!;
    const d = new Docker({ host: e.host, port: e.port });
    await d.createContainer({ name: 'slow_job', Image: BASE });
    await fleet.fault(2, 'slow', 3);
    await d.getContainer('slow_job').start();
    const t0 = Date.now();
    await d.getContainer('slow_job').wait();
    assert.ok(Date.now() - t0 >= 400, 'the job ran three times its latency');
    await fleet.fault(2, 'recover');
    assert.equal(fleet.stats().engines[2]!.slowFactor, 1);
  });

  test('requests are counted per kind, with bytes, and reset', async () => {
    const e = fleet.engines[2]!;
    const d = new Docker({ host: e.host, port: e.port });
    fleet.reset();
    assert.equal(fleet.stats().engines[2]!.requests, 0);
    await d.ping();
    await d.listContainers({ all: true });
    await d.listContainers({ all: true });
    await d.getContainer('survivor').inspect();
    const stats = fleet.stats();
    const mine = stats.engines[2]!;
    assert.equal(mine.requests, 4);
    assert.deepEqual(mine.byKind, { ping: 1, 'containers.list': 2, 'containers.inspect': 1 });
    assert.ok(mine.bytesIn > 0 && mine.bytesOut > mine.bytesIn);
    assert.equal(stats.totals.requests, 4);
    assert.equal(stats.engines[0]!.requests, 0);

    fleet.reset('state');
    assert.equal((await d.listContainers({ all: true })).length, 0);
    assert.deepEqual((await d.listImages()).map((i) => i.RepoTags), [[BASE]]);
  });
});

describe('fleet simulator pieces', () => {
  test('references are normalized as Docker shows them', () => {
    assert.equal(normalizeRef('debian'), 'debian:latest');
    assert.equal(normalizeRef('docker.io/library/debian:12'), 'debian:12');
    assert.equal(normalizeRef('127.0.0.1:4000/berth/keystone'), '127.0.0.1:4000/berth/keystone:latest');
  });

  test('sh -c scripts split into simple commands, or count as unknown', () => {
    assert.deepEqual(splitScript(`rm -rf '/a b' && mkdir -p /c; true`), [
      { argv: ['rm', '-rf', '/a b'], then: '&&' },
      { argv: ['mkdir', '-p', '/c'], then: ';' },
      { argv: ['true'], then: ';' },
    ]);
    assert.deepEqual(splitScript('rm -rf -- "$1" $2', ['berth', '/etc/x']), [{ argv: ['rm', '-rf', '--', '/etc/x'], then: ';' }]);
    assert.equal(splitScript('cat /x | grep y'), undefined);
    assert.equal(splitScript('echo $HOME'), undefined);
  });

  test("berth's files: a fixed script found by its text gets its arguments and stdin; $1 expands", async () => {
    const WRITE = 'set -eu\ncat > "$1"\n';
    const handlers = new Map(defaultExecHandlers);
    handlers.set(WRITE, (ctx) => {
      ctx.fs.writeFile(ctx.argv[4]!, ctx.stdin);
      return { code: 0, stdout: `${ctx.stdin.length}\n` };
    });
    const small = await startFleet({ engines: 1, first: '127.77.2.1', port: 0, registry: [BASE], present: 'all', execHandlers: handlers });
    try {
      const e = small.engines[0]!;
      const d = new Docker({ host: e.host, port: e.port });
      await d.createContainer({ name: 'berth_files', Image: BASE, HostConfig: { NetworkMode: 'host', Binds: ['/etc/berth:/etc/berth'], RestartPolicy: { Name: 'unless-stopped' } } });
      await d.getContainer('berth_files').start();
      // As berth's TcpHost runs a script: stdin attached, written, half-closed, then the output read.
      const run = async (script: string, args: string[], stdin?: Buffer): Promise<{ code: number | null; stdout: string }> => {
        const x = await d.getContainer('berth_files').exec({ Cmd: ['sh', '-c', script, 'berth', ...args], AttachStdin: stdin !== undefined, AttachStdout: true, AttachStderr: true });
        const stream = await x.start({ hijack: true, stdin: stdin !== undefined });
        const out: Buffer[] = [];
        d.modem.demuxStream(stream, { write: (c: Buffer) => out.push(c) } as unknown as NodeJS.WritableStream, { write: () => true } as unknown as NodeJS.WritableStream);
        const done = new Promise<void>((resolve) => {
          stream.on('end', resolve);
          stream.on('close', resolve);
        });
        if (stdin !== undefined) stream.end(stdin);
        await done;
        stream.destroy();
        return { code: (await x.inspect()).ExitCode, stdout: Buffer.concat(out).toString() };
      };
      assert.deepEqual(await run(WRITE, ['/etc/berth/keystone/keystone.conf'], Buffer.from('[DEFAULT]\ndebug = true\n')), { code: 0, stdout: '23\n' });
      assert.equal(small.engine(0).hostFs.stat('/etc/berth/keystone/keystone.conf')?.content.toString(), '[DEFAULT]\ndebug = true\n');
      assert.deepEqual(await run('cat -- "$1"', ['/etc/berth/keystone/keystone.conf']), { code: 0, stdout: '[DEFAULT]\ndebug = true\n' });
      assert.deepEqual(await run('rm -rf -- "$1"', ['/etc/berth/keystone']), { code: 0, stdout: '' });
      assert.equal(small.engine(0).hostFs.stat('/etc/berth/keystone'), undefined);
    } finally {
      await small.close();
    }
  });

  test('an engine with no listener at start: faults set in the options', async () => {
    const small = await startFleet({ engines: 2, first: '127.77.1.1', port: 0, faults: [{ engine: 1, kind: 'refuse' }] });
    try {
      const [a, b] = small.engines;
      assert.equal(String(await new Docker({ host: a!.host, port: a!.port }).ping()), 'OK');
      await assert.rejects(new Docker({ host: b!.host, port: b!.port }).ping(), { code: 'ECONNREFUSED' });
    } finally {
      await small.close();
    }
  });
});
