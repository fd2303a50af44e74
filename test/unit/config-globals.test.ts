import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadBuildConfig } from '../../src/config/build-config.js';
import { InputError } from '../../src/config/errors.js';
import { loadGlobals } from '../../src/config/globals.js';

function dirWithGlobals(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-globals-'));
  writeFileSync(join(dir, 'globals.yml'), text);
  return dir;
}

/** Asserts that loading fails with an InputError whose message matches (the path is written as "globals.yml"). */
function rejects(text: string, message: RegExp): void {
  const dir = dirWithGlobals(text);
  assert.throws(
    () => loadGlobals(dir),
    (err: unknown) => err instanceof InputError && message.test(err.message.replace(join(dir, 'globals.yml'), 'globals.yml')),
  );
}

test('a minimal file gets every default; api_interface follows network_interface', () => {
  const { globals, warnings } = loadGlobals(dirWithGlobals('network_interface: eth0\n'));
  assert.deepEqual(warnings, []);
  assert.equal(globals.api_interface, 'eth0');
  assert.equal(globals.kolla_internal_vip_address, null);
  assert.equal(globals.kolla_external_vip_address, null);
  assert.equal(globals.openstack_release, '2025.1');
  assert.equal(globals.openstack_tag, '2025.1');
  assert.equal(globals.docker_registry, '');
  assert.equal(globals.docker_namespace, 'berth');
  assert.equal(globals.node_config_directory, '/etc/berth');
  assert.deepEqual(
    [globals.enable_mariadb, globals.enable_memcached, globals.enable_rabbitmq, globals.enable_keystone],
    [true, true, true, true],
  );
  assert.deepEqual(
    [globals.enable_glance, globals.enable_placement, globals.enable_heat, globals.enable_horizon, globals.enable_nova, globals.enable_neutron],
    [true, true, true, true, true, true],
  );
  assert.equal(globals.horizon_port, 80);
  assert.equal(globals.keystone_token_provider, 'fernet');
  assert.equal(globals.fernet_token_expiry, 86400);
  assert.deepEqual(
    [globals.database_port, globals.rabbitmq_port, globals.memcached_port, globals.keystone_public_port],
    [3306, 5672, 11211, 5000],
  );
  assert.equal(globals.openstack_region_name, 'RegionOne');
  assert.equal(globals.keystone_admin_user, 'admin');
  assert.equal(globals.keystone_admin_project, 'admin');
  assert.equal(globals.openstack_logging_debug, false);
});

test('kolla-ansible spellings: yes/no bare or quoted, quoted ports, {{ references }}', () => {
  const { globals } = loadGlobals(
    dirWithGlobals(`---
network_interface: "ens3"
api_interface: "{{ network_interface }}"
kolla_internal_vip_address: "10.1.0.250"
kolla_external_vip_address: "{{ kolla_internal_vip_address }}"
openstack_tag: "{{ openstack_release }}"
enable_keystone: no
enable_glance: "yes"
enable_nova: True
openstack_logging_debug: "False"
database_port: "3307"
`),
  );
  assert.equal(globals.api_interface, 'ens3');
  assert.equal(globals.kolla_external_vip_address, '10.1.0.250');
  assert.equal(globals.openstack_tag, '2025.1');
  assert.deepEqual([globals.enable_keystone, globals.enable_glance, globals.enable_nova], [false, true, true]);
  assert.equal(globals.openstack_logging_debug, false);
  assert.equal(globals.database_port, 3307);
});

test('a misspelled key is an error with file:line:col and a did-you-mean', () => {
  rejects('network_interface: eth0\nenable_keystnoe: yes\n', /^globals\.yml:2:1: unknown key "enable_keystnoe"; did you mean "enable_keystone"\?$/);
  rejects('network_interface: eth0\nkolla_internal_vip_adress: 10.0.0.1\n', /did you mean "kolla_internal_vip_address"\?/);
});

test('a kolla-ansible setting berth does not support yet is a warning, not an error', () => {
  const dir = dirWithGlobals('kolla_base_distro: "debian"\nnetwork_interface: eth0\nenable_cinder: "no"\n');
  const { warnings } = loadGlobals(dir);
  assert.deepEqual(warnings, [
    `${join(dir, 'globals.yml')}:1:1: kolla_base_distro is a kolla-ansible setting berth does not support yet; it is ignored`,
    `${join(dir, 'globals.yml')}:3:1: enable_cinder is a kolla-ansible setting berth does not support yet; it is ignored`,
  ]);
});

