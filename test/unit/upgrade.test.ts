// berth upgrade's pieces that need no real cloud: the upgrade steps the plan adds (and only for an
// upgrade), their order in a deploy against in-memory hosts, the record of what the cloud was
// deployed from, restore points and their states, and rollback's image re-tagging. The
// end-to-end suite (test/e2e/70-upgrade.test.ts) upgrades and rolls back a real cloud.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runDeploy } from '../../src/cli/deploy-commands.js';
import { catalogSecrets } from '../../src/catalog/index.js';
import type { InputError } from '../../src/config/errors.js';
import { genpwd } from '../../src/config/passwords.js';
import { copyInputs, deployedInputsDir, deployedRelease, recordDeployedInputs } from '../../src/deployment/deployed-inputs.js';
import { ensureDeploymentId } from '../../src/deployment/identity.js';
import {
  createRestorePoint,
  listRestorePoints,
  newRestorePointId,
  readRestorePoint,
  saveRestorePoint,
  unfinishedUpgrade,
} from '../../src/deployment/restore-points.js';
import { putBackStates, retagImages, setStatesAside } from '../../src/deployment/upgrade.js';
import type { HostFacts } from '../../src/engine/host.js';
import { deploy } from '../../src/reconcile/deploy.js';
import { memoryContext } from './memory-host.js';

const facts: Record<string, HostFacts> = {
  localhost: { hostname: 'aio', addresses: { eth0: '10.0.0.5' }, interfaces: ['lo', 'eth0'], prefixes: { eth0: 24 } },
};

function configDir(globals = 'network_interface: eth0\n'): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-upgrade-'));
  writeFileSync(join(dir, 'globals.yml'), globals);
  writeFileSync(join(dir, 'all-in-one'), '[control]\nlocalhost ansible_connection=local\n[network:children]\ncontrol\n[compute:children]\ncontrol\n[deployment:children]\ncontrol\n');
  genpwd(dir, catalogSecrets());
  ensureDeploymentId(dir);
  return dir;
}

test('an upgrade plan adds the catalog steps: checks apart, expand before the service jobs, contract after; a deploy plan has none', async () => {
  const dir = configDir();
  const { ctx: plain } = await memoryContext(dir, facts);
  assert.equal(plain.plan.upgradeChecks, undefined);
  assert.ok(!plain.plan.services.some((s) => s.upgradeAfter || s.jobs.some((j) => j.name.includes('_upgrade_'))));

  const { ctx } = await memoryContext(dir, facts, [], undefined, { upgrade: { from: '2025.1' } });
  assert.deepEqual(ctx.plan.upgradeChecks?.map((j) => j.name).sort(), ['nova_upgrade_check', 'placement_upgrade_check']);
  const keystone = ctx.plan.services.find((s) => s.service === 'keystone')!;
  const jobs = keystone.jobs.map((j) => j.name);
  assert.ok(jobs.indexOf('keystone_upgrade_expand') < jobs.indexOf('keystone_upgrade_migrate'));
  assert.ok(jobs.indexOf('keystone_upgrade_migrate') < jobs.indexOf('keystone_bootstrap'), jobs.join(', '));
  // The step runs the service's image and config files with its own command.
  const expand = keystone.jobs.find((j) => j.name === 'keystone_upgrade_expand')!;
  assert.equal(expand.spec.image, keystone.containers[0]!.spec.image);
  assert.match(expand.files['config.json']!, /"command": "keystone-manage db_sync --expand"/);
  assert.ok(expand.files['keystone.conf']);
  assert.deepEqual(keystone.upgradeAfter, [{ host: 'localhost', name: 'keystone_upgrade_contract', container: 'keystone', command: 'keystone-manage db_sync --contract' }]);
  assert.deepEqual(ctx.plan.services.find((s) => s.service === 'mariadb')!.upgradeAfter?.map((e) => [e.host, e.container, e.user]), [['localhost', 'mariadb', 'root']]);
  // The containers themselves are the deploy's: an upgrade changes what the release or tag changes.
  assert.deepEqual(
    ctx.plan.services.flatMap((s) => s.containers.map((c) => c.specHash)),
    plain.plan.services.flatMap((s) => s.containers.map((c) => c.specHash)),
  );
});

