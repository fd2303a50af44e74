import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/config/errors.js';
import { hostsOf, hostVars, loadInventory, parseInventory } from '../../src/config/inventory.js';

const parse = (text: string) => parseInventory('inv', text);

/** Asserts that parsing fails with an InputError whose message matches. */
function rejects(text: string, message: RegExp): void {
  assert.throws(() => parse(text), (err: unknown) => err instanceof InputError && message.test(err.message));
}

test('a kolla-ansible style multinode inventory: hosts, vars, children, comments', () => {
  const inv = parse(`# These initial groups are the only groups required to be modified.
[control]
ctl01 ansible_host=10.0.0.11 ansible_user=root
ctl02 ansible_host="10.0.0.12"   ansible_port=2222 # an inline comment
; a semicolon comment

[network:children]
control

[compute]
cmp[01:03]

[storage]
[monitoring]
[deployment]
localhost ansible_connection=local

[baremetal:children]
control
network
compute

[mariadb:children]
control

[nova-compute-ironic:children]
nova
[nova:children]
control
`);
  assert.deepEqual(hostsOf(inv, 'control'), ['ctl01', 'ctl02']);
  assert.deepEqual(hostsOf(inv, 'network'), ['ctl01', 'ctl02']);
  assert.deepEqual(hostsOf(inv, 'compute'), ['cmp01', 'cmp02', 'cmp03']);
  assert.deepEqual(hostsOf(inv, 'storage'), []);
  assert.deepEqual(hostsOf(inv, 'nova-compute-ironic'), ['ctl01', 'ctl02']);
  // Deduplicated: control arrives both directly and through network.
  assert.deepEqual(hostsOf(inv, 'baremetal'), ['ctl01', 'ctl02', 'cmp01', 'cmp02', 'cmp03']);
  assert.deepEqual(hostsOf(inv, 'all'), ['ctl01', 'ctl02', 'cmp01', 'cmp02', 'cmp03', 'localhost']);
  assert.deepEqual(hostsOf(inv, 'no-such-group'), []);
  assert.deepEqual(inv.hosts.get('ctl02'), { name: 'ctl02', vars: { ansible_host: '10.0.0.12', ansible_port: '2222' }, line: 4 });
  assert.equal(inv.hosts.get('localhost')?.vars.ansible_connection, 'local');
});

test('host ranges: zero padding, letters, strides, several ranges in one name', () => {
  const inv = parse('[compute]\nnode[08:10]\nrack[a:c]\nodd[1:7:3]\nr[1:2]-n[a:b]\n');
  assert.deepEqual(hostsOf(inv, 'compute'), [
    'node08', 'node09', 'node10',
    'racka', 'rackb', 'rackc',
    'odd1', 'odd4', 'odd7',
    'r1-na', 'r1-nb', 'r2-na', 'r2-nb',
  ]);
});

test('host:port sets ansible_port; quoted values keep spaces and =', () => {
  const inv = parse(`[control]\nctl01:2200 ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p jump"' note="a=b c"\n`);
  assert.deepEqual(inv.hosts.get('ctl01')?.vars, {
    ansible_ssh_common_args: '-o ProxyCommand="ssh -W %h:%p jump"',
    note: 'a=b c',
    ansible_port: '2200',
  });
  const ranged = parse('[compute]\nnode[1:2]:2222\n');
  assert.deepEqual(hostsOf(ranged, 'compute'), ['node1', 'node2']);
  assert.equal(ranged.hosts.get('node2')?.vars.ansible_port, '2222');
});

test('host variables: all < parent group < child group < host, whatever the file order', () => {
  // mariadb is the parent: it lists control as its child.
  const inv = parse(`[control:vars]
level=child
child_only = "quoted value"
[all:vars]
level=all
ansible_user=ubuntu
[control]
ctl01 level=host
ctl02
[mariadb:vars]
level=parent
parent_only=yes
[mariadb:children]
control
`);
  assert.deepEqual(hostVars(inv, 'ctl01'), {
    level: 'host',
    ansible_user: 'ubuntu',
    child_only: 'quoted value',
    parent_only: 'yes',
  });
  assert.equal(hostVars(inv, 'ctl02').level, 'child');
  assert.deepEqual(hostVars(inv, 'nobody'), {});
});

test('a host may be in several groups; its variables from every line are merged', () => {
  const inv = parse('[control]\nn1 ansible_host=10.0.0.1\n[compute]\nn1 ansible_host=10.0.0.1 ansible_user=root\n');
  assert.deepEqual(inv.hosts.get('n1'), { name: 'n1', vars: { ansible_host: '10.0.0.1', ansible_user: 'root' }, line: 2 });
});

