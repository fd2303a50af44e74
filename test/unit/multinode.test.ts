// Multinode: inventory groups, per-host facts and addresses, empty groups, --limit, the tools'
// host, unreachable hosts, the recap. Pure parts, plus reconcile's scheduling decisions against
// in-memory hosts (memory-host.ts) — which prove the decisions, not that a multinode deploy works.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { catalog, catalogGroups, catalogSecrets } from '../../src/catalog/index.js';
import { InputError } from '../../src/config/errors.js';
import { hostsOf, parseInventory, resolveLimit } from '../../src/config/inventory.js';
import { genpwd } from '../../src/config/passwords.js';
import { gatherFacts, loadContext, toolHost, toolHostName, type DeploymentContext } from '../../src/deployment/context.js';
import { ensureDeploymentId } from '../../src/deployment/identity.js';
import type { Host, HostFacts } from '../../src/engine/host.js';
import { deploy, type StepResult } from '../../src/reconcile/deploy.js';
import { HostGate, limitWarnings, skipReason } from '../../src/reconcile/scope.js';
import { recapHosts } from '../../src/ui/deploy-report.js';
import { inventoryProblems } from '../../src/cli/deploy-commands.js';
import { memoryContext, MemoryHost } from './memory-host.js';

const groups = catalogGroups();
const parse = (text: string) => parseInventory('multinode', text, { defaultGroups: groups });

// 1 control, 1 network, 2 compute hosts, and the deployment host; compute hosts use ens4 ([compute:vars]).
const inventory = `[control]
ctl01 ansible_host=10.0.0.11
[network]
net01 ansible_host=10.0.0.31
[compute]
cmp01 ansible_host=10.0.0.21
cmp02 ansible_host=10.0.0.22 tunnel_interface=ens5
[deployment]
localhost ansible_connection=local
[compute:vars]
network_interface=ens4
`;

const facts: Record<string, HostFacts> = {
  ctl01: { hostname: 'ctl01.example', addresses: { eth0: '10.0.0.11' }, interfaces: ['lo', 'eth0'] },
  net01: { hostname: 'net01.example', addresses: { eth0: '10.0.0.31' }, interfaces: ['lo', 'eth0', 'eth1'] },
  cmp01: { hostname: 'cmp01.example', addresses: { ens4: '10.0.1.21' }, interfaces: ['lo', 'ens4'] },
  cmp02: { hostname: 'cmp02.example', addresses: { ens4: '10.0.1.22', ens5: '10.0.2.22' }, interfaces: ['lo', 'ens4', 'ens5'] },
  // The machine berth runs on: no eth0 there, and none is needed (nothing but tools runs on it).
  localhost: { hostname: 'laptop', addresses: { wlan0: '192.168.1.5' }, interfaces: ['lo', 'wlan0'] },
};

function configDir(inv = inventory, globals = 'network_interface: eth0\n'): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-multinode-'));
  writeFileSync(join(dir, 'globals.yml'), globals);
  writeFileSync(join(dir, 'multinode'), inv);
  genpwd(dir, catalogSecrets());
  ensureDeploymentId(dir);
  return dir;
}

/** The context with in-memory hosts answering with `facts`; the named ones unreachable. */
async function contextOf(dir: string, unreachable: string[] = [], forks = 10): Promise<{ ctx: DeploymentContext; hosts: Map<string, MemoryHost> }> {
  return memoryContext(dir, facts, unreachable, forks);
}

