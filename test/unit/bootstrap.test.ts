// bootstrap-servers' pure parts (daemon.json merge, the /etc/hosts block, modules and sysctls per
// host, the script's output) and its workflow against fake hosts that answer as the script does.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { catalogGroups } from '../../src/catalog/index.js';
import { loadDeployment, type Deployment } from '../../src/config/deployment.js';
import { bootstrapServers, type BootstrapEvent } from '../../src/deployment/bootstrap.js';
import { explainFailure, parseHostState, parseScriptLine, type BootstrapTarget } from '../../src/engine/bootstrap.js';
import { EngineError } from '../../src/engine/docker.js';
import type { HostFacts } from '../../src/engine/host.js';
import { bootstrapHosts, hostNames, hostPrep, hostsBlock, insecureRegistry, mergeDaemonJson, replaceHostsBlock } from '../../src/plan/bootstrap.js';

const inventory = `[control]
ctl01 ansible_host=10.0.0.11
[network]
net01 ansible_host=10.0.0.31
[compute]
cmp01 ansible_host=10.0.0.21
[deployment]
localhost ansible_connection=local
`;

function deploymentOf(globals = 'network_interface: eth0\n', inv = inventory): Deployment {
  const dir = mkdtempSync(join(tmpdir(), 'berth-boot-'));
  writeFileSync(join(dir, 'globals.yml'), globals);
  writeFileSync(join(dir, 'multinode'), inv);
  // No passwords.yml: bootstrap-servers runs before genpwd.
  return loadDeployment(dir, { requiredSecrets: [], passwords: false, defaultGroups: catalogGroups() }).deployment;
}

test('daemon.json: berth settings merged in, unknown keys kept, a second merge changes nothing', () => {
  const fresh = mergeDaemonJson(undefined, '10.0.0.5:4000');
  assert.deepEqual(JSON.parse(fresh.text), { 'log-driver': 'json-file', 'log-opts': { 'max-size': '50m', 'max-file': '5' }, 'live-restore': true, 'insecure-registries': ['10.0.0.5:4000'] });
  assert.equal(fresh.apply, 'restart');
  const again = mergeDaemonJson(fresh.text, '10.0.0.5:4000');
  assert.deepEqual(again, { text: fresh.text, changed: false, keys: [], apply: 'none' });

  const own = '{"data-root": "/srv/docker", "log-opts": {"max-size": "10m", "labels": "x"}, "insecure-registries": ["r:5000"]}';
  const merged = mergeDaemonJson(own, '10.0.0.5:4000');
  const m = JSON.parse(merged.text) as Record<string, unknown>;
  assert.equal(m['data-root'], '/srv/docker');
  assert.deepEqual(m['log-opts'], { 'max-size': '10m', 'max-file': '5', labels: 'x' }, "the operator's own max-size wins");
  assert.deepEqual(m['insecure-registries'], ['r:5000', '10.0.0.5:4000']);
  // Formatting of an equivalent file is the operator's: left as it is.
  const compact = JSON.stringify(JSON.parse(fresh.text));
  assert.equal(mergeDaemonJson(compact, '10.0.0.5:4000').changed, false);
});

test('daemon.json: reload for reloadable keys, restart for log options; another log driver keeps its options', () => {
  const base = { 'log-driver': 'json-file', 'log-opts': { 'max-size': '50m', 'max-file': '5' }, 'live-restore': true };
  assert.deepEqual(mergeDaemonJson(JSON.stringify(base), '10.0.0.5:4000').keys, ['insecure-registries']);
  assert.equal(mergeDaemonJson(JSON.stringify(base), '10.0.0.5:4000').apply, 'reload');
  assert.equal(mergeDaemonJson(JSON.stringify({ ...base, 'live-restore': false }), '').apply, 'reload');
  assert.equal(mergeDaemonJson(JSON.stringify({ 'live-restore': true }), '').apply, 'restart');
  const journald = JSON.parse(mergeDaemonJson('{"log-driver": "journald"}', '').text) as Record<string, unknown>;
  assert.deepEqual(journald, { 'log-driver': 'journald', 'live-restore': true });
  assert.throws(() => mergeDaemonJson('{not json', ''), SyntaxError);
  assert.throws(() => mergeDaemonJson('[1]', ''), /not a JSON object/);
  assert.equal(mergeDaemonJson('', '').changed, true, 'an empty file is filled');
});