test('a wrong type names file:line:col and the key', () => {
  rejects('network_interface: eth0\ndatabase_port: many\n', /^globals\.yml:2:1: database_port: expected a port number$/);
  rejects('network_interface: eth0\nenable_mariadb: maybe\n', /^globals\.yml:2:1: enable_mariadb: expected yes\/no/);
  rejects('network_interface: eth0\nkolla_internal_vip_address: 10.0.0.300\n', /^globals\.yml:2:1: kolla_internal_vip_address: not an IP address$/);
  rejects('network_interface: eth0\nkeystone_token_provider: uuid\n', /^globals\.yml:2:1: keystone_token_provider: berth supports only "fernet"$/);
  rejects('network_interface: [eth0]\n', /^globals\.yml:1:1: network_interface: expected a network interface name/);
});

test('network_interface is required', () => {
  rejects('enable_keystone: yes\n', /^globals\.yml:1:1: network_interface: is required/);
});

test('Jinja beyond a single reference is refused where it is written', () => {
  rejects('network_interface: eth0\napi_interface: "{{ network_interface | default(\'eth1\') }}"\n', /^globals\.yml:2:1: api_interface: berth does not evaluate Jinja/);
});

test('a missing globals.yml says to run berth init', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-globals-'));
  assert.throws(() => loadGlobals(dir), (err: unknown) => err instanceof InputError && /not found/.test(err.message) && /berth init/.test(err.hint ?? ''));
});

test('the build: section is left to build-config.ts', () => {
  const dir = dirWithGlobals('network_interface: eth0\nbuild:\n  openstack_tag: custom\n  anything_goes_here: [1]\n');
  assert.doesNotThrow(() => loadGlobals(dir));
  assert.throws(() => loadBuildConfig(dir), /unknown key "build\.anything_goes_here"/);
});

test('a 2 MB openstack_release is refused: the file is over the size limit, named, and nothing of it is echoed', () => {
  const dir = dirWithGlobals(`network_interface: eth0\nopenstack_release: "${'z'.repeat(2 * 1024 * 1024)}"\n`);
  assert.throws(
    () => loadGlobals(dir),
    (err: unknown) =>
      err instanceof InputError && err.message.startsWith(`${join(dir, 'globals.yml')}: larger than 1 MiB`) && err.message.length < 300 && !!err.hint,
  );
});

test('an over-long value under the file limit is refused with file:line:col, the key and its length', () => {
  rejects(`network_interface: eth0\nopenstack_release: "${'z'.repeat(512 * 1024)}"\n`, /^globals\.yml:2:1: openstack_release: too long \(524288 characters; at most 32\)$/);
  rejects(`network_interface: eth0\nopenstack_region_name: ${'R'.repeat(65)}\n`, /^globals\.yml:2:1: openstack_region_name: too long \(65 characters; at most 64\)$/);
});

test('values that would reach a shell command, a path or an INI file are refused by pattern', () => {
  rejects('network_interface: eth0\nopenstack_release: "zed; rm -rf /"\n', /^globals\.yml:2:1: openstack_release: not a quoted release name/);
  rejects('network_interface: eth0\nopenstack_release: "havana"\n', /^globals\.yml:2:1: openstack_release: unknown release "havana"; berth knows zed, 2025\.1 \(epoxy\)$/);
  rejects('network_interface: "eth0;reboot"\n', /^globals\.yml:1:1: network_interface: not a network interface name/);
  rejects('network_interface: eth0\ntunnel_interface: "-eth1"\n', /^globals\.yml:2:1: tunnel_interface: not a network interface name/);
  rejects('network_interface: eth0\nkolla_internal_vip_address: "fe80::1%$(id)"\n', /^globals\.yml:2:1: kolla_internal_vip_address: not an IP address$/);
  rejects('network_interface: eth0\nnode_config_directory: "/etc/berth $(id)"\n', /^globals\.yml:2:1: node_config_directory: not an absolute path/);
  rejects('network_interface: eth0\nnode_config_directory: /etc/../root\n', /^globals\.yml:2:1: node_config_directory: not an absolute path/);
  rejects('network_interface: eth0\nnode_config_directory: etc/berth\n', /^globals\.yml:2:1: node_config_directory: not an absolute path/);
  rejects('network_interface: eth0\ndocker_registry: "registry:5000; id"\n', /^globals\.yml:2:1: docker_registry: not a registry host\[:port\]/);
  rejects('network_interface: eth0\ndocker_registry: "registry:99999"\n', /^globals\.yml:2:1: docker_registry: not a registry/);
  rejects("network_interface: eth0\nopenstack_region_name: \"Region'One\"\n", /^globals\.yml:2:1: openstack_region_name: not a region name/);
  rejects('network_interface: eth0\nkeystone_admin_user: "admin\\nexport X=1"\n', /^globals\.yml:2:1: keystone_admin_user: not a user name/);
  rejects('network_interface: eth0\nkeystone_admin_project: ""\n', /^globals\.yml:2:1: keystone_admin_project: must not be empty$/);
  rejects('network_interface: eth0\nfernet_token_expiry: 99999999999\n', /^globals\.yml:2:1: fernet_token_expiry: must be at most 31536000/);
  rejects('network_interface: eth0\ndatabase_port: 0\n', /^globals\.yml:2:1: database_port: expected a port number \(1-65535\)$/);
});