test('hosts before any section are ungrouped, as in Ansible', () => {
  const inv = parse('lonely\n[control]\nctl01\n');
  assert.deepEqual(hostsOf(inv, 'ungrouped'), ['lonely']);
});

test(':children naming an undefined group: file:line and a did-you-mean', () => {
  rejects('[control]\nctl01\n\n[keystone:children]\ncontrl\n', /^inv:5: \[keystone:children\] lists "contrl", a group that is not defined; did you mean "control"\?/);
});

test('an unknown group holding hosts: file:line and a did-you-mean', () => {
  rejects('# my cloud\n[contrl]\nctl01\n', /^inv:2: unknown group \[contrl\] holds hosts.*did you mean \[control\]\?/);
  // The same group is fine once it is wired into the tree, or named by the caller.
  assert.deepEqual(hostsOf(parse('[rack1]\nn1\n[compute:children]\nrack1\n'), 'compute'), ['n1']);
  assert.deepEqual(hostsOf(parseInventory('inv', '[haproxy]\nn1\n', { knownGroups: ['haproxy'] }), 'haproxy'), ['n1']);
});

test('a duplicate host in one group, also through overlapping ranges', () => {
  rejects('[control]\nctl01\nctl02\nctl01\n', /^inv:4: duplicate host "ctl01" in \[control\] \(already listed at line 2\)/);
  rejects('[compute]\nnode[1:3]\nnode3\n', /^inv:3: duplicate host "node3" in \[compute\]/);
  rejects('[compute]\nn1\n[control]\nn2\n[compute]\nn1\n', /^inv:6: duplicate host "n1"/);
});

test('conflicting ansible_host values for one host', () => {
  rejects(
    '[control]\nn1 ansible_host=10.0.0.1\n[compute]\nn1 ansible_host=10.0.0.2\n',
    /^inv:4: host "n1" has ansible_host=10.0.0.2 here but ansible_host=10.0.0.1 at line 2/,
  );
});

test('a cycle in :children', () => {
  rejects('[a:children]\nb\n[b:children]\nc\n[c:children]\na\n[control:children]\na\n', /^inv:6: \[c:children\] makes a cycle: a → b → c → a/);
  rejects('[control:children]\ncontrol\n', /^inv:2: \[control:children\] makes a cycle: control → control/);
});

test(':vars for a group that does not exist', () => {
  rejects('[control]\nn1\n[contro:vars]\nx=1\n', /^inv:3: \[contro:vars\] is for a group that is not defined; did you mean "control"\?/);
});

test('malformed lines say file:line', () => {
  rejects('[control\nn1\n', /^inv:1: malformed section header/);
  rejects('[control:hosts]\n', /^inv:1: malformed section header/);
  rejects('[con trol]\n', /^inv:1: "con trol" is not a valid group name/);
  rejects('[control:vars]\njust_a_word\n', /^inv:2: a \[control:vars\] line must be key=value/);
  rejects('[network:children]\ncontrol compute\n', /^inv:2: a \[network:children\] line must hold one group name/);
  rejects('[control]\nn1 ansible_user="root\n', /^inv:2: unterminated quote/);
  rejects('[compute]\nnode[3:1]\n', /^inv:2: host range "node\[3:1\]" runs backwards/);
  rejects('[compute]\nnode[01:100]\n', /^inv:2: host range .* must have the same number of digits/);
  rejects('[compute]\nnode[1-3]\n', /^inv:2: malformed host range/);
});

test('a malformed host variable does not echo what may be a secret', () => {
  assert.throws(
    () => parse('[control]\nn1 ansible_password s3cr3t-value\n'),
    (err: unknown) => err instanceof InputError && /^inv:2: host variables must be key=value/.test(err.message) && !err.message.includes('s3cr3t'),
  );
});

test('ansible_host with a shell command in it is refused naming file:line, the host and the key, not the value', () => {
  for (const text of ['[control]\nctl01\nn1 ansible_host="1.2.3.4;rm -rf /"\n', '[control]\nctl01\nn1 ansible_host=1.2.3.4;rm\n', "[control]\nctl01\nn1 ansible_host='$(reboot)'\n"]) {
    assert.throws(
      () => parse(text),
      (err: unknown) =>
        err instanceof InputError &&
        err.message === 'inv:3: host "n1": ansible_host: must be an IP address or a DNS host name' &&
        !/rm|reboot/.test(err.message) &&
        /ansible_host=/.test(err.hint ?? ''),
    );
  }
});

