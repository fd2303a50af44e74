// berth upgrade, rollback and restore-points. An upgrade moves the cloud from what it was last
// deployed from (deployed/) to what globals.yml names now: a preflight that changes nothing, a
// restore point (the previous inputs, image IDs, a MariaDB backup), then a deploy of the new
// release with the catalog's upgrade steps, service by service behind health gates. When a step or
// gate fails it rolls back by itself: the previous images under their names, the database from the
// backup, then a deploy of the previous inputs. Each phase is written into the restore point before
// it begins, so a killed run is finished by `berth upgrade` or undone by `berth rollback`.
import type { Command } from '@commander-js/extra-typings';
import { InputError } from '../config/errors.js';
import { releaseNamed } from '../config/releases.js';
import { assertRotatable, type DeploymentContext } from '../deployment/context.js';
import { copyInputs, deployedInputsDir, deployedRelease, hasDeployedInputs } from '../deployment/deployed-inputs.js';
import { backupMariadb, restoreMariadb } from '../deployment/mariadb-backup.js';
import {
  createRestorePoint,
  listRestorePoints,
  newRestorePointId,
  readRestorePoint,
  restorePointInputs,
  saveRestorePoint,
  unfinishedUpgrade,
  type RestorePoint,
} from '../deployment/restore-points.js';
import { mariadbNodes } from '../deployment/galera.js';
import {
  assertAsDeployed,
  assertBackupRoom,
  assertImagesPresent,
  describeRelease,
  imagesInUse,
  putBackMariadb,
  putBackStates,
  releaseOf,
  removeUpgradeSteps,
  retagImages,
  runUpgradeChecks,
  setStatesAside,
  stopDatabaseClients,
} from '../deployment/upgrade.js';
import { EngineError } from '../engine/docker.js';
import { formatBytes, formatDuration } from '../ui/format.js';
import { contextWithWarnings, lockConfigDir, parseForks, runDeploy } from './deploy-commands.js';

type Globals = { configDir: string; format: 'text' | 'json' };

interface RunOptions {
  forks?: number;
  healthTimeoutMs?: number;
  format: 'text' | 'json';
}

export function registerUpgradeCommands(program: Command<[], Globals & { debug: boolean }>): void {
  const opts = (): Globals => program.opts();
  program
    .command('upgrade')
    .description(
      'move the cloud to the openstack_release / openstack_tag globals.yml names: preflight, restore point (MariaDB backup), ' +
        "each service's upgrade steps behind health gates; rolls back by itself when a step fails (also finishes an upgrade that was killed)",
    )
    .option('--forks <n>', 'at most this many hosts worked on at once', parseForks)
    .option('--health-timeout <seconds>', 'how long a changed container may take to become healthy before the upgrade counts as failed', '300')
    .option('--no-rollback', 'on failure, stop and leave the cloud as it is (berth rollback undoes it, berth upgrade retries)')
    .action(async (o) => {
      await runUpgrade(opts().configDir, { forks: o.forks, healthTimeoutMs: seconds(o.healthTimeout, '--health-timeout') * 1000, format: opts().format, rollback: o.rollback });
    });

  program
    .command('rollback')
    .argument('[restore-point]', 'as berth restore-points lists it; default the latest')
    .description('put the cloud back as it was at a restore point: its images and configuration on every host, and its database when the upgrade changed it')
    .option('--forks <n>', 'at most this many hosts worked on at once', parseForks)
    .option('--health-timeout <seconds>', 'how long a container may take to become healthy', '300')
    .option('--yes-i-really-really-mean-it', 'confirm the rollback of an upgrade that finished: what was written since it is lost', false)
    .action(async (id, o) => {
      const configDir = opts().configDir;
      const rp = id !== undefined ? readRestorePoint(configDir, id) : listRestorePoints(configDir).at(-1);
      if (!rp) throw new InputError(`no restore point in ${configDir}`, 'berth upgrade takes one before it changes anything');
      if (rp.state === 'upgraded' && !o.yesIReallyReallyMeanIt) {
        throw new InputError(
          `the upgrade of ${rp.id} (${describeRelease(rp.from)} → ${describeRelease(rp.to)}) finished: rolling it back restores the database of ${rp.mariadbBackup?.id ?? 'that time'}, and what was written since is lost`,
          'rerun with --yes-i-really-really-mean-it',
        );
      }
      const held = lockConfigDir(configDir, 'berth rollback');
      try {
        await rollback(configDir, rp, { forks: o.forks, healthTimeoutMs: seconds(o.healthTimeout, '--health-timeout') * 1000, format: opts().format });
      } finally {
        held.release();
      }
    });

  program
    .command('restore-points')
    .description('the restore points berth upgrade took, with what each upgrade did')
    .action(() => {
      const all = listRestorePoints(opts().configDir);
      if (opts().format === 'json') return void console.log(JSON.stringify(all, null, 2));
      if (!all.length) return void console.log('no restore points (berth upgrade takes one before it changes anything)');
      for (const rp of all) {
        const backup = rp.mariadbBackup ? `, database ${rp.mariadbBackup.id} (${formatBytes(rp.mariadbBackup.bytes)} on ${rp.mariadbBackup.host})` : '';
        console.log(`${rp.id}  ${describeRelease(rp.from)} → ${describeRelease(rp.to)}  ${rp.state}${backup}${rp.failure ? `\n    failed: ${rp.failure.split('\n')[0]}` : ''}`);
      }
    });
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`${flag} ${value}: not a whole number of seconds`, `e.g. ${flag} 300`);
  return n;
}

