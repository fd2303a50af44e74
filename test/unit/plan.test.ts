import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { catalog, catalogGroups, catalogSecrets } from '../../src/catalog/index.js';
import { defaultBuildConfig, loadBuildConfig } from '../../src/config/build-config.js';
import { loadDeployment } from '../../src/config/deployment.js';
import { initConfig } from '../../src/config/init.js';
import { genpwd } from '../../src/config/passwords.js';
import { plan, rabbitmqUser, type PlanInput } from '../../src/plan/plan.js';
import { appliedMarker, decide } from '../../src/reconcile/diff.js';
import { LABEL, type DesiredContainer, type HostFacts } from '../../src/plan/types.js';
import { canonicalJson } from '../../src/plan/plan.js';
import { ovsDatapathProblem } from '../../src/cli/deploy-commands.js';

/** The facts a host would report: its hostname and the addresses of its interfaces. */
function factsOf(hostname: string, addresses: Record<string, string>): HostFacts {
  return { hostname, addresses, interfaces: ['lo', ...Object.keys(addresses)] };
}
const aio = { localhost: factsOf('aio', { ens3: '192.0.2.20' }) };
const options = { requiredSecrets: catalogSecrets().map((s) => s.name), defaultGroups: catalogGroups() };

function input(overrides: Record<string, string> = {}): PlanInput {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
  initConfig(dir, { interface: 'ens3', address: '192.0.2.20', hostname: 'aio', ovsDatapath: { value: 'system', why: 'module openvswitch is loaded' } });
  genpwd(dir, catalogSecrets());
  const { deployment } = loadDeployment(dir, options);
  return { deployment, overrides, images: defaultBuildConfig, facts: aio };
}

const base = input();

test('services come in dependency order with their containers and jobs, fully resolved', () => {
  const p = plan(base, catalog);
  const names = p.services.map((s) => s.service);
  assert.ok(names.indexOf('keystone') > names.indexOf('mariadb'));
  const keystone = p.services.find((s) => s.service === 'keystone')!;
  assert.deepEqual(keystone.jobs.map((j) => j.name), ['keystone_database', 'keystone_bootstrap']);
  const c = keystone.containers[0]!;
  assert.equal(c.spec.image, 'berth/keystone:2025.1');
  assert.equal(c.spec.networkMode, 'host');
  assert.match(c.files['keystone-uwsgi.ini']!, /http-socket = 192\.0\.2\.20:5000/);
  assert.match(c.spec.healthcheck.test, /^healthcheck_curl http:\/\/192\.0\.2\.20:5000\/v3$/);
  const config = JSON.parse(c.files['config.json']!) as { command: string; config_files: { dest: string }[] };
  assert.equal(config.command, 'uwsgi --ini /etc/keystone/keystone-uwsgi.ini');
  assert.ok(config.config_files.some((f) => f.dest === '/etc/keystone/fernet-keys/0'));
  const rabbit = p.services.find((s) => s.service === 'rabbitmq')!.containers[0]!;
  assert.match(rabbit.files['rabbitmq-env.conf']!, /NODENAME=rabbit@aio/);
  assert.match(rabbit.files['definitions.json']!, /"name": "keystone"/);
  JSON.parse(rabbit.files['definitions.json']!);
});

test('no secret is in a container spec (environment, command, labels)', () => {
  const p = plan(base, catalog);
  const secrets = Object.values(base.deployment.passwords);
  for (const s of p.services) {
    for (const c of [...s.containers, ...s.jobs]) {
      const spec = canonicalJson(c.spec);
      for (const secret of secrets) assert.ok(!spec.includes(secret), `${c.name} spec holds a secret`);
    }
  }
});

test('the plan is deterministic, and an override changes only that file of that container', () => {
  const a = plan(base, catalog);
  const b = plan(base, catalog);
  assert.equal(canonicalJson(a), canonicalJson(b));
  const withOverride = plan({ ...base, overrides: { 'keystone.conf': '[token]\nexpiration = 7200\n' } }, catalog);
  const ks = (p: typeof a) => p.services.find((s) => s.service === 'keystone')!.containers[0]!;
  assert.match(ks(withOverride).files['keystone.conf']!, /\[token\]\nprovider = fernet\nexpiration = 7200/);
  assert.equal(ks(withOverride).specHash, ks(a).specHash);
  assert.notEqual(ks(withOverride).configHash, ks(a).configHash);
  const job = (p: typeof a) => p.services.find((s) => s.service === 'keystone')!.jobs.find((j) => j.name === 'keystone_bootstrap')!;
  assert.equal(job(withOverride).inputsHash, job(a).inputsHash, 'bootstrap does not rerun for a keystone.conf change');
  for (const svc of ['mariadb', 'memcached', 'rabbitmq']) {
    const before = a.services.find((s) => s.service === svc)!.containers[0]!;
    const after = withOverride.services.find((s) => s.service === svc)!.containers[0]!;
    assert.equal(after.configHash, before.configHash, svc);
  }
});