test('insecure registries: only a non-loopback host:port', () => {
  assert.equal(insecureRegistry('192.0.2.10:4000'), '192.0.2.10:4000');
  assert.equal(insecureRegistry('registry.lan:5000'), 'registry.lan:5000');
  assert.equal(insecureRegistry('[2001:db8::1]:5000'), '[2001:db8::1]:5000');
  for (const r of ['', 'quay.io', '127.0.0.1:4000', 'localhost:5000', '[::1]:5000', '127.0.1.2:80']) assert.equal(insecureRegistry(r), undefined, r);
});

test('/etc/hosts: the block appended, then replaced where it is; nothing else touched', () => {
  const block = hostsBlock([{ address: '10.0.0.11', names: ['ctl01.lan', 'ctl01'] }]);
  const original = '127.0.0.1\tlocalhost\n10.9.9.9 other # kept\n';
  const first = replaceHostsBlock(original, block);
  assert.equal(first, original + block);
  assert.equal(replaceHostsBlock(first, block), first, 'idempotent');
  const after = first + '192.0.2.1 added-later\n';
  const newer = hostsBlock([{ address: '10.0.0.12', names: ['ctl02'] }]);
  assert.equal(replaceHostsBlock(after, newer), original + newer + '192.0.2.1 added-later\n');
  assert.equal(replaceHostsBlock('127.0.0.1 localhost', block), '127.0.0.1 localhost\n' + block, 'a file without a final newline');
  assert.equal(replaceHostsBlock(block, newer), newer);
  assert.throws(() => replaceHostsBlock('# BEGIN berth\n10.0.0.1 x\n', block), /no "# END berth"/);
  assert.deepEqual(hostNames('ctl01.lan', 'ctl01'), ['ctl01.lan', 'ctl01']);
  assert.deepEqual(hostNames('node7', 'localhost'), ['node7'], '"localhost" is never given to another address');
});

test('modules and sysctls follow what runs on the host', () => {
  const d = deploymentOf();
  const names = (host: string): string[] => hostPrep(d, host).modules.map((m) => m.name);
  const keys = (host: string): string[] => hostPrep(d, host).sysctls.map((s) => s.key);
  assert.deepEqual(names('ctl01'), []);
  assert.deepEqual(keys('ctl01'), ['net.ipv4.ip_forward']);
  // Network host: the agents (iptables, L3), Open vSwitch with the kernel datapath (the default).
  assert.deepEqual(names('net01'), ['br_netfilter', 'nf_tables', 'openvswitch', 'tun']);
  assert.equal(hostPrep(d, 'net01').modules.find((m) => m.name === 'openvswitch')?.required, true);
  assert.ok(keys('net01').includes('net.ipv4.conf.all.rp_filter') && keys('net01').includes('net.ipv6.neigh.default.gc_thresh3'));
  assert.deepEqual(names('cmp01'), ['br_netfilter', 'nf_tables', 'openvswitch', 'tun']);
  assert.ok(keys('cmp01').includes('net.bridge.bridge-nf-call-iptables') && !keys('cmp01').includes('net.ipv4.conf.all.rp_filter'));

  const netdevKvm = deploymentOf('network_interface: eth0\novs_datapath_type: netdev\nnova_compute_virt_type: kvm\n');
  assert.deepEqual(hostPrep(netdevKvm, 'cmp01').modules.map((m) => m.name), ['br_netfilter', 'nf_tables', 'tun', 'vhost_net']);
  assert.ok(hostPrep(netdevKvm, 'cmp01').modules.every((m) => !m.required));
  const noNeutron = deploymentOf('network_interface: eth0\nenable_neutron: "no"\n');
  assert.deepEqual(hostPrep(noNeutron, 'net01').modules, []);
});

test("the hosts prepared are [baremetal]'s, by default every host but a deployment-only one", () => {
  assert.deepEqual(bootstrapHosts(deploymentOf()), ['ctl01', 'net01', 'cmp01']);
  assert.deepEqual(bootstrapHosts(deploymentOf(undefined, `${inventory}[baremetal]\ncmp01\n`)), ['cmp01']);
});

