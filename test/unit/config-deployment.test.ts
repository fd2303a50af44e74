import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDeployment } from '../../src/config/deployment.js';
import { InputError } from '../../src/config/errors.js';
import { detectDefaultInterface, initConfig } from '../../src/config/init.js';
import { genpwd } from '../../src/config/passwords.js';
import { toolHostName } from '../../src/deployment/context.js';

const secrets = ['database_password', 'keystone_admin_password'];
const detected = { interface: 'ens3', address: '192.168.1.20', hostname: 'aio', ovsDatapath: { value: 'netdev' as const, why: 'kernel 6.1 is built without openvswitch (CONFIG_OPENVSWITCH is not set in /proc/config.gz)' } };

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'berth-deploy-'));
}

test('berth init writes globals.yml and all-in-one that load as a local deployment', () => {
  const dir = freshDir();
  const { written } = initConfig(dir, detected);
  assert.deepEqual(written, [join(dir, 'globals.yml'), join(dir, 'all-in-one')]);
  genpwd(dir, secrets.map((name) => ({ name, kind: 'password' })));

  const { deployment, warnings } = loadDeployment(dir, { requiredSecrets: secrets });
  assert.deepEqual(warnings, []);
  assert.equal(deployment.globals.network_interface, 'ens3');
  assert.equal(deployment.globals.kolla_internal_vip_address, '192.168.1.20');
  assert.equal(deployment.globals.enable_keystone, true);
  assert.deepEqual(deployment.hosts.map(({ name, address, connection, port, interfaces }) => ({ name, address, connection, port, interfaces })), [
    { name: 'localhost', address: 'localhost', connection: 'local', port: 22, interfaces: { network: 'ens3', api: 'ens3', tunnel: 'ens3' } },
  ]);
  // The tools' host: kolla-ansible's [deployment] localhost, which berth init writes.
  assert.equal(toolHostName(deployment.inventory), 'localhost');
  assert.match(deployment.passwords.database_password!, /^[A-Za-z0-9]{40}$/);
});

test('berth init never overwrites an existing file', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: mine\n');
  assert.deepEqual(initConfig(dir, detected).written, [join(dir, 'all-in-one')]);
  assert.equal(readFileSync(join(dir, 'globals.yml'), 'utf8'), 'network_interface: mine\n');
  assert.deepEqual(initConfig(dir, detected).written, []);
});

test('multinode wins over all-in-one; hosts are reached at ansible_host, else their name', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth1\nkolla_base_distro: debian\n');
  writeFileSync(join(dir, 'all-in-one'), '[control]\nlocalhost ansible_connection=local\n');
  writeFileSync(
    join(dir, 'multinode'),
    '[all:vars]\nansible_user=deploy\n[control]\nctl01 ansible_host=10.0.0.11\nctl02 ansible_host=10.0.0.12 ansible_port=2222 ansible_become=yes ansible_ssh_private_key_file=~/.ssh/berth\n[compute]\ncmp01 ansible_host=10.0.0.21 ansible_user=root\n',
  );
  genpwd(dir, secrets.map((name) => ({ name, kind: 'password' })));
  const { deployment, warnings } = loadDeployment(dir, { requiredSecrets: secrets });
  assert.equal(warnings.length, 1);
  assert.equal(deployment.inventory.path, join(dir, 'multinode'));
  assert.equal(deployment.globals.kolla_internal_vip_address, null);
  const interfaces = { network: 'eth1', api: 'eth1', tunnel: 'eth1' };
  assert.deepEqual(deployment.hosts, [
    { name: 'ctl01', address: '10.0.0.11', connection: 'ssh', user: 'deploy', port: 22, become: false, line: 4, interfaces },
    { name: 'ctl02', address: '10.0.0.12', connection: 'ssh', user: 'deploy', port: 2222, become: true, privateKeyFile: join(homedir(), '.ssh/berth'), line: 5, interfaces },
    { name: 'cmp01', address: '10.0.0.21', connection: 'ssh', user: 'root', port: 22, become: false, line: 7, interfaces },
  ]);
});