test('a disabled service is not planned', () => {
  const g = { ...base.deployment.globals, enable_memcached: false };
  const p = plan({ ...base, deployment: { ...base.deployment, globals: g } }, catalog);
  assert.ok(!p.services.some((s) => s.service === 'memcached'));
});

test('decide: create, recreate with the field named, restart with the file and key named, none', () => {
  const c = plan(base, catalog).services.find((s) => s.service === 'keystone')!.containers[0]!;
  assert.equal(decide(c, {}).kind, 'create');
  const actual = {
    id: 'x', name: c.name, imageId: 'sha256:1', status: 'running', running: true, exitCode: 0, startedAt: new Date().toISOString(), volumes: [],
    labels: { [LABEL.specHash]: c.specHash, [LABEL.spec]: canonicalJson(c.spec), [LABEL.configHash]: c.configHash },
  };
  assert.deepEqual(decide(c, { container: actual, imageId: 'sha256:1', files: c.files, filesWrittenAt: 0 }), { kind: 'none' });
  const changedFiles = { ...c.files, 'keystone.conf': c.files['keystone.conf']!.replace('expiration = 86400', 'expiration = 60') };
  const restart = decide(c, { container: actual, imageId: 'sha256:1', files: changedFiles, filesWrittenAt: 0 });
  assert.equal(restart.kind, 'restart');
  assert.match(restart.kind === 'restart' ? restart.reasons.join() : '', /keystone\.conf changed \(token\.expiration\)/);
  const oldSpec = { ...c.spec, capAdd: ['NET_ADMIN'] };
  const recreate = decide(c, { container: { ...actual, labels: { ...actual.labels, [LABEL.specHash]: 'old', [LABEL.spec]: canonicalJson(oldSpec) } }, imageId: 'sha256:1', files: c.files });
  assert.deepEqual(recreate, { kind: 'recreate', reasons: ['capAdd changed'] });
  assert.equal(decide(c, { container: actual, imageId: 'sha256:2', files: c.files }).kind, 'recreate');
  assert.equal(decide(c, { container: { ...actual, running: false }, imageId: 'sha256:1', files: c.files }).kind, 'start');
});

test('decide: an unhealthy container is restarted; an unlabelled one (adopted) is recreated', () => {
  const c = plan(base, catalog).services.find((s) => s.service === 'keystone')!.containers[0]!;
  const actual = {
    id: 'x', name: c.name, imageId: 'sha256:1', status: 'running', running: true, exitCode: 0, startedAt: new Date().toISOString(), volumes: [],
    labels: { [LABEL.specHash]: c.specHash, [LABEL.spec]: canonicalJson(c.spec), [LABEL.configHash]: c.configHash },
  };
  assert.deepEqual(decide(c, { container: { ...actual, health: 'unhealthy' }, imageId: 'sha256:1', files: c.files, filesWrittenAt: 0 }), {
    kind: 'restart',
    reasons: ['container is unhealthy'],
  });
  assert.equal(decide(c, { container: { ...actual, health: 'starting' }, imageId: 'sha256:1', files: c.files, filesWrittenAt: 0 }).kind, 'none');
  assert.equal(decide(c, { container: actual, imageId: 'sha256:1', files: c.files, filesWrittenAt: 0, labelledOurs: false }).kind, 'recreate');
});