test('tunnel_address must be an IP address, on a host line or in [group:vars]', () => {
  rejects('[control]\nn1 tunnel_address=10.0.0.300\n', /^inv:2: host "n1": tunnel_address: must be an IP address$/);
  rejects('[control]\nn1 tunnel_address=node1.example.com\n', /^inv:2: host "n1": tunnel_address: must be an IP address$/);
  rejects('[control]\nn1\n[all:vars]\ntunnel_address="10.0.0.1 && reboot"\n', /^inv:4: \[all:vars\]: tunnel_address: must be an IP address$/);
  rejects('[control]\nn1 tunnel_address=fe80::1%eth0\n', /^inv:2: host "n1": tunnel_address: must be an IP address$/);
});

test('the other variables berth reads get a type and pattern; the rest pass through', () => {
  rejects('[control]\nn1 ansible_port=0\n', /^inv:2: host "n1": ansible_port: must be a port number \(1-65535\)$/);
  rejects('[control]\nn1 ansible_port=0x16\n', /^inv:2: host "n1": ansible_port: must be a port number/);
  rejects('[control]\nn1:70000\n', /^inv:2: host "n1": ansible_port: must be a port number/);
  rejects('[control]\nn1 ansible_user=-oProxyCommand=id\n', /^inv:2: host "n1": ansible_user: must be a user name$/);
  rejects('[control:vars]\nansible_ssh_user="root user"\n[control]\nn1\n', /^inv:2: \[control:vars\]: ansible_ssh_user: must be a user name$/);
  rejects('[control]\nn1 ansible_connection="local;id"\n', /^inv:2: host "n1": ansible_connection: must be a connection plugin name$/);
  rejects('[control]\nn1 ansible_become=maybe\n', /^inv:2: host "n1": ansible_become: must be yes or no$/);
  rejects('[control]\nn1 ansible_ssh_private_key_file="~/.ssh/id rsa"\n', /^inv:2: host "n1": ansible_ssh_private_key_file: must be a file path$/);
  rejects('[control]\nn1 bad-name=1\n', /^inv:2: host variables must be key=value; word 2 on this line has no valid variable name/);
  const inv = parse(
    '[control]\nctl01 ansible_host=ctl01.example.com ansible_user=deploy_1 ansible_become=True ansible_ssh_private_key_file=~/.ssh/id_ed25519 tunnel_address=10.0.1.11 anything="goes $(here)"\n' +
      '[compute]\nfd00::21 ansible_host=fd00::21 ansible_connection=community.docker.docker\n',
  );
  assert.equal(inv.hosts.get('ctl01')?.vars.tunnel_address, '10.0.1.11');
  assert.equal(inv.hosts.get('ctl01')?.vars.anything, 'goes $(here)');
  assert.equal(inv.hosts.get('fd00::21')?.vars.ansible_host, 'fd00::21');
});

test('host names: letters, digits, _, . and -, no leading -', () => {
  rejects('[control]\n-oProxyCommand\n', /^inv:2: "-oProxyCommand" is not a valid host name/);
  rejects('[control]\nn1;id\n', /^inv:2: "n1;id" is not a valid host name/);
  rejects(`[control]\n${'h'.repeat(254)}\n`, /^inv:2: "h{64}…" is not a valid host name/);
});

test('size limits: line length, host ranges, file size', () => {
  rejects(`[control]\nn1 note=${'x'.repeat(5000)}\n`, /^inv:2: line is longer than 4096 characters$/);
  const started = Date.now();
  rejects('[compute]\nnode[1:99999999]\n', /^inv:2: host range "node\[1:99999999\]" makes more than 10000 hosts$/);
  rejects('[compute]\nr[1:200]n[1:200]\n', /^inv:2: host range .* makes more than 10000 hosts$/);
  assert.ok(Date.now() - started < 2000);
  rejects(`${'\n'.repeat(100_001)}[control]\n`, /^inv:100001: more than 100000 lines$/);

  const dir = mkdtempSync(join(tmpdir(), 'berth-inv-'));
  const path = join(dir, 'multinode');
  writeFileSync(path, `[control]\n${'# padding\n'.repeat(200_000)}n1\n`);
  assert.throws(
    () => loadInventory(path),
    (err: unknown) => err instanceof InputError && err.message === `${path}: larger than 1 MiB, the most berth reads from one file`,
  );
  assert.throws(() => loadInventory(dir), (err: unknown) => err instanceof InputError && /not a regular file|cannot read/.test(err.message));
});
