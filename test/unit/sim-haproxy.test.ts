// The fleet simulator's haproxy admin socket (bench/sim/haproxy.ts) driven by berth's own
// LoadBalancers through a TcpHost, as a deploy drives it: drain, ready, leftovers, show stat.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { startFleet, type Fleet } from '../../bench/sim/fleet.js';
import { HAPROXY_SOCKET, LoadBalancers, parseStat, serversSetAside } from '../../src/reconcile/load-balancer.js';
import { TcpHost } from '../../src/engine/tcp-host.js';

const BASE = 'registry.sim:4000/berth/base:2025.1';
const HAPROXY = 'registry.sim:4000/berth/haproxy:2025.1';

const CONFIG = `global
    maxconn 8000
    stats socket ${HAPROXY_SOCKET} mode 600 level admin expose-fd listeners

defaults
    balance roundrobin
    default-server inter 2s fastinter 500ms rise 2 fall 2

listen stats
    bind 127.0.0.1:1984
    mode http
    stats enable

listen keystone_internal
    bind 127.1.255.250:5000 transparent
    mode http
    option httpchk GET /v3
    server ctl1 127.1.0.1:5000 check
    server ctl2 127.1.0.2:5000 check

listen mariadb
    bind 127.1.255.250:3306 transparent
    mode tcp
    option tcplog
    server ctl1 127.1.0.1:3306 check
    server ctl2 127.1.0.2:3306 check backup
`;

