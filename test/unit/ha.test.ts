// HA: what the plan makes of 3 control hosts (VIP, haproxy and keepalived, Galera, a RabbitMQ
// cluster, clients through the VIP), the refusals, and reconcile's rolling changes against
// in-memory hosts with a stand-in for haproxy's admin socket — which prove the order of the
// steps, not that haproxy, Galera or RabbitMQ do what the files ask (the HA end-to-end suite does).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { catalogSecrets } from '../../src/catalog/index.js';
import { InputError } from '../../src/config/errors.js';
import { genpwd } from '../../src/config/passwords.js';
import type { DeploymentContext } from '../../src/deployment/context.js';
import { chooseBootstrapNode, parseNodeState, type NodeState } from '../../src/deployment/galera.js';
import { ensureDeploymentId } from '../../src/deployment/identity.js';
import type { HostFacts } from '../../src/engine/host.js';
import { deploy } from '../../src/reconcile/deploy.js';
import { parseStat, serversSetAside } from '../../src/reconcile/load-balancer.js';
import { memoryContext, MemoryHost } from './memory-host.js';

const VIP = '10.0.0.250';
const inventory = `[control]
ctl1 ansible_host=10.0.0.11
ctl2 ansible_host=10.0.0.12
ctl3 ansible_host=10.0.0.13
[network:children]
control
[compute]
cmp1 ansible_host=10.0.0.21
[deployment]
localhost ansible_connection=local
`;

const facts: Record<string, HostFacts> = Object.fromEntries(
  [['ctl1', '10.0.0.11'], ['ctl2', '10.0.0.12'], ['ctl3', '10.0.0.13'], ['cmp1', '10.0.0.21']].map(([h, a]) => [h!, { hostname: `${h!}.example`, addresses: { eth0: a! }, interfaces: ['lo', 'eth0'] }]),
);
facts.localhost = { hostname: 'laptop', addresses: {}, interfaces: ['lo'] };
for (const h of ['ctl1', 'ctl2', 'ctl3', 'cmp1']) facts[h]!.prefixes = { eth0: 24 };

function configDir(globals = `network_interface: eth0\nkolla_internal_vip_address: "${VIP}"\n`, inv = inventory): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ha-'));
  writeFileSync(join(dir, 'globals.yml'), globals);
  writeFileSync(join(dir, 'multinode'), inv);
  genpwd(dir, catalogSecrets());
  ensureDeploymentId(dir);
  return dir;
}

const contextOf = (dir: string): ReturnType<typeof memoryContext> => memoryContext(dir, facts);

function fileOf(ctx: DeploymentContext, host: string, container: string, file: string): string {
  const c = ctx.plan.services.flatMap((s) => s.containers).find((x) => x.host === host && x.name === container);
  assert.ok(c, `${container} on ${host}`);
  const text = c.files[file];
  assert.ok(text !== undefined, `${file} of ${container}`);
  return text;
}

