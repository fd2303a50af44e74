import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/config/errors.js';
import { mergeIni, overrideLayers } from '../../src/config/overrides.js';

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