describe("haproxy's admin socket on simulated engines", () => {
  let fleet: Fleet;
  let host: TcpHost;
  let docker: Docker;
  const KEYSTONE_CTL1 = { backend: 'keystone_internal', server: 'ctl1' };

  const cli = async (commands: string): Promise<{ code: number; output: string }> =>
    host.exec('haproxy', ['sh', '-c', `echo '${commands}' | socat -t 5 stdio unix-connect:${HAPROXY_SOCKET}`], undefined, 10_000);
  const balancers = (): LoadBalancers => new LoadBalancers([{ host: 'lb1', container: 'haproxy' }], new Map([['lb1', host]]), new Map());

  before(async () => {
    fleet = await startFleet({ engines: 1, first: '127.79.0.1', port: 0, latencies: { exec: 1 }, registry: [BASE, HAPROXY], present: 'all' });
    const e = fleet.engines[0]!;
    host = new TcpHost({ name: e.name, address: e.host, port: e.port, filesImage: BASE, configRoot: '/etc/berth', labels: { 'berth.deployment': 'sim', 'berth.kind': 'files' } });
    docker = new Docker({ host: e.host, port: e.port });
    fleet.engine(0).hostFs.writeFile('/etc/berth/haproxy/haproxy.cfg', CONFIG);
    // As berth creates it: its config directory bound read-only, the socket's volume.
    await docker.createContainer({
      name: 'haproxy',
      Image: HAPROXY,
      HostConfig: { NetworkMode: 'host', Binds: ['/etc/berth/haproxy:/var/lib/kolla/config_files:ro', 'haproxy_socket:/var/lib/kolla/haproxy'], RestartPolicy: { Name: 'unless-stopped' } },
    });
    await docker.getContainer('haproxy').start();
  });

  after(async () => {
    await host.close();
    await fleet.close();
  });

  test('show stat: every server UP with a passed check, in the CSV berth parses', async () => {
    const r = await cli('show stat');
    assert.equal(r.code, 0);
    assert.match(r.output, /^# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,/);
    assert.deepEqual(parseStat(r.output), [
      { backend: 'keystone_internal', server: 'ctl1', status: 'UP', check: 'L7OK', sessions: 0 },
      { backend: 'keystone_internal', server: 'ctl2', status: 'UP', check: 'L7OK', sessions: 0 },
      { backend: 'mariadb', server: 'ctl1', status: 'UP', check: 'L4OK', sessions: 0 },
      { backend: 'mariadb', server: 'ctl2', status: 'UP', check: 'L4OK', sessions: 0 },
    ]);
    // A FRONTEND and a BACKEND row per listen section; the backup counts as bck.
    const rows = r.output.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(','));
    assert.deepEqual(rows.filter((f) => f[1] === 'FRONTEND' || f[1] === 'BACKEND').map((f) => `${f[0]}/${f[1]}/${f[17]}`), ['stats/FRONTEND/OPEN', 'stats/BACKEND/UP', 'keystone_internal/FRONTEND/OPEN', 'keystone_internal/BACKEND/UP', 'mariadb/FRONTEND/OPEN', 'mariadb/BACKEND/UP']);
    assert.deepEqual(rows.filter((f) => f[0] === 'mariadb' && f[1] === 'ctl2').map((f) => [f[19], f[20]]), [['0', '1']]);
  });

  test('drain then ready of a server completes; the state reads in show stat and show servers state', async () => {
    const lb = balancers();
    await lb.drain([KEYSTONE_CTL1], 2_000);
    const drained = parseStat((await cli('show stat')).output).find((s) => s.backend === 'keystone_internal' && s.server === 'ctl1');
    assert.equal(drained?.status, 'DRAIN');
    const state = (await cli('show servers state')).output;
    assert.match(state, /^1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state /);
    assert.match(state, /^\d+ keystone_internal 1 ctl1 127\.1\.0\.1 2 8 /m);
    assert.deepEqual(serversSetAside(state), [KEYSTONE_CTL1]);
    await lb.ready([KEYSTONE_CTL1], [KEYSTONE_CTL1], 2_000);
    assert.deepEqual(serversSetAside((await cli('show servers state')).output), []);
    assert.ok(parseStat((await cli('show stat')).output).every((s) => s.status === 'UP'));
  });

  test('readyLeftovers finds servers left drained or in maintenance and readies them', async () => {
    const set = await cli('set server keystone_internal/ctl2 state drain; set server mariadb/ctl1 state maint');
    // haproxy answers a set with nothing but the empty line ending each command's answer.
    assert.deepEqual(set, { code: 0, output: '\n\n' });
    assert.equal(parseStat((await cli('show stat')).output).find((s) => s.backend === 'mariadb' && s.server === 'ctl1')?.status, 'MAINT');
    const found = await balancers().readyLeftovers();
    assert.deepEqual(found, [{ backend: 'keystone_internal', server: 'ctl2' }, { backend: 'mariadb', server: 'ctl1' }]);
    assert.deepEqual(serversSetAside((await cli('show servers state')).output), []);
    assert.deepEqual(await balancers().readyLeftovers(), []);
  });

  test("haproxy's answers to mistakes, and no socket where no haproxy runs", async () => {
    assert.deepEqual(await cli('set server nope/ctl1 state drain'), { code: 0, output: 'No such backend.\n\n' });
    assert.deepEqual(await cli('set server mariadb/ctl9 state drain'), { code: 0, output: 'No such server.\n\n' });
    assert.match((await cli('show info')).output, /^Unknown command/);
    await docker.createContainer({ name: 'keepalived', Image: BASE, HostConfig: { NetworkMode: 'host', Binds: ['haproxy_socket:/var/lib/kolla/haproxy'], RestartPolicy: { Name: 'unless-stopped' } } });
    await docker.getContainer('keepalived').start();
    const r = await host.exec('keepalived', ['sh', '-c', `echo 'show stat' | socat -t 5 stdio unix-connect:${HAPROXY_SOCKET}`], undefined, 10_000);
    assert.equal(r.code, 1);
    assert.match(r.output, /No such file or directory/);
  });

  test('a restarted haproxy starts with every server ready', async () => {
    await cli('set server keystone_internal/ctl1 state drain');
    assert.equal(serversSetAside((await cli('show servers state')).output).length, 1);
    await docker.getContainer('haproxy').restart({ t: 1 });
    assert.deepEqual(serversSetAside((await cli('show servers state')).output), []);
  });
});
