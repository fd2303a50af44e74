import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/config/errors.js';
import { mergeIni, overrideLayers, parseIni } from '../../src/config/overrides.js';
import { describeIniChange } from '../../src/reconcile/diff.js';

test('later layers win per key; sections keep first-appearance order with DEFAULT first', () => {
  const merged = mergeIni([
    { source: 'keystone.conf.j2', text: '[database]\nconnection = mysql://a\nmax_retries = -1\n\n[DEFAULT]\ndebug = False\nlog_dir = /var/log/kolla/keystone\n' },
    { source: 'config/global.conf', text: '# operators write comments\n[DEFAULT]\ndebug = True\n[oslo_messaging_rabbit]\nheartbeat_rate=3\n' },
    { source: 'config/keystone.conf', text: '[database]\nmax_retries: 10\n[token]\nexpiration = 3600\n' },
  ]);
  assert.equal(
    merged,
    `[DEFAULT]
debug = True
log_dir = /var/log/kolla/keystone

[database]
connection = mysql://a
max_retries = 10

[oslo_messaging_rabbit]
heartbeat_rate = 3

[token]
expiration = 3600
`,
  );
});

test('values keep what follows the first separator, continuation lines and empty values', () => {
  const merged = mergeIni([
    { source: 'a.conf', text: '[DEFAULT]\ntransport_url = rabbit://openstack:pw@10.0.0.1:5672//\nempty =\npolicy = first\n  second line\n' },
  ]);
  assert.equal(merged, '[DEFAULT]\ntransport_url = rabbit://openstack:pw@10.0.0.1:5672//\nempty =\npolicy = first\n    second line\n');
});

test('malformed INI lines are errors with file:line', () => {
  const rejects = (text: string, message: RegExp) =>
    assert.throws(() => mergeIni([{ source: 'config/nova.conf', text }]), (err: unknown) => err instanceof InputError && message.test(err.message));
  rejects('debug = True\n', /^config\/nova\.conf:1: "debug" is outside any section/);
  rejects('[DEFAULT]\n\njust some words\n', /^config\/nova\.conf:3: expected "key = value"/);
  rejects('[DEFAULT\n', /^config\/nova\.conf:1: malformed section header/);
  rejects('[DEFAULT]\n= value\n', /^config\/nova\.conf:2: expected "key = value"/);
});

test('overrideLayers returns the files that exist, in kolla-ansible order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-overrides-'));
  const files = [
    'config/nova/ctl01/nova.conf',
    'config/global.conf',
    'config/nova/nova-api.conf',
    'config/nova.conf',
    'config/nova/nova-scheduler.conf',
    'config/neutron/ml2_conf.ini',
    'config/neutron/ctl01/ml2_conf.ini',
  ];
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), `# ${f}\n`);
  }
  const sources = (layers: { source: string; text: string }[]) => layers.map((l) => l.source.slice(dir.length + 1));
  assert.deepEqual(sources(overrideLayers(dir, 'nova', 'nova-api', 'ctl01', 'nova.conf')), [
    'config/global.conf',
    'config/nova.conf',
    'config/nova/nova-api.conf',
    'config/nova/ctl01/nova.conf',
  ]);
  assert.deepEqual(sources(overrideLayers(dir, 'nova', 'nova-conductor', 'ctl02', 'nova.conf')), ['config/global.conf', 'config/nova.conf']);
  assert.deepEqual(sources(overrideLayers(dir, 'neutron', 'neutron-server', 'ctl01', 'ml2_conf.ini')), [
    'config/neutron/ml2_conf.ini',
    'config/neutron/ctl01/ml2_conf.ini',
  ]);
  assert.equal(overrideLayers(dir, 'nova', 'nova-api', 'ctl01', 'nova.conf')[0]!.text, '# config/global.conf\n');
});

test('a key repeated in one layer keeps every value, in order (oslo MultiStrOpt)', () => {
  const text = '[pci]\npassthrough_whitelist = {"vendor_id": "8086"}\npassthrough_whitelist = {"vendor_id": "10de"}\n[DEFAULT]\ndebug = True\n[pci]\npassthrough_whitelist = {"vendor_id": "15b3"}\n';
  assert.deepEqual(parseIni({ source: 'nova.conf', text }).get('pci')!.get('passthrough_whitelist'), [
    '{"vendor_id": "8086"}',
    '{"vendor_id": "10de"}',
    '{"vendor_id": "15b3"}',
  ]);
});

