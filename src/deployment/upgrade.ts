// The parts of `berth upgrade` and `berth rollback` that act on the hosts, below the CLI: the
// preflight (the cloud is what it was deployed as and healthy, the new images are there, room for
// the backup, the new release's own checks), the image IDs a restore point keeps, and what a
// rollback does before its deploy: the previous images back under their names, database clients
// stopped, MariaDB's previous containers put back (not started) for the restore.
import { posix } from 'node:path';
import { catalog } from '../catalog/index.js';
import { InputError } from '../config/errors.js';
import { EngineError } from '../engine/docker.js';
import { imagesByHost, missingImageLines, missingImages } from '../plan/images.js';
import { releaseNamed } from '../config/releases.js';
import { LABEL, type DesiredContainer } from '../plan/types.js';
import { isUpgradeStep, namedVolumes } from '../plan/plan.js';
import { containerLabels, deploy, removeWithFiles, runToCompletion, type StepResult } from '../reconcile/deploy.js';
import { localHosts, type DeploymentContext } from './context.js';
import { mariadbNodes, nodeTool } from './galera.js';
import type { ReleaseTag, RestorePoint } from './restore-points.js';
import type { UpgradeDef } from '../catalog/types.js';

export function releaseOf(ctx: DeploymentContext): ReleaseTag {
  return { release: ctx.deployment.globals.openstack_release, tag: ctx.build.tag };
}

export function describeRelease(r: ReleaseTag): string {
  return r.tag === r.release ? r.release : `${r.release} (tag ${r.tag})`;
}

/** Every host's containers and jobs, as the plan wants them, match what runs, and every container is healthy. */
export async function assertAsDeployed(current: DeploymentContext): Promise<void> {
  const unreachable = new Map(current.unreachable);
  if (unreachable.size) {
    throw new InputError(
      `${[...unreachable].map(([h, why]) => `${h} (${why})`).join(', ')} cannot be reached: an upgrade changes every host`,
      'bring the host back (berth check shows the cloud), then run berth upgrade again',
    );
  }
  const results = await deploy({ plan: current.plan, hosts: current.hosts, deploymentId: current.deploymentId, dryRun: true, unreachable });
  const drift = results.filter((r) => r.status !== 'ok');
  if (!drift.length) return;
  throw new InputError(
    `the cloud is not as it was last deployed (${current.inputsDir}):\n  ${drift.map(describeDrift).join('\n  ')}`,
    'an upgrade starts from a healthy cloud it can restore exactly: fix what is listed (berth check shows it), or redeploy the current release by putting its globals.yml back and running berth deploy',
  );
}

function describeDrift(r: StepResult): string {
  return `${r.host}: ${r.target}: ${r.action}${r.reasons.length ? ` (${r.reasons.join('; ')})` : ''}`;
}

/** Refused before any change when a host lacks one of the new release's images. */
export async function assertImagesPresent(next: DeploymentContext): Promise<void> {
  const missing = new Map<string, string[]>();
  for (const [host, refs] of imagesByHost(next.plan)) missing.set(host, missingImages(refs, await next.hosts.get(host)!.imageTags()));
  const lines = missingImageLines(missing, localHosts(next));
  if (lines.length) throw new InputError(`images of ${describeRelease(releaseOf(next))} are missing:\n  ${lines.join('\n  ')}`, 'build or pull them (berth build, berth pull), then run berth upgrade again; nothing has changed');
}

/** The backup needs about as much room as the data: refused when the node's backup volume has less. */
export async function assertBackupRoom(current: DeploymentContext): Promise<void> {
  const node = mariadbNodes(current).at(-1);
  if (!node) return;
  const r = await nodeTool(current, node, 'echo "berth:data $(du -sb /var/lib/mysql | cut -f1)"; echo "berth:free $(df -B1 --output=avail /backup | tail -n 1)"', ['mariadb', 'mariadb_backup']);
  const data = Number(/^berth:data (\d+)$/m.exec(r.output)?.[1]);
  const free = Number(/^berth:free\s*(\d+)$/m.exec(r.output)?.[1]);
  if (r.code !== 0 || !Number.isFinite(data) || !Number.isFinite(free)) throw new EngineError(`${node.host}: could not measure the database and the backup volume: ${r.output.trim()}`);
  // The prepared backup is about the data's size; a margin for the redo log and the volume's other backups.
  const need = Math.ceil(data * 1.2) + 256 * 1024 * 1024;
  if (free < need) {
    throw new InputError(
      `${node.host}: the mariadb_backup volume has ${Math.round(free / 1048576)} MiB free, the backup needs about ${Math.round(need / 1048576)} MiB (${Math.round(data / 1048576)} MiB of data)`,
      'free space there (old backups are directories in the volume), then run berth upgrade again; nothing has changed',
    );
  }
}