test("kolla-ansible's per-service groups: defaults when the inventory does not define them, its own when it does", () => {
  const inv = parse(inventory);
  assert.deepEqual(hostsOf(inv, 'nova-compute'), ['cmp01', 'cmp02']);
  assert.deepEqual(hostsOf(inv, 'neutron-server'), ['ctl01']);
  assert.deepEqual(hostsOf(inv, 'neutron-l3-agent'), ['net01']);
  // Ansible's order: a group's own hosts, then its children's, breadth first.
  assert.deepEqual(hostsOf(inv, 'neutron-openvswitch-agent'), ['cmp01', 'cmp02', 'net01']);
  assert.deepEqual(hostsOf(inv, 'openvswitch'), ['cmp01', 'cmp02', 'net01']);
  assert.deepEqual(hostsOf(inv, 'loadbalancer'), ['net01']);
  assert.deepEqual(hostsOf(inv, 'glance-api'), ['ctl01']);
  // Moving the `neutron` group moves every agent that follows it, as in kolla-ansible.
  const onControl = parse(`${inventory}[neutron:children]\ncontrol\n`);
  assert.deepEqual(hostsOf(onControl, 'neutron-dhcp-agent'), ['ctl01']);
  assert.deepEqual(hostsOf(onControl, 'neutron-openvswitch-agent'), ['cmp01', 'cmp02', 'ctl01']);
  // A per-service group may hold hosts directly, and take [group:vars].
  const narrowed = parse(`${inventory}[nova-compute]\ncmp02\n[nova-compute:vars]\nx=1\n`);
  assert.deepEqual(hostsOf(narrowed, 'nova-compute'), ['cmp02']);
  assert.equal(narrowed.groups.get('nova-compute')!.vars.x, '1');
  // A cycle through a default is reported at the line the file wrote, naming the default.
  assert.throws(
    () => parse('[control]\nctl01\n[network:children]\nneutron\n'),
    (err: unknown) => err instanceof InputError && /^multinode:4: \[network:children\] makes a cycle: network → neutron → network \(berth's default \[neutron:children\] network/.test(err.message),
  );
});

test('--limit: hosts and groups, comma or colon separated, ! excludes, an unknown name is exit 2 with a did-you-mean', () => {
  const inv = parse(inventory);
  assert.deepEqual([...resolveLimit(inv, 'compute')], ['cmp01', 'cmp02']);
  assert.deepEqual([...resolveLimit(inv, 'ctl01,net01:cmp02')], ['ctl01', 'net01', 'cmp02']);
  assert.deepEqual([...resolveLimit(inv, 'all,!compute')], ['ctl01', 'net01', 'localhost']);
  assert.deepEqual([...resolveLimit(inv, '!control')], ['net01', 'cmp01', 'cmp02', 'localhost']);
  assert.throws(
    () => resolveLimit(inv, 'cmp03'),
    (err: unknown) => err instanceof InputError && err.message === '--limit: "cmp03" is neither a host nor a group of multinode; did you mean "cmp01"?',
  );
  assert.throws(() => resolveLimit(inv, ' , '), /--limit is empty/);
});

test('the tools run on the [deployment] host; none there is exit 2 saying what to add', async () => {
  assert.equal(toolHostName(parse(inventory)), 'localhost');
  const without = parse('[control]\nctl01\n');
  assert.throws(() => toolHostName(without), (err: unknown) => err instanceof InputError && /multinode: no host in \[deployment\]/.test(err.message) && /localhost ansible_connection=local/.test(err.hint ?? ''));
  const { ctx } = await contextOf(configDir());
  assert.equal(toolHost(ctx).name, 'localhost');
  const lost = await contextOf(configDir(), ['localhost']);
  assert.throws(() => toolHost(lost.ctx), /the deployment host localhost is unreachable: .*No route to host/);
});

test('1 control + 1 network + 2 compute: which containers land where, with each host\'s own addresses', async () => {
  const { ctx } = await contextOf(configDir());
  const p = ctx.plan;
  const on = (host: string) => p.services.flatMap((s) => s.containers).filter((c) => c.host === host).map((c) => c.name).sort();
  assert.deepEqual(on('ctl01'), [
    'glance_api', 'heat_api', 'heat_engine', 'horizon', 'keystone', 'mariadb', 'memcached', 'neutron_server',
    'nova_api', 'nova_conductor', 'nova_scheduler', 'placement_api', 'rabbitmq',
  ]);
  assert.deepEqual(on('net01'), ['neutron_dhcp_agent', 'neutron_l3_agent', 'neutron_metadata_agent', 'neutron_openvswitch_agent', 'openvswitch_db', 'openvswitch_vswitchd']);
  for (const cmp of ['cmp01', 'cmp02']) assert.deepEqual(on(cmp), ['neutron_openvswitch_agent', 'nova_compute', 'openvswitch_db', 'openvswitch_vswitchd']);
  assert.deepEqual(on('localhost'), []);
  // One-shot jobs on the service's first host; host setup where the agents are.
  const jobs = p.services.flatMap((s) => s.jobs);
  assert.ok(jobs.filter((j) => !j.name.endsWith('_host_setup')).every((j) => j.host === 'ctl01'));
  assert.deepEqual(jobs.filter((j) => j.name === 'neutron_host_setup').map((j) => j.host).sort(), ['cmp01', 'cmp02', 'net01']);

  const file = (host: string, name: string, f: string) => p.services.flatMap((s) => s.containers).find((c) => c.host === host && c.name === name)!.files[f]!;
  // Each compute host: its own name and api address (its ens4, from [compute:vars]), its own tunnel endpoint.
  assert.match(file('cmp01', 'nova_compute', 'nova.conf'), /host = cmp01\.example\nmy_ip = 10\.0\.1\.21\n/);
  assert.match(file('cmp02', 'nova_compute', 'nova.conf'), /host = cmp02\.example\nmy_ip = 10\.0\.1\.22\n/);
  assert.match(file('cmp01', 'neutron_openvswitch_agent', 'openvswitch_agent.ini'), /local_ip = 10\.0\.1\.21/);
  assert.match(file('cmp02', 'neutron_openvswitch_agent', 'openvswitch_agent.ini'), /local_ip = 10\.0\.2\.22/);
  assert.match(file('net01', 'neutron_openvswitch_agent', 'openvswitch_agent.ini'), /local_ip = 10\.0\.0\.31/);
  assert.match(file('net01', 'neutron_l3_agent', 'neutron.conf'), /host = net01\.example/);
  // Peers: the database, the broker, keystone and memcached on the control host; the VIP defaults to it.
  const computeConf = file('cmp02', 'nova_compute', 'nova.conf');
  assert.match(computeConf, /transport_url = rabbit:\/\/nova:[^@]+@10\.0\.0\.11:5672\/\//);
  assert.match(computeConf, /auth_url = http:\/\/10\.0\.0\.11:5000/);
  assert.match(file('ctl01', 'nova_api', 'nova.conf'), /connection = mysql\+pymysql:\/\/nova_api:[^@]+@10\.0\.0\.11:3306\/nova_api/);
  assert.match(file('ctl01', 'keystone', 'keystone.conf'), /memcache_servers = 10\.0\.0\.11:11211|10\.0\.0\.11:11211/);
  assert.match(file('net01', 'neutron_metadata_agent', 'metadata_agent.ini'), /nova_metadata_host = 10\.0\.0\.11/);
  assert.equal(p.identityUrl, 'http://10.0.0.11:5000');
  // Compute hosts are mapped into the cell by their hostnames.
  const discover = jobs.find((j) => j.name === 'nova_discover_hosts')!;
  assert.equal(discover.spec.environment.NOVA_DISCOVER_HOSTS, 'cmp01.example cmp02.example');
  assert.deepEqual(p.hostnames, Object.fromEntries(Object.entries(facts).map(([h, f]) => [h, f.hostname])));
  assert.deepEqual(inventoryProblems(ctx), []);
});

test('an enabled service whose group is empty is exit 2 naming the inventory, the group, the service and what to add', async () => {
  const noCompute = inventory.replace(/\[compute\]\ncmp01[^\n]*\ncmp02[^\n]*\n/, '[compute]\n').replace('[compute:vars]\nnetwork_interface=ens4\n', '');
  const dir = configDir(noCompute);
  await assert.rejects(contextOf(dir), (err: unknown) => {
    assert.ok(err instanceof InputError);
    assert.equal(err.message, `${join(dir, 'multinode')}: group "nova-compute" has no host (it takes its hosts from [compute]), but nova (enable_nova in globals.yml) runs nova_compute there`);
    assert.equal(err.hint, `add a host under [compute] in ${join(dir, 'multinode')}, or set enable_nova: "no" in globals.yml`);
    return true;
  });
  // With nova and neutron off nothing needs a compute host.
  await contextOf(configDir(noCompute, 'network_interface: eth0\nenable_nova: "no"\nenable_neutron: "no"\nenable_heat: "no"\n'));
});

test("an interface a host lacks is exit 2 naming the host, its line, the interface and the interfaces it has — only where it is used", async () => {
  const dir = configDir(inventory.replace('net01 ansible_host=10.0.0.31', 'net01 ansible_host=10.0.0.31 tunnel_interface=eth1'));
  await assert.rejects(contextOf(dir), (err: unknown) => {
    assert.ok(err instanceof InputError);
    assert.equal(err.message, `${join(dir, 'multinode')}:4: host "net01": its tunnel_interface eth1 has no IPv4 address on that host (its interfaces: lo, eth0, eth1)`);
    assert.match(err.hint ?? '', /set tunnel_interface for this host in the inventory/);
    return true;
  });
  // localhost has no eth0, and ctl01 no tunnel address: neither is needed, so neither is an error (the first test planned them).
});

test('an unreachable compute host: its steps and what needs its facts are skipped with the reason; every other host goes on', async () => {
  const { ctx } = await contextOf(configDir(), ['cmp02']);
  assert.deepEqual([...ctx.unreachable.keys()], ['cmp02']);
  // Planned all the same; what its facts would fill in is marked.
  const cmp02 = ctx.plan.services.flatMap((s) => s.containers).filter((c) => c.host === 'cmp02');
  assert.deepEqual(cmp02.filter((c) => c.needsFactsOf?.includes('cmp02')).map((c) => c.name).sort(), ['neutron_openvswitch_agent', 'nova_compute']);
  const discover = ctx.plan.services.flatMap((s) => s.jobs).find((j) => j.name === 'nova_discover_hosts')!;
  assert.deepEqual(discover.needsFactsOf, ['cmp02']);
  assert.ok(ctx.plan.services.flatMap((s) => s.containers).filter((c) => c.host !== 'cmp02').every((c) => c.needsFactsOf === undefined));

  const unreachable = new Map(ctx.unreachable);
  const events: string[] = [];
  const results = await deploy({
    plan: ctx.plan,
    hosts: ctx.hosts,
    deploymentId: ctx.deploymentId,
    unreachable,
    forks: 2,
    onEvent: (ev) => void (ev.type === 'host-unreachable' && events.push(ev.host)),
  });
  assert.deepEqual(events, ['cmp02']);
  const of = (host: string) => results.filter((r) => r.host === host);
  assert.ok(of('cmp02').length && of('cmp02').every((r) => r.status === 'skipped' && /^host cmp02 is unreachable: .*No route to host/.test(r.reasons[0]!)));
  const skippedDiscover = results.find((r) => r.target === 'nova_discover_hosts')!;
  assert.equal(skippedDiscover.status, 'skipped');
  assert.deepEqual(skippedDiscover.reasons, ['its configuration needs the address or name of cmp02, unreachable']);
  assert.deepEqual(results.filter((r) => r.status === 'failed'), []);
  // nova runs elsewhere, so heat and horizon (after it) still deploy.
  for (const host of ['ctl01', 'net01', 'cmp01']) assert.ok(of(host).length && of(host).every((r) => r.status === 'changed' || r === skippedDiscover), host);
  assert.ok(results.some((r) => r.target === 'horizon' && r.status === 'changed'));

  const recap = recapHosts(results, ctx.plan.hosts, unreachable);
  assert.deepEqual(recap.map((h) => h.host), ['ctl01', 'net01', 'cmp01', 'cmp02', 'localhost']);
  assert.deepEqual(recap.find((h) => h.host === 'cmp02'), { host: 'cmp02', ok: 0, changed: 0, failed: 0, skipped: of('cmp02').length, unreachable: true, reason: unreachable.get('cmp02') });
  assert.deepEqual(recap.find((h) => h.host === 'localhost'), { host: 'localhost', ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: false });
});

test('the control host unreachable: services placed only there are skipped, their dependants with them; the rest goes on', async () => {
  const { ctx } = await contextOf(configDir(), ['ctl01']);
  const results = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId, unreachable: new Map(ctx.unreachable) });
  const find = (host: string, target: string): StepResult | undefined => results.find((r) => r.host === host && r.target === target);
  // Open vSwitch needs nothing of the control host.
  assert.equal(find('net01', 'openvswitch_vswitchd')?.status, 'changed');
  assert.equal(find('cmp01', 'openvswitch_db')?.status, 'changed');
  assert.match(find('ctl01', 'mariadb')!.reasons[0]!, /^host ctl01 is unreachable/);
  const neutron = find('-', 'neutron')!;
  assert.equal(neutron.status, 'skipped');
  assert.match(neutron.reasons[0]!, /depends on mariadb, which runs only on unreachable hosts/);
  assert.deepEqual(results.filter((r) => r.status === 'failed'), []);
});