test("a deploy of the upgrade plan runs the 'after' steps in the new containers once the service is healthy, and reports a failed one", async () => {
  const dir = configDir();
  const { ctx, hosts } = await memoryContext(dir, facts, [], undefined, { upgrade: { from: '2025.1' } });
  const host = hosts.get('localhost')!;
  const execs: string[] = [];
  host.onExec = (container, cmd) => {
    const line = cmd.at(-1) ?? '';
    if (/db_sync --contract|online_data_migrations|mariadb-upgrade|upgrade --contract|db contract/.test(line)) execs.push(`${container}: ${line}`);
    if (line.includes('nova-manage db online_data_migrations')) return { code: 2, output: 'Error attempting to run <function ...>' };
    return undefined;
  };
  const results = await deploy({ plan: ctx.plan, hosts: ctx.hosts, deploymentId: ctx.deploymentId, healthTimeoutMs: 1000 });
  const step = (name: string): string | undefined => results.find((r) => r.target === name)?.status;
  assert.equal(step('keystone_upgrade_expand'), 'changed');
  assert.equal(step('keystone_upgrade_contract'), 'changed');
  assert.equal(step('mariadb_upgrade_tables'), 'changed');
  assert.equal(step('nova_upgrade_online_data_migrations'), 'failed');
  assert.match(results.find((r) => r.target === 'nova_upgrade_online_data_migrations')!.error!, /exited with status 2 in nova_api/);
  // Contract runs after keystone's container was created and found healthy.
  const calls = host.calls;
  assert.ok(calls.indexOf('start keystone') < calls.lastIndexOf('exec keystone'));
  assert.ok(execs.includes('keystone: keystone-manage db_sync --contract'), execs.join('\n'));
});

test('deployed inputs: the operator files copied whole (passwords 0600), replaced whole, and the release they name', () => {
  const dir = configDir('network_interface: eth0\nopenstack_release: "zed"\n');
  recordDeployedInputs(dir, dir);
  const copy = deployedInputsDir(dir);
  assert.equal(readFileSync(join(copy, 'globals.yml'), 'utf8'), readFileSync(join(dir, 'globals.yml'), 'utf8'));
  assert.equal(statSync(join(copy, 'passwords.yml')).mode & 0o777, 0o600);
  assert.equal(statSync(copy).mode & 0o777, 0o700);
  assert.ok(!existsSync(join(copy, 'deployment-id')), 'state stays in the config directory');
  assert.deepEqual(deployedRelease(dir), { release: 'zed', tag: 'zed' });
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\nopenstack_tag: "zed-2"\nopenstack_release: "zed"\n');
  recordDeployedInputs(dir, dir);
  assert.deepEqual(deployedRelease(dir), { release: 'zed', tag: 'zed-2' });
  assert.ok(!existsSync(`${copy}.tmp`) && !existsSync(`${copy}.old`));
});

test('restore points: made in state taking, each state recorded, the unfinished one found, bad ids refused', () => {
  const dir = configDir();
  assert.equal(unfinishedUpgrade(dir), undefined);
  const id = newRestorePointId(new Date('2026-11-30T10:00:00Z'));
  assert.equal(id, 'rp-20261130T100000Z');
  let rp = createRestorePoint(dir, { id, created: '2026-11-30T10:00:00Z', from: { release: '2025.1', tag: 'a' }, to: { release: '2025.1', tag: 'b' }, images: { localhost: { 'berth/keystone:a': 'sha256:1' } } });
  copyInputs(dir, join(dir, 'restore-points', id, 'inputs'));
  // Killed while it was being taken: nothing changed yet, nothing to finish.
  assert.equal(unfinishedUpgrade(dir), undefined);
  rp = saveRestorePoint(dir, rp, 'upgrading');
  assert.equal(unfinishedUpgrade(dir)?.id, id);
  rp = saveRestorePoint(dir, rp, 'failed', 'keystone: not healthy after 60s');
  assert.deepEqual(readRestorePoint(dir, id).history.map((h) => h.state), ['taking', 'upgrading', 'failed']);
  assert.equal(readRestorePoint(dir, id).failure, 'keystone: not healthy after 60s');
  saveRestorePoint(dir, rp, 'rolled-back');
  assert.equal(unfinishedUpgrade(dir), undefined);
  assert.deepEqual(listRestorePoints(dir).map((r) => r.state), ['rolled-back']);
  assert.equal(statSync(join(dir, 'restore-points', id, 'restore-point.json')).mode & 0o777, 0o600);
  assert.throws(() => readRestorePoint(dir, '../etc'), /not a restore point id/);
  assert.throws(() => readRestorePoint(dir, 'rp-20001130T100000Z'), /no restore point rp-20001130T100000Z/);
});

