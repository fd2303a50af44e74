import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { changedSecrets, recordAppliedSecrets, appliedSecretsPath } from '../../src/deployment/applied-secrets.js';
import { ensureDeploymentId, readDeploymentId } from '../../src/deployment/identity.js';
import { acquireLock, lockPath } from '../../src/deployment/lock.js';
import { InputError } from '../../src/config/errors.js';
import { LABEL } from '../../src/plan/types.js';
import { ownershipConflicts, type HostObjects } from '../../src/reconcile/ownership.js';

const dir = (): string => mkdtempSync(join(tmpdir(), 'berth-safety-'));

test('deployment id: made once, kept, and a damaged one is an input error', () => {
  const d = dir();
  assert.equal(readDeploymentId(d), undefined);
  const first = ensureDeploymentId(d);
  assert.equal(first.created, true);
  assert.deepEqual(ensureDeploymentId(d), { id: first.id, created: false });
  writeFileSync(join(d, 'deployment-id'), 'x'.repeat(2000));
  assert.throws(() => readDeploymentId(d), (e: Error) => e instanceof InputError && /deployment-id:1: not a deployment id/.test(e.message));
});

test("ownership: another deployment's objects, unlabelled berth objects and strangers under planned names are conflicts", () => {
  const me = 'aaaaaaaa-1111';
  const other = 'bbbbbbbb-2222';
  const objects: HostObjects = {
    host: 'node1',
    containers: [
      { name: 'keystone', labels: { [LABEL.deployment]: me, [LABEL.managed]: 'true' }, volumes: ['kolla_logs'] },
      { name: 'mariadb', labels: { [LABEL.deployment]: other, [LABEL.managed]: 'true' }, volumes: ['mariadb'] },
      { name: 'rabbitmq', labels: { [LABEL.managed]: 'true' }, volumes: ['rabbitmq'] },
      { name: 'memcached', labels: {}, volumes: [] },
      { name: 'unrelated', labels: {}, volumes: [] },
    ],
    volumes: [
      { name: 'kolla_logs', labels: {} },
      { name: 'glance', labels: {} },
      { name: 'mariadb', labels: { [LABEL.deployment]: other } },
      { name: 'someone_elses', labels: {} },
    ],
    plannedNames: new Set(['keystone', 'mariadb', 'rabbitmq', 'memcached']),
    plannedVolumes: ['kolla_logs', 'glance', 'mariadb', 'rabbitmq'],
  };
  const found = ownershipConflicts(objects, me, false).map((c) => `${c.object}: ${c.problem}`);
  assert.deepEqual(found, [
    `container mariadb: belongs to deployment ${other}`,
    'container rabbitmq: was made by berth without a deployment id (an older berth, or another deployment)',
    'container memcached: was not made by berth, and the plan needs its name',
    'volume glance: holds data berth did not make for this deployment, and the plan needs its name',
    `volume mariadb: belongs to deployment ${other}`,
  ]);
  // --adopt takes over berth's objects, whoever's they were, never a stranger's container.
  const adopted = ownershipConflicts(objects, me, true).map((c) => c.object);
  assert.deepEqual(adopted, ['container memcached']);
  // The deployment host of a multinode cloud, where another deployment's all-in-one runs: nothing
  // of this plan is placed there, so nothing of theirs is in the way.
  assert.deepEqual(ownershipConflicts({ ...objects, plannedNames: new Set(), plannedVolumes: [] }, me, false), []);
});

test('lock: a second holder is refused with the holder named; a dead holder is taken over', () => {
  const d = dir();
  const held = acquireLock(d, 'berth deploy');
  assert.throws(
    () => acquireLock(d, 'berth destroy'),
    (e: Error) => e instanceof InputError && new RegExp(`locked by berth deploy \\(pid ${process.pid} on `).test(e.message),
  );
  held.release();
  assert.equal(existsSync(lockPath(d)), false);
  // A run that was killed: its lock names a process that no longer exists.
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(child.stdout.toString());
  const stale = acquireLock(d, 'berth deploy');
  const holder = JSON.parse(readFileSync(lockPath(d), 'utf8')) as Record<string, unknown>;
  writeFileSync(lockPath(d), JSON.stringify({ ...holder, pid: deadPid, pidStart: '1' }));
  const again = acquireLock(d, 'berth deploy');
  assert.equal(again.tookOver?.pid, deadPid);
  assert.equal(statSync(lockPath(d)).mode & 0o777, 0o600);
  again.release();
  stale.release(); // not its lock any more: leaves nothing behind either way
  assert.equal(existsSync(lockPath(d)), false);
});

test('applied secrets: changed keys are named, new keys are not rotations, and only digests are kept', () => {
  const d = dir();
  const before = { database_password: 'old-root-password', keystone_admin_password: 'admin-one' };
  assert.deepEqual(changedSecrets(d, before), [], 'no record: nothing to compare with');
  recordAppliedSecrets(d, before);
  assert.equal(statSync(appliedSecretsPath(d)).mode & 0o777, 0o600);
  assert.ok(!readFileSync(appliedSecretsPath(d), 'utf8').includes('old-root-password'));
  assert.deepEqual(changedSecrets(d, { ...before, database_password: 'new-root-password', glance_keystone_password: 'new' }), ['database_password']);
});