test('--limit: only the selected hosts are read and changed; what it leaves out of the services it touches is warned about', async () => {
  const { ctx, hosts } = await contextOf(configDir());
  const limit = resolveLimit(ctx.deployment.inventory, 'cmp01');
  const results = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId, limit });
  assert.deepEqual([...new Set(results.map((r) => r.host))], ['cmp01']);
  assert.ok(results.every((r) => r.status === 'changed'));
  for (const other of ['ctl01', 'net01', 'cmp02', 'localhost']) {
    assert.deepEqual(hosts.get(other)!.calls.filter((c) => !/^(ping|facts)/.test(c)), [], `${other} untouched`);
  }
  const warnings = limitWarnings(ctx.plan, limit);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^--limit leaves out part of openvswitch \(on cmp02, net01\), neutron \(on ctl01, cmp02, net01\), nova \(on ctl01, cmp02\): what runs there is neither checked nor changed/);
  assert.equal(warnings[1], '--limit leaves out mariadb, memcached, rabbitmq, keystone, glance, placement, which the services it touches depend on: they are assumed to be up');
  assert.deepEqual(limitWarnings(ctx.plan, undefined), []);
});

test('skip reasons: the host itself, then the facts of others', () => {
  const scope = { unreachable: new Map([['cmp02', 'timed out']]) };
  assert.equal(skipReason(scope, { host: 'cmp02', needsFactsOf: ['cmp02'] }), 'host cmp02 is unreachable: timed out');
  assert.equal(skipReason(scope, { host: 'ctl01', needsFactsOf: ['cmp02'] }), 'its configuration needs the address or name of cmp02, unreachable');
  assert.equal(skipReason(scope, { host: 'ctl01' }), undefined);
});