test('a refused value comes with a hint saying what to write', () => {
  const dir = dirWithGlobals('network_interface: eth0\nopenstack_release: "zed!"\n');
  assert.throws(() => loadGlobals(dir), (err: unknown) => err instanceof InputError && /2025\.1 \(epoxy\)/.test(err.hint ?? ''));
});

test('openstack_release: a codename or an unquoted number means the release; the tag follows it', () => {
  for (const [written, release] of [['epoxy', '2025.1'], ['2025.1', '2025.1'], ['"Zed"', 'zed']] as const) {
    const { globals } = loadGlobals(dirWithGlobals(`network_interface: eth0\nopenstack_release: ${written}\n`));
    assert.equal(globals.openstack_release, release, written);
    assert.equal(globals.openstack_tag, release, written);
  }
  const { globals } = loadGlobals(dirWithGlobals('network_interface: eth0\nopenstack_release: zed\nopenstack_tag: mytag\n'));
  assert.equal(globals.openstack_tag, 'mytag');
});

test('a long unknown key is shortened in the message', () => {
  const dir = dirWithGlobals(`network_interface: eth0\n${'k'.repeat(1000)}: 1\n`);
  assert.throws(() => loadGlobals(dir), (err: unknown) => err instanceof InputError && /^.*globals\.yml:2:1: unknown key "k{64}…"$/.test(err.message));
});

test('deeply nested YAML is refused by line before the parser runs out of memory', () => {
  rejects(`network_interface: eth0\nx: ${'['.repeat(200_000)}${']'.repeat(200_000)}\n`, /^globals\.yml:2:68: \[ or \{ nested more than 64 levels deep$/);
});

test('ordinary kolla-ansible values pass: quoted releases, registries with ports, IPv6 VIPs', () => {
  const { globals } = loadGlobals(
    dirWithGlobals(`network_interface: "br-ex.100"
kolla_internal_vip_address: "2001:db8::10"
openstack_release: "2025.1"
openstack_tag: "{{ openstack_release }}"
docker_registry: "192.0.2.10:4000"
docker_namespace: "kolla/openstack"
node_config_directory: "/etc/kolla"
openstack_region_name: "Region_Two-b"
keystone_admin_user: "cloud.admin@example"
keystone_admin_project: "admin"
`),
  );
  assert.equal(globals.openstack_tag, '2025.1');
  assert.equal(globals.docker_registry, '192.0.2.10:4000');
  assert.equal(globals.kolla_internal_vip_address, '2001:db8::10');
});

test('neutron_plugin_agent: openvswitch by default, with enable_openvswitch following it; linuxbridge selectable', () => {
  const ovs = loadGlobals(dirWithGlobals('network_interface: eth0\n')).globals;
  assert.equal(ovs.neutron_plugin_agent, 'openvswitch');
  assert.equal(ovs.ovs_datapath_type, 'system');
  assert.equal(ovs.enable_openvswitch, true);
  const lb = loadGlobals(dirWithGlobals('network_interface: eth0\nopenstack_release: zed\nneutron_plugin_agent: linuxbridge\n')).globals;
  assert.equal(lb.enable_openvswitch, false);
  assert.equal(loadGlobals(dirWithGlobals('network_interface: eth0\nenable_neutron: no\n')).globals.enable_openvswitch, false);
  // kolla-ansible's spelling, quoted.
  assert.equal(loadGlobals(dirWithGlobals('network_interface: eth0\nopenstack_release: zed\nneutron_plugin_agent: linuxbridge\nenable_openvswitch: "yes"\n')).globals.enable_openvswitch, true);
  assert.equal(loadGlobals(dirWithGlobals('network_interface: eth0\novs_datapath_type: netdev\n')).globals.ovs_datapath_type, 'netdev');
});

test('neutron_plugin_agent and ovs_datapath_type refuse other values; the OVS agent without OVS is refused where it is written', () => {
  rejects('network_interface: eth0\nneutron_plugin_agent: ovn\n', /globals\.yml:2:\d+: .*neutron_plugin_agent.*expected openvswitch or linuxbridge/);
  rejects('network_interface: eth0\novs_datapath_type: dpdk\n', /globals\.yml:2:\d+: .*ovs_datapath_type.*expected system or netdev/);
  rejects('network_interface: eth0\nneutron_plugin_agent: linuxbridge\n', /globals\.yml:2:1: neutron_plugin_agent linuxbridge does not exist in OpenStack 2025\.1/);
  rejects('network_interface: eth0\nenable_openvswitch: no\n', /globals\.yml:2:1: enable_openvswitch is "no", but neutron_plugin_agent openvswitch needs/);
});