test('3 control hosts: haproxy and keepalived on each, every service through the VIP, Galera and RabbitMQ clusters', async () => {
  const { ctx } = await contextOf(configDir());
  const lb = ctx.plan.services.find((s) => s.service === 'loadbalancer')!;
  assert.deepEqual(lb.containers.map((c) => `${c.name}@${c.host}`), ['haproxy@ctl1', 'haproxy@ctl2', 'haproxy@ctl3', 'keepalived@ctl1', 'keepalived@ctl2', 'keepalived@ctl3']);
  for (const s of ctx.plan.services.filter((x) => x.service !== 'loadbalancer')) assert.ok(s.dependsOn.includes('loadbalancer'), s.service);
  assert.deepEqual(ctx.plan.loadBalancers, ['ctl1', 'ctl2', 'ctl3'].map((host) => ({ host, container: 'haproxy' })));

  const haproxy = fileOf(ctx, 'ctl2', 'haproxy', 'haproxy.cfg');
  assert.match(haproxy, new RegExp(`listen keystone\\n    bind ${VIP}:5000 transparent\\n`));
  assert.match(haproxy, /server ctl1 10\.0\.0\.11:5000 check\n {4}server ctl2 10\.0\.0\.12:5000 check\n {4}server ctl3 10\.0\.0\.13:5000 check\n/);
  // One Galera node takes every connection; the others wait; health is the clustercheck's answer.
  assert.match(haproxy, /listen mariadb\n[^]*?server ctl1 10\.0\.0\.11:3306 check port 4569\n {4}server ctl2 10\.0\.0\.12:3306 check port 4569 backup\n {4}server ctl3 10\.0\.0\.13:3306 check port 4569 backup\n/);
  // The clustercheck answers for its node: restarting it takes the node out, so it rolls, drained first.
  const check = ctx.plan.services.find((s) => s.service === 'mariadb')!.containers.find((c) => c.name === 'mariadb_clustercheck' && c.host === 'ctl2')!;
  assert.equal(check.rollout, 'rolling');
  // ...in its node's chain, so it never goes down while another node is out.
  assert.equal(check.rollsWith, 'mariadb');
  assert.deepEqual(check.balanced, [{ backend: 'mariadb', server: 'ctl2', checks: 'mariadb' }]);
  // haproxy and keepalived hand the VIP off before they stop.
  assert.match(lb.containers.find((c) => c.name === 'keepalived' && c.host === 'ctl1')!.handOff!.holds, new RegExp(`ip -o addr show to ${VIP.replace(/\./g, '\\.')} `));
  assert.match(haproxy, /stats socket \/var\/lib\/kolla\/haproxy\/haproxy\.sock/);
  for (const [host, priority] of [['ctl1', 250], ['ctl2', 249], ['ctl3', 248]] as const) {
    const conf = fileOf(ctx, host, 'keepalived', 'keepalived.conf');
    assert.match(conf, new RegExp(`priority ${priority}\\n`));
    assert.match(conf, new RegExp(`${VIP.replace(/\./g, '\\.')} dev eth0`));
    assert.match(conf, /nopreempt/);
    assert.doesNotMatch(conf, /unicast_peer/);
  }

  const galera = fileOf(ctx, 'ctl3', 'mariadb', 'galera.cnf');
  assert.match(galera, /wsrep_cluster_address = gcomm:\/\/10\.0\.0\.11:4567,10\.0\.0\.12:4567,10\.0\.0\.13:4567\n/);
  assert.match(galera, /wsrep_node_address = 10\.0\.0\.13:4567\n/);
  assert.match(galera, /bind-address = 10\.0\.0\.13\n/);
  const mariadb = ctx.plan.services.find((s) => s.service === 'mariadb')!;
  assert.ok(mariadb.containers.filter((c) => c.name === 'mariadb').every((c) => c.rollout === 'serial' && /wsrep_local_state_comment/.test(c.spec.healthcheck.test)));
  assert.deepEqual(mariadb.containers.filter((c) => c.name === 'mariadb_clustercheck').map((c) => c.host), ['ctl1', 'ctl2', 'ctl3']);

  const rabbit = fileOf(ctx, 'ctl1', 'rabbitmq', 'rabbitmq.conf');
  assert.match(rabbit, /cluster_formation\.peer_discovery_backend = classic_config\n/);
  assert.match(rabbit, /classic_config\.nodes\.3 = rabbit@ctl3\.example\n/);
  assert.match(fileOf(ctx, 'ctl1', 'rabbitmq', 'erl_inetrc'), /\{host, \{ 10,0,0,12 \}, \["ctl2\.example"\]\}\./);

  // Clients: the database and the APIs at the VIP; RabbitMQ and memcached at every node.
  const keystone = fileOf(ctx, 'ctl2', 'keystone', 'keystone.conf');
  assert.match(keystone, new RegExp(`@${VIP.replace(/\./g, '\\.')}:3306/keystone`));
  assert.match(keystone, /transport_url = rabbit:\/\/keystone:[^@]+@10\.0\.0\.11:5672,keystone:[^@]+@10\.0\.0\.12:5672,keystone:[^@]+@10\.0\.0\.13:5672\/\/\n/);
  assert.match(keystone, /rabbit_quorum_queue = true/);
  assert.match(keystone, /memcache_servers = 10\.0\.0\.11:11211,10\.0\.0\.12:11211,10\.0\.0\.13:11211/);
  assert.match(fileOf(ctx, 'cmp1', 'nova_compute', 'nova.conf'), new RegExp(`api_servers = http://${VIP.replace(/\./g, '\\.')}:9292`));
  assert.equal(ctx.plan.identityUrl, `http://${VIP}:5000`);
  // Each API container is a server of its frontends, named after its inventory host.
  const novaApi = ctx.plan.services.flatMap((s) => s.containers).find((c) => c.name === 'nova_api' && c.host === 'ctl2')!;
  assert.deepEqual(novaApi.balanced, [{ backend: 'nova_api', server: 'ctl2' }, { backend: 'nova_metadata', server: 'ctl2' }]);
});