test('forks: at most N distinct hosts at once; more steps on a host that holds a place go ahead', async () => {
  const gate = new HostGate(2);
  let most = 0;
  const work = (host: string, ms: number) =>
    gate.run(host, async () => {
      most = Math.max(most, gate.busy.length);
      await new Promise((r) => setTimeout(r, ms));
    });
  const order: string[] = [];
  await Promise.all([
    work('a', 20).then(() => order.push('a')),
    work('b', 40).then(() => order.push('b')),
    work('a', 5).then(() => order.push('a2')),
    work('c', 1).then(() => order.push('c')),
  ]);
  assert.equal(most, 2);
  // a's second step did not wait for c; c waited for a place.
  assert.ok(order.indexOf('a2') < order.indexOf('c') && order.indexOf('a') < order.indexOf('c'), order.join());
  assert.throws(() => new HostGate(0), /positive integer/);
});

test('facts: read at most --forks hosts at a time; an unreachable host is kept with its reason, any other failure stops', async () => {
  const hosts = new Map<string, Host>(['h1', 'h2', 'h3'].map((n) => [n, new MemoryHost(n, { hostname: `${n}.example`, addresses: { eth0: '10.0.0.1' }, interfaces: ['eth0'] })]));
  (hosts.get('h2') as MemoryHost).unreachable = 'connection refused';
  let inFlight = 0;
  let most = 0;
  for (const h of hosts.values()) {
    (h as MemoryHost).onCall = async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
    };
  }
  const { facts: got, unreachable } = await gatherFacts(hosts, { h1: ['eth0', 'eth9'] }, 1);
  assert.equal(most, 1);
  assert.deepEqual(Object.keys(got).sort(), ['h1', 'h3']);
  assert.deepEqual(got.h1!.addresses, { eth0: '10.0.0.1', eth9: undefined });
  assert.deepEqual([...unreachable], [['h2', 'connection refused']]);
  (hosts.get('h3') as MemoryHost).onCall = () => {
    throw new Error('permission denied');
  };
  await assert.rejects(gatherFacts(hosts, {}, 10), /permission denied/);
});