test('decide: files that apply live (a new password) are applied in the running container, not by a restart', () => {
  const svc = (name: string) => plan(base, catalog).services.find((s) => s.service === name)!.containers[0]!;
  const started = new Date(Date.now() - 60_000).toISOString();
  const running = (c: ReturnType<typeof svc>) => ({
    id: 'x', name: c.name, imageId: 'sha256:1', status: 'running', running: true, exitCode: 0, startedAt: started, volumes: [],
    labels: { [LABEL.specHash]: c.specHash, [LABEL.spec]: canonicalJson(c.spec), [LABEL.configHash]: c.configHash },
  });
  const mariadb = svc('mariadb');
  const oldSql = { ...mariadb.files, 'bootstrap.sql': 'old' };
  const apply = decide(mariadb, { container: running(mariadb), imageId: 'sha256:1', files: oldSql, filesWrittenAt: 0 });
  assert.equal(apply.kind, 'apply');
  assert.match(apply.kind === 'apply' ? apply.commands[0]!.exec : '', /mariadb --protocol=socket < \/var\/lib\/kolla\/config_files\/bootstrap\.sql/);
  // With another file changed too, the restart covers both.
  const both = { ...oldSql, 'config.json': '{}' };
  assert.equal(decide(mariadb, { container: running(mariadb), imageId: 'sha256:1', files: both, filesWrittenAt: 0 }).kind, 'restart');
  // Once applied, the marker tells the next deploy that the files written after the start are in place.
  const c = running(mariadb);
  const written = Date.now();
  assert.equal(decide(mariadb, { container: c, imageId: 'sha256:1', files: mariadb.files, filesWrittenAt: written }).kind, 'restart');
  assert.equal(decide(mariadb, { container: c, imageId: 'sha256:1', files: mariadb.files, filesWrittenAt: written, marker: appliedMarker(c, mariadb.configHash) }).kind, 'none');
  // keystone's admin-password file is read by its bootstrap job only: nothing to do in the container.
  const keystone = svc('keystone');
  const oldPassword = { ...keystone.files, 'admin-password': 'old' };
  assert.deepEqual(decide(keystone, { container: running(keystone), imageId: 'sha256:1', files: oldPassword, filesWrittenAt: 0 }), {
    kind: 'apply',
    reasons: ['admin-password changed'],
    commands: [],
  });
});

test('RabbitMQ password hashes are stable and in RabbitMQ SHA-256 format', () => {
  const h = rabbitmqUser('nova', 'secret');
  assert.deepEqual(rabbitmqUser('nova', 'secret'), h);
  assert.equal(Buffer.from(h.password_hash, 'base64').length, 36);
});

test('a keystone field makes a registration job; its credentials are in 0600 files, never in the spec', () => {
  const demo = {
    name: 'demo',
    enableKey: 'enable_keystone',
    group: 'control',
    groups: {},
    dependsOn: ['keystone'],
    keystone: {
      type: 'demo',
      name: 'demo',
      description: 'a test service',
      endpoints: [{ interface: 'public' as const, url: 'http://{{ api_address }}:9999' }],
      user: { name: 'demo', passwordKey: 'keystone_admin_password', roles: ['admin'] },
    },
    containers: [],
  };
  const p = plan(base, [...catalog, demo]);
  const job = p.services.find((s) => s.service === 'demo')!.jobs[0]!;
  assert.equal(job.name, 'demo_keystone');
  assert.equal(job.spec.image, 'berth/toolbox:2025.1');
  const register = JSON.parse(job.files['register.json']!) as { endpoints: { url: string }[]; user: { password: string } };
  assert.equal(register.endpoints[0]!.url, 'http://192.0.2.20:9999');
  assert.equal(register.user.password, base.deployment.passwords.keystone_admin_password);
  const config = JSON.parse(job.files['config.json']!) as { config_files: { dest: string; perm: string }[] };
  assert.ok(config.config_files.every((f) => f.perm === '0600'));
  assert.ok(config.config_files.some((f) => f.dest === '/etc/openstack/clouds.yaml'));
  assert.ok(!canonicalJson(job.spec).includes(base.deployment.passwords.keystone_admin_password!));
});

