// Whose objects are on a host: pure, from the host's container and volume lists. A deploy, stop or
// destroy acts only on a host that holds nothing of another deployment's and no stranger under a
// name the plan uses; everything else stops the run before any change. A host where the plan
// places nothing is never refused: berth only runs its tools there.
import type { ActualVolume, ContainerSummary } from '../engine/host.js';
import { LABEL } from '../plan/types.js';

export interface Conflict {
  host: string;
  /** `container NAME` or `volume NAME`. */
  object: string;
  problem: string;
}

export interface HostObjects {
  host: string;
  containers: ContainerSummary[];
  volumes: ActualVolume[];
  /** Container and job names the plan has on this host. */
  plannedNames: ReadonlySet<string>;
  /** Named volumes the plan's containers use on this host. */
  plannedVolumes: readonly string[];
}

/**
 * Objects of another deployment or berth objects without a deployment id (made by an older berth):
 * only the operator can say they are this deployment's, with adopt. Foreign containers under names
 * the plan needs are never taken over. A volume is this deployment's when it carries its id or a
 * container of this deployment mounts it (one made before ids, or adopted: labels cannot change).
 */
export function ownershipConflicts(objects: HostObjects, deploymentId: string, adopt: boolean): Conflict[] {
  // A host where this deployment places nothing (the deployment host, running only tools): what
  // other deployments keep there is theirs, and nothing of this one's plan can meet it.
  if (!objects.plannedNames.size && !objects.plannedVolumes.length) return [];
  const conflicts: Conflict[] = [];
  const add = (object: string, problem: string): void => void conflicts.push({ host: objects.host, object, problem });
  const ours = new Set<string>();
  for (const c of objects.containers) {
    const owner = c.labels[LABEL.deployment];
    if (isOurs(c.labels, deploymentId, adopt)) {
      for (const v of c.volumes) ours.add(v);
    } else if (owner !== undefined) {
      add(`container ${c.name}`, `belongs to deployment ${owner}`);
    } else if (c.labels[LABEL.managed] === 'true') {
      add(`container ${c.name}`, 'was made by berth without a deployment id (an older berth, or another deployment)');
    } else if (objects.plannedNames.has(c.name)) {
      add(`container ${c.name}`, 'was not made by berth, and the plan needs its name');
    }
  }
  const planned = new Set(objects.plannedVolumes);
  for (const v of objects.volumes) {
    const owner = v.labels[LABEL.deployment];
    if (isOurVolume(v, ours, deploymentId) || adopt) continue;
    if (owner !== undefined) add(`volume ${v.name}`, `belongs to deployment ${owner}`);
    else if (planned.has(v.name)) add(`volume ${v.name}`, 'holds data berth did not make for this deployment, and the plan needs its name');
  }
  return conflicts;
}

/** A container (or job, or tool run) this deployment acts on: it carries its id, or, with adopt, any berth object. */
export function isOurs(labels: Record<string, string>, deploymentId: string, adopt: boolean): boolean {
  const owner = labels[LABEL.deployment];
  return owner === deploymentId || (adopt && (owner !== undefined || labels[LABEL.managed] === 'true'));
}

/** A volume carrying this deployment's id, or mounted by one of its containers (labels of a volume cannot change). */
export function isOurVolume(volume: ActualVolume, mountedByOurs: ReadonlySet<string>, deploymentId: string): boolean {
  return volume.labels[LABEL.deployment] === deploymentId || mountedByOurs.has(volume.name);
}

/** One message for all conflicts: what, where, and what to do. */
export function describeConflicts(conflicts: readonly Conflict[], deploymentId: string): { message: string; hint: string } {
  const lines = conflicts.map((c) => `  ${c.host}: ${c.object} ${c.problem}`);
  return {
    message: `these objects are not deployment ${deploymentId}'s; nothing was changed:\n${lines.join('\n')}`,
    hint: conflicts.some((c) => c.problem.startsWith('was not made by berth'))
      ? 'remove or rename the containers berth did not make; for the rest, act with the config directory of the deployment they belong to'
      : 'act on them with the config directory of the deployment they belong to; or, if they are this deployment\'s (its deployment-id was lost, or they were deployed before berth kept ids), rerun with --adopt: they are taken over, containers recreated and jobs rerun with this configuration',
  };
}