test('prechecks: two hosts answering with one hostname are named', async () => {
  const same = { ...facts.cmp02!, hostname: 'cmp01.example' };
  const hosts = new Map<string, MemoryHost>();
  const ctx = await loadContext(configDir(), { connect: (h) => (hosts.set(h.name, new MemoryHost(h.name, h.name === 'cmp02' ? same : facts[h.name])), hosts.get(h.name)!) });
  assert.deepEqual(inventoryProblems(ctx), [
    'hosts cmp01, cmp02 all have the hostname "cmp01.example": nova, neutron and RabbitMQ would take them for one host; give each machine its own hostname',
  ]);
  void catalog;
});

test('the reporter: an unreachable host is a line of its own and in the recap, in text and JSON', async () => {
  const { DeployReporter } = await import('../../src/ui/deploy-report.js');
  const { PassThrough } = await import('node:stream');
  const run = (format: 'text' | 'json'): string => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const r = new DeployReporter(format, ['s3cret-value'], out);
    r.onEvent({ type: 'host-unreachable', host: 'cmp02', reason: 'no route to host (password s3cret-value)' });
    const results: StepResult[] = [{ host: 'cmp01', target: 'nova_compute', action: 'create', status: 'changed', reasons: [], durationMs: 5 }];
    r.recap(results, { hosts: ['cmp01', 'cmp02'], unreachable: new Map([['cmp02', 'no route to host']]) });
    // picocolors colours when CI is set; the test reads the words.
    return stripVTControlCharacters(chunks.join(''));
  };
  const text = run('text');
  assert.match(text, /cmp02 {2}UNREACHABLE no route to host \(password \*{8}\)/);
  assert.ok(text.includes('HOST   OK  CHANGED  FAILED  SKIPPED  UNREACHABLE\n-----  --  -------  ------  -------  -----------\ncmp01   0        1       0        0  no\ncmp02   0        0       0        0  yes\n'), text);
  assert.match(text, /unreachable cmp02: no route to host/);
  const events = run('json').trim().split('\n').map((l) => JSON.parse(l) as { type: string; hosts?: unknown });
  assert.equal(events[0]!.type, 'host-unreachable');
  assert.deepEqual(events[1]!.hosts, [
    { host: 'cmp01', ok: 0, changed: 1, failed: 0, skipped: 0, unreachable: false },
    { host: 'cmp02', ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: true, reason: 'no route to host' },
  ]);
});