test("glance's file store: on a named volume glance runs on the first host only (warned); on a shared directory on every one; endpoints at the VIP", async () => {
  const { ctx } = await contextOf(configDir());
  const glance = ctx.plan.services.find((s) => s.service === 'glance')!;
  assert.deepEqual(glance.containers.map((c) => c.host), ['ctl1']);
  assert.ok(ctx.warnings.some((w) => /^glance_api runs on ctl1 only, not on ctl2, ctl3: its images are files in the glance volume/.test(w)), ctx.warnings.join('\n'));
  const register = JSON.parse(glance.jobs.find((j) => j.name === 'glance_keystone')!.files['register.json']!) as { endpoints: { url: string }[] };
  assert.deepEqual([...new Set(register.endpoints.map((e) => e.url))], [`http://${VIP}:9292`]);
  assert.match(fileOf(ctx, 'ctl3', 'haproxy', 'haproxy.cfg'), /listen glance_api\n(?: {4}.*\n)*? {4}server ctl1 10\.0\.0\.11:9292 check\n\n/);
  const { ctx: shared } = await contextOf(configDir(`network_interface: eth0\nkolla_internal_vip_address: "${VIP}"\nglance_file_datadir_volume: /mnt/glance\n`));
  const everywhere = shared.plan.services.find((s) => s.service === 'glance')!.containers;
  assert.deepEqual(everywhere.map((c) => c.host), ['ctl1', 'ctl2', 'ctl3']);
  assert.ok(everywhere.every((c) => c.spec.volumes.includes('/mnt/glance:/var/lib/glance/images')));
  assert.ok(!shared.warnings.some((w) => /glance_api runs/.test(w)));
});

test('keepalived_traffic_mode unicast: each host lists the others as peers', async () => {
  const { ctx } = await contextOf(configDir(`network_interface: eth0\nkolla_internal_vip_address: "${VIP}"\nkeepalived_traffic_mode: unicast\n`));
  const conf = fileOf(ctx, 'ctl2', 'keepalived', 'keepalived.conf');
  assert.match(conf, /unicast_src_ip 10\.0\.0\.12\n {4}unicast_peer \{\n {8}10\.0\.0\.11\n {8}10\.0\.0\.13\n {4}\}/);
});

test('bad input: no VIP, a VIP that is a host\'s own address or outside the API network; enable_haproxy "no" keeps the first control host\'s address', async () => {
  await assert.rejects(contextOf(configDir('network_interface: eth0\n')), (err: unknown) => err instanceof InputError && /kolla_internal_vip_address is not set, but enable_haproxy is on/.test(err.message));
  await assert.rejects(
    contextOf(configDir('network_interface: eth0\nkolla_internal_vip_address: "10.0.0.12"\n')),
    (err: unknown) => err instanceof InputError && /kolla_internal_vip_address 10\.0\.0\.12 is host "ctl2"'s own address \(on eth0\)/.test(err.message),
  );
  await assert.rejects(
    contextOf(configDir('network_interface: eth0\nkolla_internal_vip_address: "10.0.9.250"\n')),
    (err: unknown) =>
      err instanceof InputError &&
      /kolla_internal_vip_address 10\.0\.9\.250 is outside the API network of loadbalancer host "ctl1" \(10\.0\.0\.11\/24 on eth0\)/.test(err.message) &&
      /10\.0\.0\.0\/24/.test(err.hint ?? ''),
  );
  const { ctx } = await contextOf(configDir('network_interface: eth0\nenable_haproxy: "no"\n'));
  assert.ok(!ctx.plan.services.some((s) => s.service === 'loadbalancer'));
  assert.equal(ctx.plan.identityUrl, 'http://10.0.0.11:5000');
  assert.equal(ctx.plan.loadBalancers, undefined);
});