/** The new release's own checks (nova-status upgrade check), each in a one-shot container of its image. */
export async function runUpgradeChecks(next: DeploymentContext, say: (line: string) => void): Promise<void> {
  for (const job of next.plan.upgradeChecks ?? []) {
    const host = next.hosts.get(job.host)!;
    say(`${job.host}: ${job.name}`);
    try {
      await runToCompletion(host, next.plan.configRoot, job, next.deploymentId, 10 * 60_000);
    } catch (err) {
      throw new InputError(`${job.host}: ${job.name} refused the upgrade: ${(err as Error).message}`, 'fix what it reports, then run berth upgrade again; nothing has changed');
    } finally {
      await removeWithFiles(host, next.plan.configRoot, job.name).catch(() => undefined);
    }
  }
}

/** Per host, the image ID behind each reference the current plan uses. */
export async function imagesInUse(current: DeploymentContext): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [hostName, refs] of imagesByHost(current.plan)) {
    const host = current.hosts.get(hostName)!;
    const ids: Record<string, string> = {};
    for (const ref of refs) {
      const id = await host.imageId(ref);
      if (id === undefined) throw new EngineError(`${hostName}: image ${ref}, which the cloud runs, is not on the host`, 'berth pull (or build) puts it back; then run berth upgrade again');
      ids[ref] = id;
    }
    out[hostName] = ids;
  }
  return out;
}

/** Each reference back on the image it named at the restore point (a tag upgrade moved it, or a rebuild). */
export async function retagImages(prev: DeploymentContext, rp: RestorePoint, say: (line: string) => void): Promise<void> {
  for (const [hostName, ids] of Object.entries(rp.images)) {
    const host = prev.hosts.get(hostName);
    if (!host) continue;
    let moved = 0;
    for (const [ref, id] of Object.entries(ids)) {
      if ((await host.imageId(ref)) === id) continue;
      if ((await host.imageId(id)) === undefined) {
        throw new EngineError(`${hostName}: image ${id.slice(0, 19)} (${ref} at restore point ${rp.id}) is no longer on the host`, `pull or build ${ref} as it was, then run berth rollback ${rp.id} again`);
      }
      await host.tagImage(id, ref);
      moved++;
    }
    if (moved) say(`${hostName}: ${moved} image reference(s) back on the images of ${rp.id}`);
  }
}

/** Services that read and write the database: stopped before a restore, so nothing writes into it meanwhile. */
const databaseClients = new Set(catalog.filter((s) => s.databases?.length).map((s) => s.name));

export function stopDatabaseClients(prev: DeploymentContext, say: (line: string) => void): Promise<void> {
  return stopServices(prev, databaseClients, '', say);
}

/** Stops the running containers of these services on every host (a job's or a step's are not running). */
async function stopServices(ctx: DeploymentContext, services: ReadonlySet<string>, why: string, say: (line: string) => void): Promise<void> {
  for (const [hostName, host] of ctx.hosts) {
    const running = (await host.listContainers(LABEL.deployment, ctx.deploymentId)).filter(
      (c) => c.running && c.labels[LABEL.kind] === 'container' && services.has(c.labels[LABEL.service] ?? ''),
    );
    if (!running.length) continue;
    say(`${hostName}: stopping ${running.map((c) => c.name).join(', ')}${why}`);
    for (const c of running) await host.stop(c.name);
  }
}

/**
 * MariaDB's containers as the previous plan has them, created but not started: the restore then
 * starts them (Galera: the node holding the backup first) on the restored data, never the new
 * release's server on the old data or the old server on the new.
 */
export async function putBackMariadb(prev: DeploymentContext, say: (line: string) => void): Promise<void> {
  for (const node of mariadbNodes(prev)) {
    const host = prev.hosts.get(node.host)!;
    const actual = await host.inspect(node.name);
    if (actual && actual.labels[LABEL.specHash] === node.specHash && actual.imageId === (await host.imageId(node.spec.image))) continue;
    say(`${node.host}: putting back the previous ${node.name} container`);
    if (actual) await host.remove(node.name);
    await host.syncDir(posix.join(prev.plan.configRoot, node.name), node.files);
    await host.create(node.name, node.spec, containerLabels(node, prev.deploymentId));
  }
}