test('interfaces per host or per group override globals.yml; what follows network_interface follows the host\'s', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\ntunnel_interface: "{{ network_interface }}"\nneutron_external_interface: eth9\n');
  writeFileSync(
    join(dir, 'multinode'),
    [
      '[control]',
      'ctl01 ansible_host=10.0.0.11',
      '[network]',
      'net01 ansible_host=10.0.0.31 api_interface=br-api neutron_external_interface=eth2',
      '[compute]',
      'cmp01 ansible_host=10.0.0.21',
      'cmp02 ansible_host=10.0.0.22 tunnel_interface=ens8',
      '[compute:vars]',
      'network_interface=ens4',
      '',
    ].join('\n'),
  );
  genpwd(dir, []);
  const { deployment } = loadDeployment(dir, { requiredSecrets: [] });
  const of = (name: string) => deployment.hosts.find((h) => h.name === name)!.interfaces;
  assert.deepEqual(of('ctl01'), { network: 'eth0', api: 'eth0', tunnel: 'eth0', neutronExternal: 'eth9' });
  assert.deepEqual(of('net01'), { network: 'eth0', api: 'br-api', tunnel: 'eth0', neutronExternal: 'eth2' });
  // [compute:vars] network_interface: api and tunnel interfaces follow it, as kolla-ansible's defaults do.
  assert.deepEqual(of('cmp01'), { network: 'ens4', api: 'ens4', tunnel: 'ens4', neutronExternal: 'eth9' });
  assert.deepEqual(of('cmp02'), { network: 'ens4', api: 'ens4', tunnel: 'ens8', neutronExternal: 'eth9' });

  // An api_interface written in globals.yml stays the same for a host with its own network_interface.
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\napi_interface: br-api\n');
  const again = loadDeployment(dir, { requiredSecrets: [] }).deployment;
  assert.deepEqual(again.hosts.find((h) => h.name === 'cmp01')!.interfaces, { network: 'ens4', api: 'br-api', tunnel: 'ens4' });

  // A bad interface name is refused at its line, naming the key.
  writeFileSync(join(dir, 'multinode'), '[control]\nctl01 api_interface="eth0; reboot"\n');
  assert.throws(() => loadDeployment(dir, { requiredSecrets: [] }), /multinode:2: host "ctl01": api_interface: must be a network interface name/);
});

test('two hosts with one address: exit 2 naming both hosts and their lines', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\n');
  genpwd(dir, []);
  writeFileSync(join(dir, 'multinode'), '[control]\nctl01 ansible_host=10.0.0.11\n[compute]\ncmp01 ansible_host=10.0.0.21\ncmp02 ansible_host=10.0.0.11\n');
  assert.throws(
    () => loadDeployment(dir, { requiredSecrets: [] }),
    (err: unknown) =>
      err instanceof InputError &&
      err.message === `${join(dir, 'multinode')}: hosts "ctl01" (line 2) and "cmp02" (line 5) have the same address 10.0.0.11 (ansible_host, else the host name)` &&
      /its own ansible_host/.test(err.hint ?? ''),
  );
  // A host named by its address and another given that address.
  writeFileSync(join(dir, 'multinode'), '[control]\n10.0.0.11\n[compute]\ncmp01 ansible_host=10.0.0.11\n');
  assert.throws(() => loadDeployment(dir, { requiredSecrets: [] }), /hosts "10\.0\.0\.11" \(line 2\) and "cmp01" \(line 4\)/);
});

test('errors: no inventory, an unsupported connection', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\n');
  genpwd(dir, []);
  assert.throws(() => loadDeployment(dir, { requiredSecrets: [] }), (err: unknown) => err instanceof InputError && /no inventory/.test(err.message) && /berth init/.test(err.hint ?? ''));

  writeFileSync(join(dir, 'multinode'), '[control]\nctl01 ansible_connection=winrm\n');
  assert.throws(() => loadDeployment(dir, { requiredSecrets: [] }), /multinode:2: host "ctl01": ansible_connection=winrm is not supported/);
});

test('detectDefaultInterface follows the default route, else the first non-loopback IPv4', () => {
  const nic = (address: string, family: 'IPv4' | 'IPv6' = 'IPv4', internal = false) =>
    ({ address, family, internal, netmask: '', mac: '', cidr: null }) as NetworkInterfaceInfo;
  const interfaces = { lo: [nic('127.0.0.1', 'IPv4', true)], eth0: [nic('fe80::1', 'IPv6'), nic('10.0.0.5')], wlan0: [nic('192.168.1.7')] };
  const routeTable = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
  ].join('\n');
  assert.deepEqual(detectDefaultInterface({ routeTable, interfaces }), { interface: 'wlan0', address: '192.168.1.7' });
  assert.deepEqual(detectDefaultInterface({ routeTable: null, interfaces }), { interface: 'eth0', address: '10.0.0.5' });
  assert.throws(() => detectDefaultInterface({ routeTable: null, interfaces: { lo: interfaces.lo } }), InputError);
});