test('the core cloud: glance, placement and nova through the shared mechanisms only', () => {
  const g = { ...base.deployment.globals, enable_glance: true, enable_placement: true, enable_nova: true };
  const input = { ...base, deployment: { ...base.deployment, globals: g } };
  const p = plan(input, catalog);
  const names = p.services.map((s) => s.service);
  assert.ok(names.indexOf('nova') > names.indexOf('glance') && names.indexOf('nova') > names.indexOf('placement'));
  const svc = (n: string) => p.services.find((s) => s.service === n)!;
  assert.deepEqual(svc('glance').jobs.map((j) => j.name), ['glance_database', 'glance_keystone', 'glance_bootstrap']);
  assert.deepEqual(svc('placement').jobs.map((j) => j.name), ['placement_database', 'placement_keystone', 'placement_bootstrap']);
  const nova = svc('nova');
  assert.deepEqual(nova.jobs.map((j) => `${j.name}:${j.phase}`), ['nova_database:before', 'nova_keystone:before', 'nova_bootstrap:before', 'nova_discover_hosts:after']);
  assert.deepEqual(nova.containers.map((c) => c.name), ['nova_api', 'nova_conductor', 'nova_scheduler', 'nova_compute']);
  // One database job creates every database of the service.
  const sql = nova.jobs[0]!.files['database.sql']!;
  for (const db of ['nova_api', 'nova', 'nova_cell0']) assert.match(sql, new RegExp(`CREATE DATABASE IF NOT EXISTS \`${db}\`;`));
  // The glance volume, the endpoints, the RabbitMQ user.
  assert.ok(svc('glance').containers[0]!.spec.volumes.includes('glance:/var/lib/glance/images'));
  const register = JSON.parse(nova.jobs[1]!.files['register.json']!) as { type: string; endpoints: { url: string }[] };
  assert.equal(register.type, 'compute');
  assert.ok(register.endpoints.every((e) => e.url === 'http://192.0.2.20:8774/v2.1'));
  assert.match(svc('rabbitmq').containers[0]!.files['definitions.json']!, /"name": "nova"/);
  // Config: the API and conductor reach the databases; compute hosts do not.
  const conf = (c: string) => nova.containers.find((x) => x.name === c)!.files['nova.conf']!;
  assert.match(conf('nova_api'), /\[api_database\]\nconnection = mysql\+pymysql:\/\/nova_api:/);
  assert.match(conf('nova_conductor'), /\[database\]\nconnection = mysql\+pymysql:\/\/nova:.*\/nova\n/);
  assert.doesNotMatch(conf('nova_compute'), /mysql|\[database\]/);
  assert.match(conf('nova_compute'), /compute_driver = fake\.FakeDriver/);
  assert.match(conf('nova_compute'), /transport_url = rabbit:\/\/nova:/);
  assert.match(conf('nova_api'), /\[glance\]\napi_servers = http:\/\/192\.0\.2\.20:9292/);
  // discover_hosts reruns when a compute host appears, and only then.
  const discover = (p: typeof nova) => p.jobs.find((j) => j.name === 'nova_discover_hosts')!;
  assert.equal(discover(nova).spec.environment.NOVA_DISCOVER_HOSTS, 'aio');
  const withOverride = plan({ ...input, overrides: { 'nova.conf': '[DEFAULT]\ndebug = True\n' } }, catalog).services.find((s) => s.service === 'nova')!;
  assert.equal(discover(withOverride).inputsHash, discover(nova).inputsHash);
  assert.equal(withOverride.jobs.find((j) => j.name === 'nova_bootstrap')!.inputsHash, nova.jobs[2]!.inputsHash);
  const inv = base.deployment.inventory;
  const groups = new Map(inv.groups);
  const compute = groups.get('compute')!;
  groups.set('compute', { ...compute, children: [], hosts: ['localhost', 'compute2'] });
  const twoHosts = {
    ...input,
    deployment: {
      ...input.deployment,
      inventory: { ...inv, groups, hosts: new Map([...inv.hosts, ['compute2', { name: 'compute2', vars: {}, line: 0 }]]) },
      hosts: [...input.deployment.hosts, { ...input.deployment.hosts[0]!, name: 'compute2', address: '192.0.2.21', connection: 'ssh' as const }],
    },
    facts: { ...aio, compute2: factsOf('cmp2', { ens3: '192.0.2.21' }) },
  };
  const novaTwo = plan(twoHosts, catalog).services.find((s) => s.service === 'nova')!;
  assert.equal(discover(novaTwo).spec.environment.NOVA_DISCOVER_HOSTS, 'aio cmp2');
  assert.notEqual(discover(novaTwo).inputsHash, discover(nova).inputsHash);
  assert.deepEqual(novaTwo.containers.filter((c) => c.name === 'nova_compute').map((c) => c.host), ['localhost', 'compute2']);
  assert.deepEqual(novaTwo.containers.filter((c) => c.name === 'nova_api').map((c) => c.host), ['localhost']);
  assert.match(novaTwo.containers.find((c) => c.host === 'compute2')!.files['nova.conf']!, /host = cmp2\nmy_ip = 192\.0\.2\.21/);
});