function phase(title: string): () => void {
  const t0 = Date.now();
  console.log(`\n==> ${title}`);
  return () => console.log(`==> ${title}: ${formatDuration(Date.now() - t0)}`);
}

async function runUpgrade(configDir: string, o: RunOptions & { rollback: boolean }): Promise<void> {
  const t0 = Date.now();
  const held = lockConfigDir(configDir, 'berth upgrade');
  try {
    const pending = unfinishedUpgrade(configDir);
    if (pending && pending.state !== 'upgrading') {
      throw new InputError(
        `the upgrade of restore point ${pending.id} failed and was not rolled back (${pending.state}${pending.failure ? `: ${pending.failure.split('\n')[0]}` : ''})`,
        `berth rollback ${pending.id} puts the cloud back; then run berth upgrade again`,
      );
    }
    if (!pending && !hasDeployedInputs(configDir)) {
      throw new InputError(
        `${deployedInputsDir(configDir)}: no record of the files the cloud was deployed from (berth deploy writes it after a deploy in which every step succeeded)`,
        'put back globals.yml as the cloud runs now, run berth deploy, then set the new release and run berth upgrade',
      );
    }
    const running = pending?.from ?? deployedRelease(configDir)!;
    const next = await contextWithWarnings(configDir, { forks: o.forks }, { upgrade: { from: running.release } });
    const target = releaseOf(next);
    if (pending) {
      if (pending.to.release !== target.release || pending.to.tag !== target.tag) {
        throw new InputError(
          `the upgrade of ${pending.id} to ${describeRelease(pending.to)} is not finished, and globals.yml now names ${describeRelease(target)}`,
          `put ${describeRelease(pending.to)} back in globals.yml and run berth upgrade to finish it, or berth rollback ${pending.id} to undo it`,
        );
      }
      console.log(`resuming the upgrade of ${pending.id}: ${describeRelease(pending.from)} → ${describeRelease(pending.to)}`);
      await upgradeCloud(configDir, next, pending, o, t0);
      return;
    }
    const current = await contextWithWarnings(configDir, { forks: o.forks }, { inputsDir: deployedInputsDir(configDir), sharing: next });
    const from = releaseOf(current);
    if (from.release === target.release && from.tag === target.tag) {
      console.log(`the cloud runs ${describeRelease(from)} already: nothing to upgrade (berth deploy applies other changes)`);
      return;
    }
    if (releaseNamed(target.release).order < releaseNamed(from.release).order) {
      const back = listRestorePoints(configDir).filter((rp) => rp.from.release === target.release && rp.state === 'upgraded').at(-1);
      throw new InputError(
        `globals.yml names ${target.release}, older than the ${from.release} the cloud runs: berth upgrade does not downgrade`,
        back ? `berth rollback ${back.id} puts back the cloud as it was before its upgrade to ${describeRelease(back.to)}` : `put openstack_release: "${from.release}" back in globals.yml`,
      );
    }

    assertSameMechanism(current, next);
    let done = phase(`preflight: ${describeRelease(from)} → ${describeRelease(target)}`);
    // A secret berth cannot rotate would stop the upgrade's deploy: said before the backup.
    assertRotatable(next);
    await assertImagesPresent(next);
    await assertAsDeployed(current);
    await assertBackupRoom(current);
    await runUpgradeChecks(next, (line) => console.log(line));
    console.log('the cloud runs as deployed, every container is healthy, the new images are on every host');
    done();

    done = phase('restore point');
    let rp = createRestorePoint(configDir, { id: newRestorePointId(), created: new Date().toISOString(), from, to: target, images: await imagesInUse(current) });
    copyInputs(deployedInputsDir(configDir), restorePointInputs(configDir, rp.id));
    if (mariadbNodes(current).length) {
      const b = await backupMariadb(current, {}, (line) => console.log(line));
      rp = { ...rp, mariadbBackup: { id: b.id, host: b.host, bytes: b.bytes } };
    }
    rp = saveRestorePoint(configDir, rp, 'upgrading');
    console.log(`restore point ${rp.id}: the inputs, ${Object.values(rp.images).reduce((n, ids) => n + Object.keys(ids).length, 0)} image IDs${rp.mariadbBackup ? `, database backup ${rp.mariadbBackup.id} (${formatBytes(rp.mariadbBackup.bytes)})` : ''}`);
    done();

    await upgradeCloud(configDir, next, rp, o, t0);
  } finally {
    held.release();
  }
}