test('rollback puts each image reference back on the image it named, and refuses when that image is gone', async () => {
  const dir = configDir();
  const { ctx, hosts } = await memoryContext(dir, facts);
  const host = hosts.get('localhost')!;
  const rp = createRestorePoint(dir, {
    id: newRestorePointId(),
    created: new Date().toISOString(),
    from: { release: '2025.1', tag: '2025.1' },
    to: { release: '2025.1', tag: 'next' },
    // MemoryHost's image IDs are sha256:<ref>: one reference moved to another image, one did not.
    images: { localhost: { 'berth/keystone:2025.1': 'sha256:old-keystone', 'berth/glance-api:2025.1': 'sha256:berth/glance-api:2025.1' } },
  });
  const said: string[] = [];
  await retagImages(ctx, rp, (l) => said.push(l));
  assert.equal(host.tagged.get('berth/keystone:2025.1'), 'sha256:old-keystone');
  assert.ok(!host.tagged.has('berth/glance-api:2025.1'));
  assert.deepEqual(said, ['localhost: 1 image reference(s) back on the images of ' + rp.id]);

  host.tagged.clear();
  host.missingImages.add('sha256:old-keystone');
  await assert.rejects(retagImages(ctx, rp, () => undefined), /localhost: image sha256:old-keystone .* is no longer on the host/);
});

test('deploy refuses to move the cloud to another tag, and to run over an upgrade that is not over', async () => {
  const dir = configDir('network_interface: eth0\n');
  recordDeployedInputs(dir, dir);
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\nopenstack_tag: "2025.1-next"\n');
  const { ctx } = await memoryContext(dir, facts);
  await assert.rejects(runDeploy(ctx, 'text', { dryRun: false }), (err: InputError) => {
    assert.match(err.message, /the cloud runs 2025\.1, and globals\.yml names 2025\.1 \(tag 2025\.1-next\)/);
    assert.match(err.hint!, /berth upgrade moves it there/);
    return true;
  });

  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\n');
  const rp = createRestorePoint(dir, { id: newRestorePointId(), created: '', from: { release: '2025.1', tag: '2025.1' }, to: { release: '2025.1', tag: '2025.1-next' }, images: {} });
  saveRestorePoint(dir, rp, 'upgrading');
  const { ctx: again } = await memoryContext(dir, facts);
  await assert.rejects(runDeploy(again, 'text', { dryRun: false }), /is not over \(upgrading\)/);
});

test("an upgrade step's files are rendered as the container it upgrades (neutron-server's [database] section)", async () => {
  const { ctx } = await memoryContext(configDir(), facts, [], undefined, { upgrade: { from: '2025.1' } });
  const neutron = ctx.plan.services.find((s) => s.service === 'neutron')!;
  const expand = neutron.jobs.find((j) => j.name === 'neutron_upgrade_expand')!;
  const server = neutron.containers.find((c) => c.name === 'neutron_server')!;
  assert.equal(expand.files['neutron.conf'], server.files['neutron.conf']);
  assert.match(expand.files['neutron.conf']!, /^\[database\]\nconnection = mysql\+pymysql:/m);
});

