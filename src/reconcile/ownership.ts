// Whose objects are on a host: pure, from the host's container and volume lists. A deploy, stop or
// destroy acts only on a host that holds nothing of another deployment's and no stranger under a
// name the plan uses; everything else stops the run before any change.
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
 * Objects of another deployment, berth objects without a deployment id (made by an older berth, or
 * another deployment's: only the operator can tell, with --adopt), and foreign containers or
 * volumes under names the plan needs.
 */
export function ownershipConflicts(objects: HostObjects, deploymentId: string, adopt: boolean): Conflict[] {
  const conflicts: Conflict[] = [];
  const add = (object: string, problem: string): void => void conflicts.push({ host: objects.host, object, problem });
  const ours = new Set<string>();
  for (const c of objects.containers) {
    const owner = c.labels[LABEL.deployment];
    const berths = owner !== undefined || c.labels[LABEL.managed] === 'true';
    if (owner === deploymentId || (berths && owner === undefined && adopt)) {
      for (const v of c.volumes) ours.add(v);
    } else if (owner !== undefined) {
      add(`container ${c.name}`, `belongs to deployment ${owner}`);
    } else if (berths) {
      add(`container ${c.name}`, 'was made by berth without a deployment id (an older berth, or another deployment)');
    } else if (objects.plannedNames.has(c.name)) {
      add(`container ${c.name}`, 'was not made by berth, and the plan needs its name');
    }
  }
  const planned = new Set(objects.plannedVolumes);
  for (const v of objects.volumes) {
    const owner = v.labels[LABEL.deployment];
    if (owner === deploymentId || (owner === undefined && (ours.has(v.name) || !planned.has(v.name) || adopt))) continue;
    add(`volume ${v.name}`, owner !== undefined ? `belongs to deployment ${owner}` : 'holds data berth did not make for this deployment, and the plan needs its name');
  }
  return conflicts;
}

/** One message for all conflicts: what, where, and what to do. */
export function describeConflicts(conflicts: readonly Conflict[], deploymentId: string): { message: string; hint: string } {
  const lines = conflicts.map((c) => `  ${c.host}: ${c.object} ${c.problem}`);
  const onlyUnlabelled = conflicts.every((c) => c.problem.startsWith('was made by berth without') || c.problem.startsWith('holds data'));
  return {
    message: `these objects are not deployment ${deploymentId}'s; nothing was changed:\n${lines.join('\n')}`,
    hint: onlyUnlabelled
      ? 'if they are this deployment\'s (deployed before berth kept deployment ids), rerun with --adopt'
      : 'act on them with the config directory of the deployment they belong to, or remove them there (berth destroy); --adopt takes over only objects without a deployment id',
  };
}