test('an even number of Galera nodes is warned about, with the reason', async () => {
  const two = inventory.replace('ctl3 ansible_host=10.0.0.13\n', '');
  const { ctx } = await contextOf(configDir(undefined, two));
  assert.ok(ctx.warnings.some((w) => /\[mariadb\] has 2 hosts \(ctl1, ctl2\): a Galera cluster keeps working only while more than half of its nodes do, so losing 1 of them stops the database \(either one, with two\)/.test(w)), ctx.warnings.join('\n'));
  const { ctx: three } = await contextOf(configDir());
  assert.ok(!three.warnings.some((w) => /Galera/.test(w)));
});

/** A stand-in for haproxy's admin socket: server states per host, every command logged in `log`. */
function fakeHaproxy(hosts: Map<string, MemoryHost>, log: string[]): void {
  for (const [name, host] of hosts) {
    const states = new Map<string, string>();
    host.onExec = (container, cmd) => {
      if (container !== 'haproxy') return undefined;
      const line = /echo '([^']*)'/.exec(cmd.join(' '))?.[1] ?? '';
      const out: string[] = [];
      for (const c of line.split('; ')) {
        const set = /^set server (\S+) state (\S+)$/.exec(c);
        if (set) {
          states.set(set[1]!, set[2]!);
          log.push(`${name}: ${set[2]} ${set[1]}`);
        } else if (c === 'show stat') {
          out.push('# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,check_status');
          for (const [srv, st] of states) out.push(`${srv.replace('/', ',')},0,0,0,0,,0,0,0,0,0,,0,0,0,0,${st === 'ready' ? 'UP,L7OK' : `${st.toUpperCase()},`}`);
        } else if (c === 'show servers state') {
          out.push('1', '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state');
          for (const [srv, st] of states) out.push(`3 ${srv.split('/')[0]} 1 ${srv.split('/')[1]} 10.0.0.1 2 ${st === 'drain' ? 8 : st === 'maint' ? 1 : 0}`);
        }
      }
      return { code: 0, output: out.join('\n') };
    };
  }
}