test('heat and horizon: stack domain and roles through the keystone registration, secrets in files only', () => {
  const g = { ...base.deployment.globals, enable_heat: true, enable_horizon: true };
  const p = plan({ ...base, deployment: { ...base.deployment, globals: g } }, catalog);
  const svc = (n: string) => p.services.find((s) => s.service === n)!;
  const heat = svc('heat');
  assert.deepEqual(heat.jobs.map((j) => j.name), ['heat_database', 'heat_keystone', 'heat_bootstrap']);
  assert.deepEqual(heat.containers.map((c) => c.name), ['heat_api', 'heat_engine']);
  const register = JSON.parse(heat.jobs[1]!.files['register.json']!) as {
    endpoints: { url: string }[];
    roles: string[];
    domains: { name: string; admin: { name: string; password: string; role: string } }[];
  };
  assert.ok(register.endpoints.every((e) => e.url === 'http://192.0.2.20:8004/v1/%(tenant_id)s'));
  assert.deepEqual(register.roles, ['heat_stack_owner', 'heat_stack_user']);
  const domainAdmin = base.deployment.passwords.heat_domain_admin_password!;
  assert.deepEqual(register.domains.map((d) => [d.name, d.admin.name, d.admin.role, d.admin.password]), [['heat', 'heat_domain_admin', 'admin', domainAdmin]]);
  assert.ok(catalogSecrets().some((s) => s.name === 'heat_domain_admin_password'));
  const conf = heat.containers[0]!.files['heat.conf']!;
  assert.match(conf, new RegExp(`stack_domain_admin_password = ${domainAdmin}\n`));
  assert.match(conf, /\[heat_api\]\nbind_host = 192\.0\.2\.20\nbind_port = 8004/);
  assert.match(conf, /transport_url = rabbit:\/\/heat:/);
  assert.match(svc('rabbitmq').containers[0]!.files['definitions.json']!, /"name": "heat"/);
  // A service without extra roles or domains keeps the registration input it had.
  const glanceRegister = JSON.parse(svc('glance').jobs[1]!.files['register.json']!) as object;
  assert.ok(!('roles' in glanceRegister) && !('domains' in glanceRegister));

  const horizon = svc('horizon').containers[0]!;
  assert.equal(horizon.spec.image, 'berth/horizon:2025.1');
  assert.deepEqual(horizon.ports, [80]);
  const settings = horizon.files['local_settings.py']!;
  assert.match(settings, new RegExp(`SECRET_KEY = "${base.deployment.passwords.horizon_secret_key}"`));
  assert.match(settings, /OPENSTACK_KEYSTONE_URL = 'http:\/\/%s:5000\/v3' % OPENSTACK_HOST/);
  assert.match(settings, /'LOCATION': \["192\.0\.2\.20:11211"\]/);
  assert.match(horizon.files['horizon-uwsgi.ini']!, /shared-socket = 192\.0\.2\.20:80\nhttp-socket = =0\n/);
  for (const c of [...heat.containers, ...heat.jobs, horizon]) {
    for (const secret of [domainAdmin, base.deployment.passwords.horizon_secret_key!]) assert.ok(!canonicalJson(c.spec).includes(secret));
  }
});