test('a tunnel_address or ansible_host that is not an address stops the deployment at its inventory line', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\n');
  genpwd(dir, []);
  writeFileSync(join(dir, 'multinode'), '[control]\nctl01 ansible_host=10.0.0.11 tunnel_address=10.0.1.11\n');
  const { deployment } = loadDeployment(dir, { requiredSecrets: [] });
  assert.equal(deployment.hosts[0]!.tunnelAddress, '10.0.1.11');

  writeFileSync(join(dir, 'multinode'), '[control]\nctl01 ansible_host=10.0.0.11 tunnel_address="10.0.1.11 && reboot"\n');
  assert.throws(
    () => loadDeployment(dir, { requiredSecrets: [] }),
    (err: unknown) => err instanceof InputError && err.message === `${join(dir, 'multinode')}:2: host "ctl01": tunnel_address: must be an IP address`,
  );
  writeFileSync(join(dir, 'multinode'), '[all:vars]\nansible_host="$(reboot)"\n[control]\nctl01\n');
  assert.throws(
    () => loadDeployment(dir, { requiredSecrets: [] }),
    (err: unknown) => err instanceof InputError && err.message === `${join(dir, 'multinode')}:2: [all:vars]: ansible_host: must be an IP address or a DNS host name`,
  );
});

test('berth_docker_host: Docker\'s TCP API, plain only on loopback, TLS files read from berth_docker_tls_dir; bad forms named at their line', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\n');
  genpwd(dir, []);
  const certs = join(dir, 'certs');
  mkdirSync(certs);
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(certs, f), `${f} bytes`);
  writeFileSync(join(dir, 'multinode'), `[control]\nsim1 berth_docker_host=tcp://127.1.0.1:2375\nnode2 berth_docker_host=tcp://10.0.0.12:2376 berth_docker_tls_dir=${certs}\n`);
  const { deployment } = loadDeployment(dir, { requiredSecrets: [] });
  const [sim1, node2] = deployment.hosts;
  assert.equal(sim1!.connection, 'tcp');
  assert.equal(sim1!.address, '127.1.0.1');
  assert.deepEqual(sim1!.docker, { address: '127.1.0.1', port: 2375 });
  assert.deepEqual(node2!.docker, { address: '10.0.0.12', port: 2376, tls: { ca: Buffer.from('ca.pem bytes'), cert: Buffer.from('cert.pem bytes'), key: Buffer.from('key.pem bytes') } });

  const refused = (inventory: string, message: RegExp, hint?: RegExp): void => {
    writeFileSync(join(dir, 'multinode'), inventory);
    assert.throws(
      () => loadDeployment(dir, { requiredSecrets: [] }),
      (err: unknown) => err instanceof InputError && message.test(err.message) && (!hint || hint.test(err.hint ?? '')),
    );
  };
  refused('[control]\nnode2 berth_docker_host=tcp://10.0.0.12:2375\n', /multinode:2: host "node2": berth_docker_host tcp:\/\/10\.0\.0\.12:2375 without TLS/, /berth_docker_tls_dir/);
  refused('[control]\nnode2 berth_docker_host=10.0.0.12:2375\n', /multinode:2: .*berth_docker_host: must be tcp:\/\/ADDRESS:PORT/);
  refused('[control]\nnode2 berth_docker_host=tcp://10.0.0.12:99999\n', /multinode:2: .*berth_docker_host: must be tcp:\/\/ADDRESS:PORT/);
  refused(`[control]\nnode2 berth_docker_host=tcp://10.0.0.12:2376 berth_docker_tls_dir=${dir}/none\n`, /multinode:2: host "node2": berth_docker_tls_dir: cannot read .*none\/ca\.pem \(ENOENT\)/);
  refused('[control]\nlocalhost ansible_connection=local berth_docker_host=tcp://127.0.0.1:2375\n', /berth_docker_host and ansible_connection=local together/);
});