/** The deploy of the new release with its upgrade steps; on failure, the rollback (unless --no-rollback). */
async function upgradeCloud(configDir: string, next: DeploymentContext, rp: RestorePoint, o: RunOptions & { rollback: boolean }, t0: number): Promise<void> {
  const done = phase(`upgrade: ${describeRelease(rp.from)} → ${describeRelease(rp.to)}`);
  try {
    await setStatesAside(next, rp, (line) => console.log(line));
    await runDeploy(next, o.format, { dryRun: false, command: 'upgrade', forks: o.forks, healthTimeoutMs: o.healthTimeoutMs, lockHeld: true });
    if (rp.from.release !== rp.to.release) {
      // What only the jump needed (nova's check of compute versions off) goes: every compute runs the new release now.
      const plain = phase(`${describeRelease(rp.to)} without what the jump from ${rp.from.release} needed`);
      const settled = await contextWithWarnings(configDir, { forks: o.forks });
      await runDeploy(settled, o.format, { dryRun: false, command: 'upgrade', forks: o.forks, healthTimeoutMs: o.healthTimeoutMs, lockHeld: true });
      plain();
    }
  } catch (err) {
    done();
    const failure = (err as Error).message;
    rp = saveRestorePoint(configDir, rp, 'failed', failure);
    if (!o.rollback) {
      throw new EngineError(`the upgrade to ${describeRelease(rp.to)} failed: ${failure}`, `berth rollback ${rp.id} puts the cloud back as it was; berth upgrade retries`);
    }
    console.log(`\nthe upgrade failed; rolling back to ${rp.id}`);
    await rollback(configDir, rp, o);
    throw new EngineError(
      `the upgrade to ${describeRelease(rp.to)} failed and was rolled back: the cloud runs ${describeRelease(rp.from)} again, as at ${rp.id}. What failed: ${failure}`,
      `fix the cause, then run berth upgrade again (globals.yml still names ${describeRelease(rp.to)})`,
    );
  }
  await removeUpgradeSteps(next);
  saveRestorePoint(configDir, rp, 'upgraded');
  done();
  console.log(`\nupgraded to ${describeRelease(rp.to)} in ${formatDuration(Date.now() - t0)}; berth rollback ${rp.id} --yes-i-really-really-mean-it would undo it`);
}

/** Puts the cloud back as it was at `rp`. */
export async function rollback(configDir: string, rp: RestorePoint, o: RunOptions): Promise<void> {
  const t0 = Date.now();
  // The database is restored when the upgrade may have changed it: it got as far as its deploy.
  const restoreDb = rp.mariadbBackup !== undefined && rp.history.some((h) => h.state === 'upgrading');
  rp = saveRestorePoint(configDir, rp, 'rolling-back');
  const prev = await contextWithWarnings(configDir, { forks: o.forks }, { inputsDir: restorePointInputs(configDir, rp.id) });
  let done = phase(`rollback to ${rp.id}: ${describeRelease(rp.to)} → ${describeRelease(rp.from)}`);
  await retagImages(prev, rp, (line) => console.log(line));
  await putBackStates(prev, rp, (line) => console.log(line));
  if (restoreDb) {
    await stopDatabaseClients(prev, (line) => console.log(line));
    await putBackMariadb(prev, (line) => console.log(line));
    await restoreMariadb(prev, rp.mariadbBackup!.id, (line) => console.log(line));
  }
  done();
  done = phase(`deploy of ${describeRelease(rp.from)} as at ${rp.id}`);
  await runDeploy(prev, o.format, { dryRun: false, command: 'rollback', forks: o.forks, healthTimeoutMs: o.healthTimeoutMs, lockHeld: true });
  done();
  saveRestorePoint(configDir, rp, 'rolled-back');
  console.log(`\nrolled back to ${rp.id} in ${formatDuration(Date.now() - t0)}: the cloud runs ${describeRelease(rp.from)}${restoreDb ? `, its database restored from ${rp.mariadbBackup!.id}` : ''}`);
}

/**
 * Neutron's ML2 mechanism stays what it is: moving every port and router from Linux bridges to Open
 * vSwitch is a migration of its own, not an image change, and a Zed cloud on linuxbridge has no
 * 2025.1 to go to (neutron removed the driver).
 */
function assertSameMechanism(current: DeploymentContext, next: DeploymentContext): void {
  const [was, will] = [current.deployment.globals, next.deployment.globals];
  if (!was.enable_neutron || !will.enable_neutron || was.neutron_plugin_agent === will.neutron_plugin_agent) return;
  throw new InputError(
    `${next.deployment.configDir}/globals.yml: neutron_plugin_agent ${will.neutron_plugin_agent}, and the cloud runs ${was.neutron_plugin_agent}: berth upgrade does not move networks to another mechanism`,
    was.neutron_plugin_agent === 'linuxbridge'
      ? `a cloud on linuxbridge stays on ${was.openstack_release} (2025.1 has no linuxbridge driver); nothing has changed`
      : `put neutron_plugin_agent: ${was.neutron_plugin_agent} back; nothing has changed`,
  );
}