test('neutron: agents with capabilities and shared /run/netns, host setup on their hosts, nothing changes for the others', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
  initConfig(dir, { interface: 'ens3', address: '192.0.2.20', hostname: 'aio', ovsDatapath: { value: 'system', why: 'module openvswitch is loaded' } });
  appendFileSync(join(dir, 'globals.yml'), 'tunnel_interface: ens4\n');
  genpwd(dir, catalogSecrets());
  const { deployment } = loadDeployment(dir, options);
  const facts = { localhost: factsOf('aio', { ens3: '192.0.2.20', ens4: '198.51.100.7' }) };
  const p = plan({ deployment, overrides: {}, images: defaultBuildConfig, facts }, catalog);
  const names = p.services.map((s) => s.service);
  assert.ok(names.indexOf('neutron') < names.indexOf('nova'), 'neutron before nova');
  const neutron = p.services.find((s) => s.service === 'neutron')!;
  assert.deepEqual(neutron.jobs.map((j) => j.name), ['neutron_host_setup', 'neutron_database', 'neutron_keystone', 'neutron_bootstrap']);

  const setup = neutron.jobs[0]!;
  assert.equal(setup.spec.pidMode, 'host');
  assert.equal(setup.spec.user, 'root');
  // Only the planned agents count: the linuxbridge agent is not planned with openvswitch.
  assert.deepEqual(setup.whileDown, ['neutron_openvswitch_agent', 'neutron_dhcp_agent', 'neutron_l3_agent']);
  assert.equal(setup.spec.image, 'berth/neutron-openvswitch-agent:2025.1', 'the host setup runs where ovs-vsctl is');
  assert.match(setup.files['host-setup.sh']!, /ip link add berth-ext type veth peer name berth-ext-host/);
  assert.match(setup.files['host-setup.sh']!, /--may-exist add-br br-ex\s+\\\n\s+-- set Bridge br-ex datapath_type=system\s+\\\n\s+-- --may-exist add-port br-ex berth-ext/);
  assert.doesNotMatch(setup.files['host-setup.sh']!, /ethtool/, 'offloads are switched off only for netdev');
  assert.match(neutron.teardown[0]!.files['host-teardown.sh']!, /ip link delete berth-ext/);

  const l3 = neutron.containers.find((c) => c.name === 'neutron_l3_agent')!;
  assert.ok(l3.spec.volumes.includes('/run/netns:/run/netns:shared'));
  assert.ok(l3.spec.capAdd.includes('NET_ADMIN') && l3.spec.capAdd.includes('SYS_ADMIN'));
  assert.equal(l3.spec.writableProcSys, true);
  assert.deepEqual(l3.after, ['neutron_server']);
  assert.equal(neutron.containers.find((c) => c.name === 'neutron_linuxbridge_agent'), undefined);
  const ovsAgent = neutron.containers.find((c) => c.name === 'neutron_openvswitch_agent')!;
  assert.match(ovsAgent.files['openvswitch_agent.ini']!, /local_ip = 198\.51\.100\.7/);
  assert.match(ovsAgent.files['openvswitch_agent.ini']!, /bridge_mappings = physnet1:br-ex/);
  assert.match(ovsAgent.files['openvswitch_agent.ini']!, /datapath_type = system/);
  assert.match(ovsAgent.files['openvswitch_agent.ini']!, /firewall_driver = iptables_hybrid/);
  assert.ok(ovsAgent.spec.volumes.includes('/run/openvswitch:/run/openvswitch'));
  const server0 = neutron.containers.find((c) => c.name === 'neutron_server')!;
  assert.match(server0.files['ml2_conf.ini']!, /mechanism_drivers = openvswitch,l2population/);
  assert.doesNotMatch(server0.files['neutron.conf']!, /\[experimental\]/);
  assert.match(l3.files['l3_agent.ini']!, /interface_driver = openvswitch/);
  assert.match(l3.files['l3_agent.ini']!, /^\[ovs\][^[]*ovsdb_connection = tcp:127\.0\.0\.1:6640/m);
  const server = neutron.containers.find((c) => c.name === 'neutron_server')!;
  assert.match(server.files['neutron.conf']!, /^\[database\]/m);
  assert.doesNotMatch(l3.files['neutron.conf']!, /^\[database\]/m, 'agents hold no database credentials');
  const novaApi = p.services.find((s) => s.service === 'nova')!.containers.find((c) => c.name === 'nova_api')!;
  assert.match(novaApi.files['nova.conf']!, /^\[neutron\]$[^[]*service_metadata_proxy = True/m);

  // Specs of services that use none of this keep their shape (and their hash: no recreation).
  const keystone = p.services.find((s) => s.service === 'keystone')!.containers[0]!;
  assert.ok(!('pidMode' in keystone.spec) && !('writableProcSys' in keystone.spec) && !('user' in keystone.spec));
  assert.equal(keystone.specHash, plan(base, catalog).services.find((s) => s.service === 'keystone')!.containers[0]!.specHash);
});

test('neutron_external_interface given: no veth, the agent maps physnet1 to it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
  initConfig(dir, { interface: 'ens3', address: '192.0.2.20', hostname: 'aio', ovsDatapath: { value: 'system', why: 'module openvswitch is loaded' } });
  appendFileSync(join(dir, 'globals.yml'), 'neutron_external_interface: ens5\n');
  genpwd(dir, catalogSecrets());
  const { deployment } = loadDeployment(dir, options);
  const neutron = plan({ deployment, overrides: {}, images: defaultBuildConfig, facts: aio }, catalog).services.find((s) => s.service === 'neutron')!;
  assert.doesNotMatch(neutron.jobs[0]!.files['host-setup.sh']!, /veth/);
  assert.match(neutron.jobs[0]!.files['host-setup.sh']!, /--may-exist add-port br-ex ens5/);
});