test('rolling: Galera nodes are created one at a time; a keystone change restarts one host at a time, drained and readied in haproxy', async () => {
  const dir = configDir();
  const { ctx, hosts } = await contextOf(dir);
  const log: string[] = [];
  fakeHaproxy(hosts, log);
  for (const [name, host] of hosts) {
    host.onCall = () => {
      const last = host.calls.at(-1)!;
      if (/^(create|start|restart) (mariadb|mariadb_clustercheck|keystone)$/.test(last)) log.push(`${name}: ${last}`);
    };
  }
  const first = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
  assert.deepEqual(first.filter((r) => r.status === 'failed'), []);
  // Each Galera node's clustercheck, then the node, before the next node's; fresh keystone copies
  // start together.
  const galera = log.filter((l) => / (create|start) mariadb(_clustercheck)?$/.test(l));
  assert.deepEqual(
    galera,
    ['ctl1', 'ctl2', 'ctl3'].flatMap((h) => [`${h}: create mariadb_clustercheck`, `${h}: start mariadb_clustercheck`, `${h}: create mariadb`, `${h}: start mariadb`]),
  );

  mkdirSync(join(dir, 'config'), { recursive: true });
  writeFileSync(join(dir, 'config', 'keystone.conf'), '[token]\ncache_time = 301\n');
  const { ctx: changed } = await contextOf(dir);
  // The same in-memory hosts: what the first deploy made is there.
  log.length = 0;
  const second = await deploy({ plan: changed.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
  assert.deepEqual(second.filter((r) => r.status === 'failed'), []);
  const order = log.filter((l) => /keystone/.test(l));
  const expected = ['ctl1', 'ctl2', 'ctl3'].flatMap((h) => [
    ...['ctl1', 'ctl2', 'ctl3'].map((lb) => `${lb}: drain keystone/${h}`),
    `${h}: restart keystone`,
    ...['ctl1', 'ctl2', 'ctl3'].map((lb) => `${lb}: ready keystone/${h}`),
  ]);
  // Within one step the three load balancers go in any order: compare per host's block.
  const block = (lines: string[], h: string): string[] => lines.filter((l) => l.endsWith(`keystone/${h}`) || l === `${h}: restart keystone`).sort();
  for (const h of ['ctl1', 'ctl2', 'ctl3']) assert.deepEqual(block(order, h), block(expected, h));
  const restartAt = (h: string): number => order.indexOf(`${h}: restart keystone`);
  const readyDoneAt = (h: string): number => Math.max(...order.map((l, i) => (l.endsWith(`ready keystone/${h}`) ? i : -1)));
  const drainAt = (h: string): number => order.findIndex((l) => l.endsWith(`drain keystone/${h}`));
  assert.ok(readyDoneAt('ctl1') < drainAt('ctl2') && readyDoneAt('ctl2') < drainAt('ctl3'), order.join('\n'));
  assert.ok(drainAt('ctl1') < restartAt('ctl1'));
});

test('a server a killed run left drained is readied by the next deploy', async () => {
  const { ctx, hosts } = await contextOf(configDir());
  const log: string[] = [];
  fakeHaproxy(hosts, log);
  await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
  // As if a run was killed between drain and ready.
  await hosts.get('ctl2')!.exec('haproxy', ['sh', '-c', "echo 'set server keystone/ctl3 state drain' | socat"]);
  log.length = 0;
  const results = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
  const ready = results.find((r) => r.target === 'haproxy servers')!;
  assert.equal(ready.status, 'changed');
  assert.deepEqual(ready.reasons, ['left drained by an earlier run: keystone/ctl3']);
  assert.deepEqual(log, ['ctl2: ready keystone/ctl3']);
});

test('the VIP holder changes last and hands the VIP off first: the VIP moves once, never off a haproxy going down', async () => {
  const dir = configDir();
  const { ctx, hosts } = await contextOf(dir);
  fakeHaproxy(hosts, []);
  await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
  // keepalived as the hand-off file drives it: a fault gives the VIP to the first other host (priority order).
  const order = ['ctl1', 'ctl2', 'ctl3'];
  let vipOn = 'ctl1';
  const fault = new Set<string>();
  const log: string[] = [];
  for (const [name, host] of hosts) {
    const socket = host.onExec;
    host.onExec = (container, cmd) => {
      const line = cmd.join(' ');
      if (line.includes(`ip -o addr show to ${VIP}`)) return { code: vipOn === name ? 0 : 1, output: '' };
      if (/echo 1 > \S*hand-off/.test(line)) {
        fault.add(name);
        if (vipOn === name) vipOn = order.find((h) => !fault.has(h))!;
        log.push(`${name}: hand off (${container}); VIP on ${vipOn}`);
      } else if (/echo 0 > \S*hand-off/.test(line)) fault.delete(name);
      return socket?.(container, cmd);
    };
    host.onCall = () => {
      const last = host.calls.at(-1)!;
      if (/^(remove|restart) (haproxy|keepalived)$/.test(last)) log.push(`${name}: ${last}${vipOn === name ? ' HOLDING THE VIP' : ''}`);
    };
  }
  // A new statistics port: haproxy is recreated (its healthcheck) and keepalived restarted (its check script).
  writeFileSync(join(dir, 'globals.yml'), `network_interface: eth0\nkolla_internal_vip_address: "${VIP}"\nhaproxy_stats_port: 1985\n`);
  const { ctx: changed } = await contextOf(dir);
  const results = await deploy({ plan: changed.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId });
  assert.deepEqual(results.filter((r) => r.status === 'failed'), []);
  assert.equal(log.filter((l) => l.includes('HOLDING')).length, 0, log.join('\n'));
  // keepalived follows its host's haproxy: by the time ctl1's turn comes the VIP is on ctl2 already.
  assert.deepEqual(log.filter((l) => l.includes('hand off')), ['ctl1: hand off (haproxy); VIP on ctl2'], log.join('\n'));
  assert.deepEqual(log.filter((l) => / haproxy$/.test(l)).map((l) => l.split(':')[0]), ['ctl2', 'ctl3', 'ctl1']);
  assert.equal(fault.size, 0, 'every host takes part again');
});

test("haproxy's show stat and show servers state are read by column name and admin bit", () => {
  const stat = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,check_status\n' +
    'keystone,FRONTEND,,,0,1,8000,5,0,0,0,0,0,,,,,OPEN,,\nkeystone,ctl1,0,0,2,3,,9,0,0,,0,,0,0,0,0,UP,1,L7OK\nkeystone,ctl2,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2,1,L4CON\nkeystone,BACKEND,0,0,2,3,800,9,0,0,0,0,,0,0,0,0,UP,2,\n';
  assert.deepEqual(parseStat(stat), [
    { backend: 'keystone', server: 'ctl1', status: 'UP', check: 'L7OK', sessions: 2 },
    { backend: 'keystone', server: 'ctl2', status: 'UP 1/2', check: 'L4CON', sessions: 0 },
  ]);
  assert.throws(() => parseStat('Unknown command\n'), /unexpected header/);
  const state = '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n3 keystone 1 ctl1 10.0.0.11 2 0 1\n3 keystone 2 ctl2 10.0.0.12 0 1 1\n3 keystone 3 ctl3 10.0.0.13 2 8 1\n4 glance_api 1 ctl1 10.0.0.11 2 0 1\n';
  assert.deepEqual(serversSetAside(state), [{ backend: 'keystone', server: 'ctl2' }, { backend: 'keystone', server: 'ctl3' }]);
});

test('mariadb-recovery: bootstraps from the most advanced node; refuses when it cannot tell, with the figures', () => {
  const s = (host: string, seqno: number, extra: Partial<NodeState> = {}): NodeState => ({ host, uuid: 'aaaaaaaa-1111-2222-3333-444444444444', seqno, safeToBootstrap: false, source: 'grastate.dat', ...extra });
  assert.deepEqual(chooseBootstrapNode([s('ctl1', 10), s('ctl2', 12), s('ctl3', 11)]), { bootstrap: 'ctl2', rejoin: ['ctl1', 'ctl3'] });
  // A tie goes to the node Galera marked safe, else the first; a node without data only rejoins.
  assert.equal(chooseBootstrapNode([s('ctl1', 12), s('ctl2', 12, { safeToBootstrap: true }), s('ctl3', 11)]).bootstrap, 'ctl2');
  assert.deepEqual(chooseBootstrapNode([{ host: 'ctl1', seqno: -1, safeToBootstrap: false, source: 'none' }, s('ctl2', 5), s('ctl3', 5)]), { bootstrap: 'ctl2', rejoin: ['ctl1', 'ctl3'] });
  assert.throws(() => chooseBootstrapNode([s('ctl1', 10), s('ctl2', -1), s('ctl3', 9)]), (err: unknown) => err instanceof InputError && /position of ctl2 is unknown[^]*ctl1: cluster aaaaaaaa-1111-2222-3333-444444444444 seqno 10 \(grastate\.dat\)/.test(err.message));
  assert.throws(() => chooseBootstrapNode([s('ctl1', 10), s('ctl2', 12, { uuid: 'bbbbbbbb-1111-2222-3333-444444444444' })]), /data of 2 different clusters/);

  // grastate.dat as read, and a crashed node's position from --wsrep-recover.
  assert.deepEqual(parseNodeState('ctl1', 'berth:grastate aaaaaaaa-1111-2222-3333-444444444444 17 1\n'), s('ctl1', 17, { safeToBootstrap: true }));
  assert.deepEqual(
    parseNodeState('ctl2', 'berth:grastate aaaaaaaa-1111-2222-3333-444444444444 -1 0\nberth:recovered aaaaaaaa-1111-2222-3333-444444444444:42\n'),
    s('ctl2', 42, { source: 'wsrep-recover' }),
  );
  assert.deepEqual(parseNodeState('ctl3', 'berth:grastate\n'), { host: 'ctl3', seqno: -1, safeToBootstrap: false, source: 'none' });
});