test('across releases: nova starts beside older computes only during the jump, its status check waits for its new schema; RabbitMQ 4 starts afresh, 3.x kept for a rollback', async () => {
  const dir = configDir('network_interface: eth0\nopenstack_release: "2025.1"\n');
  const novaConf = (ctx: Awaited<ReturnType<typeof memoryContext>>['ctx']): string =>
    ctx.plan.services.flatMap((s) => s.containers).find((c) => c.name === 'nova_conductor')!.files['nova.conf']!;
  const { ctx: jump, hosts } = await memoryContext(dir, facts, [], undefined, { upgrade: { from: 'zed' } });
  assert.match(novaConf(jump), /^\[workarounds\]\n(.*\n)*disable_compute_service_check_for_ffu = True$/m);
  // nova-status reads instances through 2025.1's models: across releases it runs after nova's db sync, first of its after steps.
  assert.deepEqual(jump.plan.upgradeChecks!.map((j) => j.name), ['placement_upgrade_check']);
  assert.deepEqual(jump.plan.services.find((s) => s.service === 'nova')!.upgradeAfter!.map((e) => e.name), ['nova_upgrade_check', 'nova_upgrade_online_data_migrations']);
  const { ctx: tag } = await memoryContext(dir, facts, [], undefined, { upgrade: { from: '2025.1' } });
  const { ctx: plain } = await memoryContext(dir, facts);
  assert.doesNotMatch(novaConf(tag), /disable_compute_service_check_for_ffu/);
  assert.equal(novaConf(tag), novaConf(plain));
  assert.deepEqual(tag.plan.upgradeChecks!.map((j) => j.name).sort(), ['nova_upgrade_check', 'placement_upgrade_check']);

  const host = hosts.get('localhost')!;
  const scripts: string[] = [];
  let setAside = false;
  host.onTool = (run) => {
    const script = run.cmd?.at(-1) ?? '';
    scripts.push(script);
    if (script.includes('echo kept')) return { code: 0, output: setAside ? 'kept' : 'pending' };
    if (script.includes("mv '/var/lib/rabbitmq/mnesia' '/var/lib/rabbitmq/mnesia.before-2025.1'")) setAside = true;
    assert.ok(run.volumes?.some((v) => v.startsWith('rabbitmq:')), 'the state volume is mounted');
    return undefined;
  };
  const said: string[] = [];
  const rp = (from: string): Parameters<typeof setStatesAside>[1] => ({ id: 'rp-x', created: '', from: { release: from, tag: from }, to: { release: '2025.1', tag: '2025.1' }, images: {}, state: 'upgrading', history: [] });
  host.calls.length = 0;
  await setStatesAside(jump, rp('zed'), (l) => said.push(l));
  assert.ok(host.calls.includes('stop rabbitmq'), host.calls.join(', '));
  assert.ok(setAside, scripts.join('\n'));
  assert.match(said.join('\n'), /set aside as \/var\/lib\/rabbitmq\/mnesia\.before-2025\.1/);
  // Resumed: what is set aside stays, and RabbitMQ keeps running.
  host.calls.length = 0;
  await setStatesAside(jump, rp('zed'), (l) => said.push(l));
  assert.ok(!host.calls.includes('stop rabbitmq'), host.calls.join(', '));
  // A tag upgrade of 2025.1 crosses nothing.
  host.calls.length = 0;
  await setStatesAside(jump, rp('2025.1'), (l) => said.push(l));
  assert.deepEqual(host.calls.filter((c) => c.startsWith('runTool') || c.startsWith('stop')), []);
  // The rollback of the jump puts 3.x's state back, with RabbitMQ stopped.
  scripts.length = 0;
  host.calls.length = 0;
  await putBackStates(jump, rp('zed'), (l) => said.push(l));
  assert.ok(host.calls.includes('stop rabbitmq'));
  assert.match(scripts.join('\n'), /rm -rf '\/var\/lib\/rabbitmq\/mnesia'; mv '\/var\/lib\/rabbitmq\/mnesia\.before-2025\.1' '\/var\/lib\/rabbitmq\/mnesia'/);
});