test('nova_compute_virt_type: fake plans no libvirt; qemu adds nova_libvirt with /dev/net/tun and the libvirt driver', () => {
  const planFor = (virtType: string): ReturnType<typeof plan> => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
    initConfig(dir, { interface: 'ens3', address: '192.0.2.20', hostname: 'aio', ovsDatapath: { value: 'system', why: 'module openvswitch is loaded' } });
    appendFileSync(join(dir, 'globals.yml'), `nova_compute_virt_type: ${virtType}\n`);
    genpwd(dir, catalogSecrets());
    const { deployment } = loadDeployment(dir, options);
    return plan({ deployment, overrides: {}, images: defaultBuildConfig, facts: aio }, catalog);
  };
  const novaOf = (p: ReturnType<typeof plan>) => p.services.find((s) => s.service === 'nova')!.containers;
  const fake = novaOf(planFor('fake'));
  assert.deepEqual(fake.map((c) => c.name).sort(), ['nova_api', 'nova_compute', 'nova_conductor', 'nova_scheduler']);
  assert.match(fake.find((c) => c.name === 'nova_compute')!.files['nova.conf']!, /compute_driver = fake\.FakeDriver/);
  assert.deepEqual(fake.find((c) => c.name === 'nova_compute')!.spec.capAdd, []);

  const qemu = novaOf(planFor('qemu'));
  const libvirt = qemu.find((c) => c.name === 'nova_libvirt')!;
  assert.deepEqual(libvirt.spec.devices, ['/dev/net/tun']);
  const compute = qemu.find((c) => c.name === 'nova_compute')!;
  assert.match(compute.files['nova.conf']!, /compute_driver = libvirt\.LibvirtDriver/);
  assert.match(compute.files['nova.conf']!, /virt_type = qemu/);
  assert.deepEqual(compute.after, ['nova_libvirt']);
  assert.ok(compute.spec.volumes.includes('nova_libvirt_run:/run/libvirt') && libvirt.spec.volumes.includes('nova_libvirt_run:/run/libvirt'));
  assert.deepEqual(novaOf(planFor('kvm')).find((c) => c.name === 'nova_libvirt')!.spec.devices, ['/dev/net/tun', '/dev/kvm']);
});

/** A plan of the all-in-one with these lines appended to globals.yml. */
function planWith(lines: string[]): ReturnType<typeof plan> {
  return planAndDeployment(lines).plan;
}

function planAndDeployment(lines: string[]): { plan: ReturnType<typeof plan>; deployment: PlanInput['deployment'] } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
  // berth init writes ovs_datapath_type itself, as it would choose it.
  const netdev = lines.includes('ovs_datapath_type: netdev');
  initConfig(dir, { interface: 'ens3', address: '192.0.2.20', hostname: 'aio', ovsDatapath: { value: netdev ? 'netdev' : 'system', why: 'test' } });
  appendFileSync(join(dir, 'globals.yml'), lines.filter((l) => !l.startsWith('ovs_datapath_type')).map((l) => `${l}\n`).join(''));
  genpwd(dir, catalogSecrets());
  const { deployment } = loadDeployment(dir, options);
  return { plan: plan({ deployment, overrides: {}, images: loadBuildConfig(dir), facts: aio }, catalog), deployment };
}

test('openvswitch (the default): ovsdb-server and vswitchd before neutron, on a volume and /run/openvswitch, with capabilities, not privileged', () => {
  const p = planWith([]);
  const names = p.services.map((s) => s.service);
  assert.ok(names.indexOf('openvswitch') >= 0 && names.indexOf('openvswitch') < names.indexOf('neutron'), 'openvswitch before neutron');
  const ovs = p.services.find((s) => s.service === 'openvswitch')!;
  assert.deepEqual(ovs.containers.map((c) => c.name), ['openvswitch_db', 'openvswitch_vswitchd']);
  const [db, vswitchd] = ovs.containers as [DesiredContainer, DesiredContainer];
  assert.ok(db.spec.volumes.includes('openvswitch_db:/var/lib/openvswitch'));
  assert.match((JSON.parse(db.files['config.json']!) as { command: string }).command, /--remote=punix:\/run\/openvswitch\/db\.sock --remote=ptcp:6640:127\.0\.0\.1/);
  assert.equal(db.spec.healthcheck.test, 'ovsdb-client list-dbs unix:/run/openvswitch/db.sock');
  assert.deepEqual(vswitchd.spec.devices, ['/dev/net/tun']);
  assert.ok(vswitchd.spec.capAdd.includes('NET_ADMIN') && vswitchd.spec.capAdd.includes('IPC_LOCK'));
  assert.deepEqual(vswitchd.after, ['openvswitch_db']);
  assert.ok(p.volumes.localhost!.includes('openvswitch_db'));
  // Its host setup loads the kernel module for system bridges (with SYS_MODULE); teardown removes the datapath.
  const setup = ovs.jobs.find((j) => j.name === 'openvswitch_host_setup')!;
  assert.deepEqual(setup.whileDown, ['openvswitch_vswitchd']);
  assert.ok(setup.spec.capAdd.includes('SYS_MODULE'));
  assert.match(setup.files['host-setup.sh']!, /modprobe openvswitch/);
  assert.match(ovs.teardown[0]!.files['host-teardown.sh']!, /ovs-dpctl del-dp/);
});