test('repeated keys render one line each; a continuation line stays with its own value', () => {
  const merged = mergeIni([
    { source: 'ml2_conf.ini.j2', text: '[ml2_type_vxlan]\nvni_ranges = 1:1000\nvni_ranges = 2000:3000\n  4000:5000\nvni_ranges =\n' },
  ]);
  assert.equal(merged, '[ml2_type_vxlan]\nvni_ranges = 1:1000\nvni_ranges = 2000:3000\n    4000:5000\nvni_ranges =\n');
});

test('a later layer that sets a key replaces all of its earlier values; keys it does not set keep theirs', () => {
  const merged = mergeIni([
    { source: 'nova.conf.j2', text: '[DEFAULT]\nwhitelist = a\nwhitelist = b\nwhitelist = c\nother = x\nother = y\n' },
    { source: 'config/global.conf', text: '[DEFAULT]\ndebug = True\n' },
    { source: 'config/nova.conf', text: '[DEFAULT]\nwhitelist = d\nwhitelist = e\n' },
    { source: 'config/nova/ctl01/nova.conf', text: '[DEFAULT]\nother: z\n' },
  ]);
  assert.equal(merged, '[DEFAULT]\nwhitelist = d\nwhitelist = e\nother = z\ndebug = True\n');
});

test('describeIniChange names a repeated key whose values changed, never a value', () => {
  const pci = (...values: string[]) => '[DEFAULT]\ndebug = False\n\n[pci]\n' + values.map((v) => `passthrough_whitelist = ${v}\n`).join('');
  // The first of the values changes, the last stays.
  assert.equal(describeIniChange(pci('secret-a', 'b'), pci('secret-c', 'b')), ' (pci.passthrough_whitelist)');
  // One value fewer is a change too.
  assert.equal(describeIniChange(pci('a', 'b'), pci('b')), ' (pci.passthrough_whitelist)');
  assert.equal(describeIniChange(pci('a', 'b'), pci('a', 'b')), '');
  // More than five keys: no list, as a long one would not help.
  const many = (v: string) => '[DEFAULT]\n' + ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => `${k} = ${v}`).join('\n') + '\n';
  assert.equal(describeIniChange(many('1'), many('2')), '');
});

test('describeIniChange is empty for files that are not INI, and does not throw on them', () => {
  const json = (cmd: string) => JSON.stringify({ command: cmd, config_files: [{ source: '/a', dest: '/b' }], permissions: [] }, null, 2) + '\n';
  assert.equal(describeIniChange(json('nova-api --config-file=/etc/nova/nova.conf'), json('nova-api --config-file=/etc/nova/other.conf')), '');
  const sql = (pw: string) => `CREATE DATABASE IF NOT EXISTS nova;\nALTER USER 'nova'@'%' IDENTIFIED BY '${pw}';\n`;
  assert.equal(describeIniChange(sql('a=1'), sql('b=2')), '');
  // A sectionless key = value file (rabbitmq.conf) still names its keys.
  assert.equal(describeIniChange('listeners.tcp.1 = 10.0.0.1:5672\nloopback_users = none\n', 'listeners.tcp.1 = 10.0.0.2:5672\nloopback_users = none\n'), ' (listeners.tcp.1)');
});

test('describeIniChange reads keys as the override parser does: "key: value" and continuation lines', () => {
  const text = (retries: string, second: string) => `[database]\nmax_retries: ${retries}\n[DEFAULT]\npolicy = first\n  ${second}\n`;
  const before = text('10', 'second = line');
  const after = text('20', 'other = line');
  // The override parser sees max_retries and policy, and no key "second" or "other".
  const seen = (t: string) => [...parseIni({ source: 'a.conf', text: t })].map(([s, keys]) => [s, [...keys.keys()]]);
  assert.deepEqual(seen(before), [['database', ['max_retries']], ['DEFAULT', ['policy']]]);
  assert.deepEqual(seen(after), seen(before));
  assert.equal(describeIniChange(before, after), ' (database.max_retries, DEFAULT.policy)');
  assert.equal(mergeIni([{ source: 'a.conf', text: after }]), '[DEFAULT]\npolicy = first\n    other = line\n\n[database]\nmax_retries = 20\n');
});