test("the script's lines: steps, notes, facts and files; apt failures explained by cause", () => {
  assert.deepEqual(parseScriptLine('berth:step packages changed installed docker.io kmod'), { kind: 'step', step: 'packages', status: 'changed', detail: 'installed docker.io kmod' });
  assert.deepEqual(parseScriptLine('berth:step netns ok'), { kind: 'step', step: 'netns', status: 'ok', detail: '' });
  assert.deepEqual(parseScriptLine('berth:note modules tun: cannot'), { kind: 'note', step: 'modules', text: 'tun: cannot' });
  assert.equal(parseScriptLine('Setting up docker.io ...'), undefined);
  assert.equal(parseScriptLine('berth:step packages maybe'), undefined);
  const state = parseHostState(['berth:fact codename trixie', 'berth:fact systemd yes', `berth:file daemon.json ${Buffer.from('{"a":1}\n').toString('base64')}`, `berth:file hosts ${Buffer.from('127.0.0.1 localhost\n').toString('base64')}`].join('\n'));
  assert.deepEqual(state, { codename: 'trixie', systemd: true, daemonJson: '{"a":1}\n', hosts: '127.0.0.1 localhost\n' });
  assert.equal(parseHostState('berth:fact codename bookworm\nberth:file hosts \n').daemonJson, undefined);

  assert.match(explainFailure('packages', 'apt-lock E: Could not get lock /var/lib/dpkg/lock-frontend').message, /apt is locked by another process \(E: Could not get lock/);
  assert.match(explainFailure('packages', 'apt-lock x').hint!, /wait for it/);
  assert.match(explainFailure('packages', 'mirror Err:1 http://deb.debian.org trixie InRelease').message, /mirror cannot be reached/);
  assert.match(explainFailure('packages', 'no-sources').message, /no apt sources/);
  assert.match(explainFailure('packages', 'no-package E: Unable to locate package docker.io').hint!, /Debian 12 or 13/);
  assert.deepEqual(explainFailure('netns', 'cannot make /run/netns shared'), { message: 'netns: cannot make /run/netns shared' });
});

/** A host that answers as the script would: every step ok, or changed on a first run. */
class FakeTarget implements BootstrapTarget {
  hostsWritten?: string;
  runs: string[][] = [];
  constructor(
    readonly name: string,
    private readonly address: string,
    private readonly opts: { unreachable?: boolean; failPackages?: string; changed?: boolean } = {},
  ) {}
  connect(): Promise<void> {
    return this.opts.unreachable ? Promise.reject(new EngineError(`host ${this.name}: connection refused`)) : Promise.resolve();
  }
  run(args: string[], onLine?: (line: string) => void): Promise<{ code: number; stdout: Buffer; stderr: string }> {
    this.runs.push(args);
    const out = (lines: string[], code = 0) => {
      for (const l of lines) onLine?.(l);
      return Promise.resolve({ code, stdout: Buffer.from(lines.join('\n') + '\n'), stderr: '' });
    };
    if (args[0] === 'read') return out(['berth:fact codename trixie', `berth:file hosts ${Buffer.from(this.hostsWritten ?? '127.0.0.1 localhost\n').toString('base64')}`]);
    if (args[0] === 'hosts') {
      const same = this.hostsWritten === args[1];
      this.hostsWritten = args[1];
      return out([`berth:step hosts ${same ? 'ok' : 'changed'} x`]);
    }
    if (this.opts.failPackages) return out(['berth:note packages installing docker.io', `berth:step packages failed ${this.opts.failPackages}`], 1);
    const s = this.opts.changed ? 'changed' : 'ok';
    return out(['packages', 'daemon.json', 'docker', 'modules', 'sysctls', 'netns'].map((step) => `berth:step ${step} ${s} fine`));
  }
  facts(interfaces: readonly string[]): Promise<HostFacts> {
    return Promise.resolve({ hostname: `${this.name}.lan`, addresses: Object.fromEntries(interfaces.map((i) => [i, this.address])), interfaces: [...interfaces] });
  }
}

test('the workflow: every step reported per host, /etc/hosts with every address, a second run changes nothing', async () => {
  const d = deploymentOf('network_interface: eth0\novs_datapath_type: netdev\n');
  const targets = new Map([
    ['ctl01', new FakeTarget('ctl01', '10.0.0.11', { changed: true })],
    ['net01', new FakeTarget('net01', '10.0.0.31', { changed: true })],
    ['cmp01', new FakeTarget('cmp01', '10.0.0.21', { changed: true })],
  ]);
  const events: BootstrapEvent[] = [];
  const first = await bootstrapServers({ deployment: d, registry: '10.0.0.5:4000', targets, selected: ['ctl01', 'net01', 'cmp01'], forks: 2, onEvent: (e) => events.push(e) });
  assert.equal(first.results.length, 21);
  assert.ok(first.results.every((r) => r.status === 'changed'));
  const written = targets.get('cmp01')!.hostsWritten!;
  assert.match(written, /^127\.0\.0\.1 localhost\n# BEGIN berth\n.*\n10\.0\.0\.11\tctl01\.lan ctl01\n10\.0\.0\.31\tnet01\.lan net01\n10\.0\.0\.21\tcmp01\.lan cmp01\n# END berth\n$/);
  // What apply was given: daemon.json with the registry, how dockerd takes it, the modules file.
  const apply = targets.get('cmp01')!.runs.find((r) => r[0] === 'apply')!;
  assert.match(apply[1]!, /"10\.0\.0\.5:4000"/);
  assert.equal(apply[2], 'restart');
  assert.match(apply[3]!, /^br_netfilter$/m);
  assert.equal(apply[5], '', 'netdev: no module is required');

  for (const t of targets.values()) Object.assign(t, { opts: {} });
  const second = await bootstrapServers({ deployment: d, registry: '10.0.0.5:4000', targets, selected: ['ctl01', 'net01', 'cmp01'], forks: 10 });
  assert.ok(second.results.every((r) => r.status === 'ok'), JSON.stringify(second.results.filter((r) => r.status !== 'ok')));
});

test('the workflow: an unreachable host is reported and the others go on; a failed step skips the rest; /etc/hosts waits for every address', async () => {
  const d = deploymentOf('network_interface: eth0\novs_datapath_type: netdev\n');
  const targets = new Map([
    ['ctl01', new FakeTarget('ctl01', '10.0.0.11')],
    ['net01', new FakeTarget('net01', '10.0.0.31', { unreachable: true })],
    ['cmp01', new FakeTarget('cmp01', '10.0.0.21', { failPackages: 'apt-lock E: Could not get lock /var/lib/dpkg/lock-frontend' })],
  ]);
  const events: BootstrapEvent[] = [];
  const out = await bootstrapServers({ deployment: d, registry: '', targets, selected: ['ctl01', 'net01', 'cmp01'], forks: 10, onEvent: (e) => events.push(e) });
  assert.deepEqual([...out.unreachable.keys()], ['net01']);
  assert.ok(events.some((e) => e.type === 'host-unreachable' && e.host === 'net01'));
  const cmp = out.results.filter((r) => r.host === 'cmp01');
  assert.equal(cmp[0]!.status, 'failed');
  assert.match(cmp[0]!.error!, /host cmp01: packages: apt is locked by another process/);
  assert.ok(cmp.slice(1).every((r) => r.status === 'skipped' && r.reasons[0] === 'not run: packages failed'));
  const hosts = out.results.find((r) => r.host === 'ctl01' && r.target === 'hosts')!;
  assert.equal(hosts.status, 'skipped');
  assert.match(hosts.reasons[0]!, /address of net01 is not known/);
  assert.equal(targets.get('ctl01')!.hostsWritten, undefined, '/etc/hosts untouched');
  assert.ok(out.durations.has('ctl01') && out.durations.has('cmp01') && !out.durations.has('net01'));
});

test('the workflow: --limit prepares only the selected hosts, the others still give their address', async () => {
  const d = deploymentOf('network_interface: eth0\novs_datapath_type: netdev\n');
  const targets = new Map(['ctl01', 'net01', 'cmp01'].map((n, i) => [n, new FakeTarget(n, `10.0.0.${i + 1}`)]));
  const out = await bootstrapServers({ deployment: d, registry: '', targets, selected: ['cmp01'], forks: 10 });
  assert.deepEqual([...new Set(out.results.map((r) => r.host))], ['cmp01']);
  assert.equal(targets.get('ctl01')!.runs.length, 0);
  assert.match(targets.get('cmp01')!.hostsWritten!, /10\.0\.0\.1\tctl01\.lan ctl01/);
});