test('ovs_datapath_type netdev: every OVS bridge netdev, no module loaded, the provider veth without tx offload', () => {
  const p = planWith(['ovs_datapath_type: netdev']);
  const neutron = p.services.find((s) => s.service === 'neutron')!;
  assert.match(neutron.containers.find((c) => c.name === 'neutron_openvswitch_agent')!.files['openvswitch_agent.ini']!, /datapath_type = netdev/);
  for (const agent of ['neutron_dhcp_agent', 'neutron_l3_agent']) {
    const c = neutron.containers.find((x) => x.name === agent)!;
    assert.match(Object.entries(c.files).find(([n]) => n.endsWith('_agent.ini'))![1], /datapath_type = netdev/);
  }
  const setup = neutron.jobs[0]!.files['host-setup.sh']!;
  assert.match(setup, /datapath_type=netdev/);
  assert.match(setup, /ethtool -K berth-ext tx off/);
  const ovsSetup = p.services.find((s) => s.service === 'openvswitch')!.jobs[0]!.files['host-setup.sh']!;
  assert.doesNotMatch(ovsSetup, /modprobe/);
});

test('neutron_plugin_agent linuxbridge: the linuxbridge agent, no Open vSwitch, the host setup in its image', () => {
  const p = planWith(['openstack_release: zed', 'neutron_plugin_agent: linuxbridge']);
  assert.equal(p.services.find((s) => s.service === 'openvswitch'), undefined, 'enable_openvswitch follows the agent');
  const neutron = p.services.find((s) => s.service === 'neutron')!;
  const names = neutron.containers.map((c) => c.name);
  assert.ok(names.includes('neutron_linuxbridge_agent') && !names.includes('neutron_openvswitch_agent'));
  const setup = neutron.jobs[0]!;
  assert.equal(setup.spec.image, 'berth/neutron-linuxbridge-agent:zed');
  assert.deepEqual(setup.whileDown, ['neutron_linuxbridge_agent', 'neutron_dhcp_agent', 'neutron_l3_agent']);
  assert.doesNotMatch(setup.files['host-setup.sh']!, /ovs-vsctl/);
  const bridge = neutron.containers.find((c) => c.name === 'neutron_linuxbridge_agent')!;
  assert.match(bridge.files['linuxbridge_agent.ini']!, /physical_interface_mappings = physnet1:berth-ext/);
  const server = neutron.containers.find((c) => c.name === 'neutron_server')!;
  assert.match(server.files['ml2_conf.ini']!, /mechanism_drivers = linuxbridge,l2population/);
  assert.match(server.files['neutron.conf']!, /^\[experimental\]\nlinuxbridge = True/m);
  const dhcp = neutron.containers.find((c) => c.name === 'neutron_dhcp_agent')!;
  assert.match(dhcp.files['dhcp_agent.ini']!, /interface_driver = linuxbridge/);
  assert.doesNotMatch(dhcp.files['dhcp_agent.ini']!, /\[ovs\]/);
  // Open vSwitch's host state is still undone by destroy, as for any service that is off.
  assert.ok(p.retiredTeardown.some((j) => j.name === 'openvswitch_host_teardown'));
});

test('prechecks: datapath system on a kernel without openvswitch fails, naming the host, globals.yml and the setting', () => {
  const without = { module: 'openvswitch', kernelRelease: '6.18.44', loaded: false, builtinList: null, modulesDep: null, kernelConfig: '# CONFIG_OPENVSWITCH is not set\n' };
  const system = planAndDeployment([]);
  const problem = ovsDatapathProblem(system, 'localhost', without);
  assert.match(problem ?? '', /^localhost: ovs_datapath_type is "system" \(.*\/globals\.yml\), but kernel 6\.18\.44 is built without openvswitch .*; set ovs_datapath_type: netdev there/);
  assert.equal(ovsDatapathProblem(system, 'localhost', { ...without, loaded: true }), undefined);
  assert.equal(ovsDatapathProblem(planAndDeployment(['ovs_datapath_type: netdev']), 'localhost', without), undefined);
  assert.equal(ovsDatapathProblem(planAndDeployment(['openstack_release: zed', 'neutron_plugin_agent: linuxbridge']), 'localhost', without), undefined, 'no OVS planned there');
});