test('netdev between hosts: each OVS agent host gets br-tunnel holding its tunnel interface and address; one host alone none', async () => {
  const netdev = 'network_interface: eth0\novs_datapath_type: netdev\n';
  // Hosts that tunnel on their API interface are refused: that address would move onto the bridge.
  await assert.rejects(contextOf(configDir(inventory, netdev)), (err: unknown) =>
    err instanceof InputError && /: host "\w+": tunnel_interface \w+ is also its api_interface/.test(err.message) && /tunnel_interface=IFACE/.test(err.hint ?? ''),
  );
  const tunnels = [
    '[control]\nctl01 ansible_host=10.0.0.11',
    '[network]\nnet01 ansible_host=10.0.0.31 tunnel_interface=eth1 tunnel_address=10.0.3.31',
    '[compute]\ncmp02 ansible_host=10.0.0.22 tunnel_interface=ens5',
    '[compute:vars]\nnetwork_interface=ens4',
    '[deployment]\nlocalhost ansible_connection=local\n',
  ].join('\n');
  const { ctx } = await contextOf(configDir(tunnels, netdev));
  const jobs = ctx.plan.services.flatMap((s) => s.jobs);
  const setup = (host: string): string => Object.values(jobs.find((j) => j.name === 'neutron_host_setup' && j.host === host)!.files).join('\n');
  // cmp02 tunnels on ens5 (its own tunnel_interface), cmp01 on its network_interface ens4.
  assert.match(setup('cmp02'), /add-port br-tunnel ens5\n/);
  assert.match(setup('cmp02'), /awk '\$4 ~ \/\^10\\\.0\\\.2\\\.22\\\/\/ \{ print \$4 \}'/);
  assert.match(setup('net01'), /add-port br-tunnel eth1\n/);
  const teardown = ctx.plan.services.flatMap((s) => s.teardown).find((j) => j.name === 'openvswitch_host_teardown' && j.host === 'cmp02')!;
  assert.match(Object.values(teardown.files).join('\n'), /ip addr add "\$cidr" dev ens5/);
  assert.match(Object.values(teardown.files).join('\n'), /ip -o -4 addr show dev br-tunnel \|/);
  assert.match(setup('cmp02'), /ip addr add "\$cidr" dev br-tunnel\n/);

  // A second deploy: the address is on br-tunnel now, not on ens5; the plan still tunnels from it.
  const movedFacts = { ...facts.cmp02!, addresses: { ens4: '10.0.1.22', 'br-tunnel': '10.0.2.22' }, interfaces: ['lo', 'ens4', 'ens5', 'br-tunnel'] };
  const saved = facts.cmp02!;
  facts.cmp02 = movedFacts;
  try {
    const again = await contextOf(configDir(tunnels, netdev));
    const agent = again.ctx.plan.services.flatMap((s) => s.containers).find((c) => c.name === 'neutron_openvswitch_agent' && c.host === 'cmp02')!;
    assert.match(Object.values(agent.files).join('\n'), /local_ip = 10\.0\.2\.22\n/);
  } finally {
    facts.cmp02 = saved;
  }

  // The all-in-one has no peer to tunnel to: no bridge.
  const aio = await contextOf(configDir('[control]\nctl01\n[network:children]\ncontrol\n[compute:children]\ncontrol\n[deployment]\nlocalhost ansible_connection=local\n', 'network_interface: eth0\novs_datapath_type: netdev\n'));
  const aioSetup = Object.values(aio.ctx.plan.services.flatMap((s) => s.jobs).find((j) => j.name === 'neutron_host_setup')!.files).join('\n');
  assert.doesNotMatch(aioSetup, /br-tunnel/);
});
