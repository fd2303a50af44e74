// The TCP transport against this machine's real Docker Engine: a listener on loopback relays to
// its socket, plain and with TLS (a CA, a server and a client certificate made with openssl, the
// client's checked, as dockerd --tlsverify does). Through TcpHost: ping and inspect over the
// keep-alive agent; the files container made on first use; facts (this machine's hostname and
// addresses, as a host-network container reads them); a config directory written, read back with
// its modes on this machine's disk, a file removed, the marker; a kernel module's facts; a refused
// connection reported as the host unreachable; the files container gone after destroy's removal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { isUnreachable } from '../../src/engine/host.js';
import { FILES_CONTAINER, TcpHost, type TcpTarget } from '../../src/engine/tcp-host.js';
import { BASE_IMAGE } from '../hosts/hosts.js';
import { dockerAvailable, e2eTempDir, ok } from './harness.js';

const hasDocker = dockerAvailable();
const hasBase = hasDocker && spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0;
if (hasDocker && !hasBase) console.error(`# e2e tcp: ${BASE_IMAGE} is missing (the 10-images suite builds it); skipped`);

const work = e2eTempDir('tcp');
const configRoot = join(work, 'node-config');
const labels = { 'berth.deployment': 'berth-e2e-tcp', 'berth.kind': 'files' };
const servers: Server[] = [];
const hosts: TcpHost[] = [];

/** A relay from a loopback port to the engine's socket, with TLS when given the server's files. */
async function relay(tls?: { key: Buffer; cert: Buffer; ca: Buffer }): Promise<number> {
  // Half-closes pass through, as dockerd's own listener keeps them: exec's stdin ends that way.
  const toEngine = (client: Socket): void => {
    const engine = connect({ path: '/var/run/docker.sock', allowHalfOpen: true });
    client.pipe(engine);
    engine.pipe(client);
    client.on('error', () => engine.destroy());
    engine.on('error', () => client.destroy());
  };
  const server = tls ? createTlsServer({ ...tls, requestCert: true, rejectUnauthorized: true, allowHalfOpen: true }, toEngine) : createServer({ allowHalfOpen: true }, toEngine);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

function tcpHost(port: number, over: Partial<TcpTarget> = {}): TcpHost {
  const host = new TcpHost({ name: 'tcp-e2e', address: '127.0.0.1', port, filesImage: BASE_IMAGE, configRoot, labels, ...over });
  hosts.push(host);
  return host;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's TLS guide makes them. */
function certificates(): { ca: Buffer; server: { key: Buffer; cert: Buffer }; client: { key: Buffer; cert: Buffer } } {
  const dir = join(work, 'certs');
  const sh = (cmd: string): void => {
    const r = spawnSync('sh', ['-c', cmd], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  spawnSync('mkdir', ['-p', dir]);
  sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=berth-e2e-ca');
  sh('openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n');
  sh('openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 1 -extfile server.ext');
  sh('openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=berth');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage = clientAuth\n');
  sh('openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 1 -extfile client.ext');
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  return { ca: read('ca.pem'), server: { key: read('server-key.pem'), cert: read('server.pem') }, client: { key: read('key.pem'), cert: read('cert.pem') } };
}

describe('TCP hosts: Docker\'s remote API, plain on loopback and with TLS', { skip: !hasBase }, () => {
  before(() => {
    spawnSync('docker', ['rm', '-f', FILES_CONTAINER], { stdio: 'ignore' });
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    for (const s of servers) s.close();
    spawnSync('docker', ['rm', '-f', FILES_CONTAINER], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
  });

  test('plain TCP on loopback: the API, facts through the files container, a config directory written and read back', async () => {
    const host = tcpHost(await relay());
    assert.match(await host.ping(), /^\d+\./);
    const facts = await host.facts(['lo']);
    assert.equal(facts.hostname, hostname());
    assert.equal(facts.addresses.lo, '127.0.0.1');
    assert.ok(facts.interfaces.includes('lo'));
    const running = await host.inspect(FILES_CONTAINER);
    assert.equal(running?.running, true);
    assert.equal(running?.labels['berth.kind'], 'files');

    const dir = join(configRoot, 'keystone');
    assert.equal(await host.syncDir(dir, { 'config.json': '{"command": "true"}', 'keystone.conf': '[DEFAULT]\nsecret = s3cret\n' }), true);
    assert.equal(readFileSync(join(dir, 'keystone.conf'), 'utf8'), '[DEFAULT]\nsecret = s3cret\n');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'keystone.conf')).mode & 0o777, 0o600);
    assert.equal(await host.syncDir(dir, { 'config.json': '{"command": "true"}', 'keystone.conf': '[DEFAULT]\nsecret = s3cret\n' }), false, 'unchanged: nothing written');
    assert.equal(await host.syncDir(dir, { 'config.json': '{"command": "false"}' }), true);
    assert.deepEqual(await host.readDir(dir), { 'config.json': '{"command": "false"}' });
    await host.writeMarker(dir, 'applied 1');
    const state = await host.configState(dir);
    assert.equal(state.marker, 'applied 1');
    assert.ok(state.filesWrittenAt !== undefined && Math.abs(state.filesWrittenAt - statSync(join(dir, 'config.json')).mtimeMs) < 1);
    await host.removeDir(dir);
    assert.equal(await host.readDir(dir), undefined);
    const module = await host.kernelModule('bridge');
    assert.equal(module.kernelRelease, ok('uname', ['-r']).trim());
  });

  test('TLS with a client certificate: the API and the files; a wrong CA is refused', async () => {
    const c = certificates();
    const port = await relay({ ...c.server, ca: c.ca });
    const host = tcpHost(port, { tls: { ca: c.ca, ...c.client } });
    assert.match(await host.ping(), /^\d+\./);
    // The files container the plain test made is reused (same image and mounts).
    const before = await host.inspect(FILES_CONTAINER);
    assert.equal((await host.facts(['lo'])).addresses.lo, '127.0.0.1');
    assert.equal((await host.inspect(FILES_CONTAINER))?.id, before?.id);

    const other = certificates();
    const untrusted = tcpHost(port, { name: 'tcp-untrusted', tls: { ca: other.ca, ...other.client } });
    await assert.rejects(untrusted.ping(), /certificate/);
  });

  test('a host whose engine refuses connections is unreachable, named with its address', async () => {
    const closed = await relay();
    servers.at(-1)!.close();
    const host = tcpHost(closed, { name: 'tcp-gone' });
    await assert.rejects(host.ping(), (err: unknown) => isUnreachable(err) && new RegExp(`host tcp-gone: its Docker Engine at tcp://127\\.0\\.0\\.1:${closed} does not answer \\(ECONNREFUSED\\)`).test((err as Error).message));
    await assert.rejects(host.facts(['lo']), (err: unknown) => isUnreachable(err));
  });
});