/** The containers of an upgrade's steps, removed once it is over (a later deploy would too). */
export async function removeUpgradeSteps(ctx: DeploymentContext): Promise<void> {
  for (const svc of ctx.plan.services) {
    for (const job of svc.jobs.filter((j) => isUpgradeStep(j.name))) {
      const host = ctx.hosts.get(job.host)!;
      await removeWithFiles(host, ctx.plan.configRoot, job.name).catch(() => undefined);
    }
  }
}

type FreshState = NonNullable<UpgradeDef['freshState']>;

/** The catalog's states (RabbitMQ's) that the upgrade from → to cannot take over: it crosses their release. */
function crossedStates(from: string, to: string): FreshState[] {
  const [a, b] = [releaseNamed(from).order, releaseNamed(to).order];
  return catalog.flatMap((s) => {
    const st = s.upgrade?.freshState;
    return st && a < releaseNamed(st.release).order && releaseNamed(st.release).order <= b ? [st] : [];
  });
}

const setAsideAs = (st: FreshState): string => `${st.path}.before-${st.release}`;

/** Stops the services that are clients of a fresh state (freshState.clientsHave). */
function stopClients(ctx: DeploymentContext, st: FreshState, say: (line: string) => void): Promise<void> {
  if (!st.clientsHave) return Promise.resolve();
  const clients = new Set(catalog.filter((s) => s[st.clientsHave!] !== undefined).map((s) => s.name));
  return stopServices(ctx, clients, ` (clients of ${st.container})`, say);
}

/** Runs a shell script in a one-shot container of `c`'s image with its named volumes; its output, trimmed. */
async function besideState(ctx: DeploymentContext, c: DesiredContainer, script: string): Promise<string> {
  const r = await nodeTool(ctx, c, `set -eu\n${script}`, namedVolumes(c.spec));
  if (r.code !== 0) throw new EngineError(`${c.host}: ${c.name}'s state: exit ${r.code}: ${r.output.trim().split('\n').slice(-5).join(' / ')}`);
  return r.output.trim();
}

/**
 * Before an upgrade that crosses a fresh-state release: the container stops on every host (a
 * cluster stops whole: the new version cannot join the old), and its state is set aside for a
 * rollback. Idempotent: a state already set aside (a resumed upgrade) is kept, and nothing stops.
 */
export async function setStatesAside(next: DeploymentContext, rp: RestorePoint, say: (line: string) => void): Promise<void> {
  for (const st of crossedStates(rp.from.release, rp.to.release)) {
    const copies = next.plan.services.flatMap((s) => s.containers).filter((c) => c.name === st.container);
    const pending: DesiredContainer[] = [];
    for (const c of copies) {
      if ((await besideState(next, c, `[ -e '${setAsideAs(st)}' ] && echo kept || echo pending`)) !== 'kept') pending.push(c);
    }
    if (!pending.length) continue;
    await stopClients(next, st, say);
    for (const c of copies) await next.hosts.get(c.host)!.stop(c.name, c.stopTimeoutSeconds);
    for (const c of pending) {
      await besideState(next, c, `[ ! -e '${st.path}' ] || mv '${st.path}' '${setAsideAs(st)}'`);
      say(`${c.host}: ${c.name} stopped, its ${st.path} set aside as ${setAsideAs(st)} (${describeRelease(rp.to)} starts it afresh)`);
    }
  }
}

/** A rollback over a fresh-state release: the state set aside goes back, the newer one is dropped. */
export async function putBackStates(prev: DeploymentContext, rp: RestorePoint, say: (line: string) => void): Promise<void> {
  for (const st of crossedStates(rp.from.release, rp.to.release)) {
    const copies = prev.plan.services.flatMap((s) => s.containers).filter((c) => c.name === st.container);
    // The new release's clients must not declare their queues in the state put back either.
    await stopClients(prev, st, say);
    for (const c of copies) await prev.hosts.get(c.host)!.stop(c.name, c.stopTimeoutSeconds);
    for (const c of copies) {
      const out = await besideState(prev, c, `if [ -e '${setAsideAs(st)}' ]; then rm -rf '${st.path}'; mv '${setAsideAs(st)}' '${st.path}'; echo back; fi`);
      if (out.endsWith('back')) say(`${c.host}: ${c.name}'s ${st.path} as it was before ${st.release}`);
    }
  }
}
