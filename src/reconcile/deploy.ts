// reconcile: converges every host to the plan. First it reads each host and stops, before any
// change, when a host holds another deployment's objects. Then services go in dependency order
// (independent ones at the same time), each: its 'before' jobs, its containers on all its hosts, a
// wait for health, its 'after' jobs. Everything it does is derived from the plan and what the hosts
// report, so a deploy killed at any point is finished by running deploy again. It works on the
// hosts --limit selects, at most --forks of them at once; an unreachable host is reported and
// skipped, with what cannot be done without it, while the others go on.
import { posix } from 'node:path';
import { InputError } from '../config/errors.js';
import { isUnreachable, type ActualContainer, type ActualVolume, type ConfigState, type Host } from '../engine/host.js';
import { imagesByHost, missingImages, missingImagesError } from '../plan/images.js';
import { canonicalJson, isUpgradeStep, namedVolumes } from '../plan/plan.js';
import { LABEL, type DesiredContainer, type DesiredJob, type Plan, type ServicePlan, type UpgradeExec } from '../plan/types.js';
import { appliedMarker, decide, type ContainerAction } from './diff.js';
import { handOff, holdsDuty, resume, rollHolderLast } from './hand-off.js';
import { LoadBalancers, type ServerRef } from './load-balancer.js';
import { describeConflicts, isOurs, ownershipConflicts } from './ownership.js';
import { HostGate, inLimit, skipReason, type Scope } from './scope.js';

export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped';

export interface StepResult {
  host: string;
  /** Container or job name, or the service for a skipped service. */
  target: string;
  action: string;
  status: StepStatus;
  reasons: string[];
  durationMs: number;
  error?: string;
}

export type DeployEvent =
  | { type: 'step-start'; host: string; target: string; action: string; reasons: string[] }
  | { type: 'step-end'; result: StepResult }
  | { type: 'host-unreachable'; host: string; reason: string }
  /** Reading every host's containers, volumes and images before any change: mostly waiting on hosts. */
  | { type: 'host-state'; ms: number };

export const DEFAULT_FORKS = 10;

export interface DeployOptions {
  plan: Plan;
  hosts: Map<string, Host>;
  /** This deployment's id: what it makes carries it, and what carries another is never touched. */
  deploymentId: string;
  /** Take over berth objects of another deployment or without an id (a lost deployment-id, an older berth). */
  adopt?: boolean;
  dryRun?: boolean;
  onEvent?: (ev: DeployEvent) => void;
  healthTimeoutMs?: number;
  jobTimeoutMs?: number;
  /** Hosts to act on (--limit); undefined: every host. */
  limit?: ReadonlySet<string>;
  /** Hosts known to be unreachable, with why. Hosts found unreachable during the run are added to it. */
  unreachable?: Map<string, string>;
  /** At most this many hosts worked on at once (default 10, as Ansible's forks). */
  forks?: number;
  /** Hosts that are this machine (ansible_connection=local): a missing image there is built, not pulled. */
  localHosts?: ReadonlySet<string>;
}

/** What every step needs besides its own data: the options, the scope, the gate, and how results are reported. */
interface Run {
  opts: DeployOptions;
  scope: Scope;
  gate: HostGate;
  views: Map<string, HostView>;
  emitEnd: (r: StepResult) => StepResult;
  /** Results that are skips because of unreachable hosts (not failures of the service itself). */
  unreachableSkips: Set<StepResult>;
  /** Records a host found unreachable during the run (once). */
  lost: (host: string, err: unknown) => void;
  /** haproxy in front of the services, when the plan has a load balancer. */
  balancers?: LoadBalancers;
}

type ServiceOutcome = { ok: true } | { ok: false; why: string };

interface HostView {
  /** This deployment's containers and jobs (with --adopt, every berth container on the host). */
  containers: Map<string, ActualContainer>;
  volumes: ActualVolume[];
  imageIds: Map<string, string | undefined>;
  /**
   * Every planned container's config directory as the run found it, read in one round trip. Each
   * is written only by its own container's step, after that step has read it here.
   */
  configs: Map<string, ConfigState>;
}

export async function deploy(opts: DeployOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const { plan } = opts;
  const scope: Scope = { limit: opts.limit, unreachable: opts.unreachable ?? new Map<string, string>() };
  const emitEnd = (r: StepResult): StepResult => {
    results.push(r);
    opts.onEvent?.({ type: 'step-end', result: r });
    return r;
  };
  for (const [host, reason] of scope.unreachable) if (inLimit(scope, host)) opts.onEvent?.({ type: 'host-unreachable', host, reason });
  const lost = (host: string, err: unknown): void => {
    if (scope.unreachable.has(host)) return;
    const reason = (err as Error).message;
    scope.unreachable.set(host, reason);
    opts.onEvent?.({ type: 'host-unreachable', host, reason });
  };
  const gate = new HostGate(opts.forks ?? DEFAULT_FORKS);
  const reading = performance.now();
  const views = await readHosts({ ...opts, scope, gate, lost });
  opts.onEvent?.({ type: 'host-state', ms: performance.now() - reading });
  const balancers = plan.loadBalancers?.length ? new LoadBalancers(plan.loadBalancers, opts.hosts, scope.unreachable) : undefined;
  const run: Run = { opts, scope, gate, views, emitEnd, unreachableSkips: new Set(), lost, ...(balancers ? { balancers } : {}) };
  if (!opts.dryRun) await ensureVolumes(run);
  await removeUndesired(run);
  if (balancers && !opts.dryRun) await readyLeftovers(run, balancers);
  if (!opts.dryRun) await resumeLeftovers(run);

  // Services run as soon as everything they depend on succeeded.
  const done = new Map<string, Promise<ServiceOutcome>>();
  const runService = (svc: ServicePlan): Promise<ServiceOutcome> => {
    let p = done.get(svc.service);
    if (p) return p;
    p = (async (): Promise<ServiceOutcome> => {
      const deps = svc.dependsOn.filter((d) => plan.services.some((s) => s.service === d));
      const outcomes = await Promise.all(deps.map(async (d) => ({ dep: d, outcome: await runService(plan.services.find((s) => s.service === d)!) })));
      const broken = outcomes.filter((o) => !o.outcome.ok).map((o) => `${o.dep}, which ${(o.outcome as { why: string }).why}`);
      if (broken.length) {
        const touched = [...svc.containers, ...svc.jobs].some((c) => inLimit(scope, c.host));
        if (touched) emitEnd({ host: '-', target: svc.service, action: 'skip', status: 'skipped', reasons: [`depends on ${broken.join(', ')}`], durationMs: 0 });
        return { ok: false, why: 'was skipped' };
      }
      return deployService(svc, run);
    })();
    done.set(svc.service, p);
    return p;
  };
  await Promise.all(plan.services.map(runService));
  return results;
}

/** A step berth cannot do (unreachable host, or facts of one missing): reported as skipped, with why. */
function skipped(run: Run, step: { host: string; name: string }, why: string): StepResult {
  const r = run.emitEnd({ host: step.host, target: step.name, action: 'skip', status: 'skipped', reasons: [why], durationMs: 0 });
  run.unreachableSkips.add(r);
  return r;
}

async function deployService(svc: ServicePlan, run: Run): Promise<ServiceOutcome> {
  const { scope } = run;
  // Jobs and containers outside --limit are left as they are; the service counts as up there.
  // A host setup job (whileDown) is its host's business: skipped there, it holds back only that
  // host's containers. Any other job is the whole service's.
  const setupSkipped = new Map<string, string>();
  for (const job of svc.jobs.filter((j) => j.phase === 'before' && inLimit(scope, j.host))) {
    const why = skipReason(scope, job);
    if (why === undefined && (await runJob(job, run)).status === 'failed') return { ok: false, why: 'failed' };
    if (why === undefined && !scope.unreachable.has(job.host)) continue;
    const reason = why ?? skipReason(scope, job)!;
    if (why !== undefined) skipped(run, job, why);
    if (!job.whileDown) return { ok: false, why: `could not run ${job.name} (${reason})` };
    setupSkipped.set(job.host, `${job.name} could not run there (${reason})`);
  }
  // Containers start together, except those that wait for others of their service (agents for their
  // server), and copies that go one host at a time (rolling).
  const mine = svc.containers.filter((c) => inLimit(scope, c.host));
  const previousCopy = rollingOrder(mine, run.views);
  const converging = new Map<DesiredContainer, Promise<StepResult | undefined>>();
  const stoppedAt = (c: DesiredContainer, before: DesiredContainer): StepResult =>
    run.emitEnd({ host: c.host, target: c.name, action: 'skip', status: 'skipped', reasons: [`rolling change stopped: ${before.name} on ${before.host} did not come up`], durationMs: 0 });
  const notUp = (r: StepResult | undefined): boolean => r !== undefined && (r.status === 'failed' || (r.status === 'skipped' && !run.unreachableSkips.has(r)));
  for (const copies of holderLastCopies(mine, run.views)) {
    const holds = (c: DesiredContainer): Promise<boolean> => (run.views.get(c.host)?.containers.get(c.name)?.running ? holdsDuty(run.opts.hosts.get(c.host)!, c) : Promise.resolve(false));
    for (const [c, p] of rollHolderLast(copies, holds, (c) => convergeUnordered(c), notUp, stoppedAt)) converging.set(c, p);
  }
  const convergeAfterDeps = (c: DesiredContainer): Promise<StepResult | undefined> => {
    let p = converging.get(c);
    if (p) return p;
    const before = previousCopy.get(c);
    if (before) {
      // The previous host's copy first; a rolling change stops at the first copy that failed, so
      // the copies not yet touched keep serving.
      p = convergeAfterDeps(before).then((r) => (notUp(r) ? stoppedAt(c, before) : convergeUnordered(c)));
      converging.set(c, p);
      return p;
    }
    p = convergeUnordered(c);
    converging.set(c, p);
    return p;
  };
  const unordered = new Map<DesiredContainer, Promise<StepResult | undefined>>();
  const convergeUnordered = (c: DesiredContainer): Promise<StepResult | undefined> => {
    let p = unordered.get(c);
    if (p) return p;
    // `after` a container on the same host when it runs there (vswitchd after its own ovsdb-server),
    // else after every copy of it (agents after neutron-server); copies outside --limit count as up.
    const deps = (c.after ?? []).flatMap((name) => {
      const copies = mine.filter((d) => d.name === name);
      const local = copies.filter((d) => d.host === c.host);
      return local.length ? local : copies;
    });
    p = Promise.all(deps.map(convergeAfterDeps)).then((rs) => {
      const why = skipReason(scope, c) ?? setupSkipped.get(c.host);
      if (why !== undefined) return skipped(run, c, why);
      const up = (r: StepResult | undefined): boolean => r === undefined || r.status === 'ok' || r.status === 'changed';
      // A copy skipped because its host is unreachable does not hold the others back, unless no copy is left.
      const down = rs.filter((r) => !up(r) && !run.unreachableSkips.has(r!));
      const none = rs.length > 0 && rs.every((r) => !up(r));
      return down.length || none
        ? run.emitEnd({ host: c.host, target: c.name, action: 'skip', status: 'skipped', reasons: [`${c.after!.join(', ')} did not come up`], durationMs: 0 })
        : converge(c, run);
    });
    unordered.set(c, p);
    return p;
  };
  const outcomes = (await Promise.all(mine.map(convergeAfterDeps))).filter((r): r is StepResult => r !== undefined);
  if (outcomes.some((r) => r.status === 'failed')) return { ok: false, why: 'failed' };
  if (outcomes.some((r) => r.status === 'skipped' && !run.unreachableSkips.has(r))) return { ok: false, why: 'did not come up' };
  // Placed only where berth cannot reach: nothing of the service runs for its dependants.
  if (outcomes.length && outcomes.every((r) => run.unreachableSkips.has(r))) return { ok: false, why: 'runs only on unreachable hosts' };
  for (const job of svc.jobs.filter((j) => j.phase === 'after' && inLimit(scope, j.host))) {
    const why = skipReason(scope, job);
    // The service itself is up; only this step waits for the host to come back.
    if (why !== undefined) skipped(run, job, why);
    else if ((await runJob(job, run)).status === 'failed') return { ok: false, why: 'failed' };
  }
  for (const step of svc.upgradeAfter ?? []) {
    if (!inLimit(scope, step.host)) continue;
    const why = skipReason(scope, step);
    if (why !== undefined) {
      skipped(run, step, why);
      return { ok: false, why: `could not run ${step.name} (${why})` };
    }
    if ((await runUpgradeExec(step, run)).status === 'failed') return { ok: false, why: 'failed' };
  }
  return { ok: true };
}

/** An upgrade's `after` step in the service's running container (contract, online data migrations): idempotent, so always run. */
async function runUpgradeExec(step: UpgradeExec, run: Run): Promise<StepResult> {
  const { opts, emitEnd } = run;
  const t0 = Date.now();
  const reasons = [`upgrade: ${step.command}`];
  opts.onEvent?.({ type: 'step-start', host: step.host, target: step.name, action: 'exec', reasons });
  if (opts.dryRun) return emitEnd({ host: step.host, target: step.name, action: 'exec', status: 'changed', reasons, durationMs: 0 });
  try {
    const deadline = t0 + (step.retrySeconds ?? 0) * 1000;
    const attempt = (): ReturnType<Host['exec']> => opts.hosts.get(step.host)!.exec(step.container, ['sh', '-c', step.command], step.user, opts.jobTimeoutMs ?? 15 * 60_000);
    let r = await attempt();
    while (r.code !== 0 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 5000));
      r = await attempt();
    }
    if (r.code !== 0) throw new Error(`exited with status ${r.code} in ${step.container}${step.retrySeconds ? ` (tried for ${step.retrySeconds} s)` : ''}; last output:\n    ${r.output.trim().split('\n').slice(-15).join('\n    ')}`);
    return emitEnd({ host: step.host, target: step.name, action: 'exec', status: 'changed', reasons, durationMs: Date.now() - t0 });
  } catch (err) {
    if (isUnreachable(err)) run.lost(step.host, err);
    return emitEnd({ host: step.host, target: step.name, action: 'exec', status: 'failed', reasons, durationMs: Date.now() - t0, error: (err as Error).message });
  }
}

/**
 * For each copy of a container that goes one host at a time, the copy before it (inventory order):
 * always for 'serial' (Galera), and for 'rolling' once one of them runs (a change then never takes
 * down more than one host's copy at once; fresh copies start together).
 */
function rollingOrder(containers: readonly DesiredContainer[], views: ReadonlyMap<string, HostView>): Map<DesiredContainer, DesiredContainer> {
  const previous = new Map<DesiredContainer, DesiredContainer>();
  for (const copies of oneAtATime(containers, views)) {
    if (copies[0]!.handOff || copies[0]!.rollsWith) continue;
    copies.slice(1).forEach((c, i) => previous.set(c, copies[i]!));
    // A container that rolls with these goes on each host right before this one, after the
    // previous host's copy of this one: the chain is b1, a1, b2, a2...
    const companions = containers.filter((c) => c.rollsWith === copies[0]!.name);
    for (const [i, copy] of copies.entries()) {
      const companion = companions.find((c) => c.host === copy.host);
      if (!companion) continue;
      previous.set(copy, companion);
      const before = copies[i - 1];
      if (before) previous.set(companion, before);
    }
  }
  return previous;
}

/** Copies that go one at a time with a duty to hand off: their order is chosen as they go (rollHolderLast). */
function holderLastCopies(containers: readonly DesiredContainer[], views: ReadonlyMap<string, HostView>): DesiredContainer[][] {
  return oneAtATime(containers, views).filter((copies) => copies[0]!.handOff);
}

/** Each container's copies (in inventory order) that change one host at a time in this run. */
function oneAtATime(containers: readonly DesiredContainer[], views: ReadonlyMap<string, HostView>): DesiredContainer[][] {
  const byName = new Map<string, DesiredContainer[]>();
  for (const c of containers) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
  return [...byName.values()].filter((copies) => {
    if (copies.length < 2) return false;
    const running = copies.some((c) => views.get(c.host)?.containers.get(c.name)?.running);
    const rollout = copies[0]!.rollout;
    return rollout === 'serial' || (rollout === 'rolling' && running);
  });
}

function converge(desired: DesiredContainer, run: Run): Promise<StepResult> {
  return run.gate.run(desired.host, () => convergeOn(desired, run));
}

async function convergeOn(desired: DesiredContainer, run: Run): Promise<StepResult> {
  const { opts, emitEnd } = run;
  const host = opts.hosts.get(desired.host)!;
  const view = run.views.get(desired.host)!;
  const dir = posix.join(opts.plan.configRoot, desired.name);
  const t0 = Date.now();
  let action: ContainerAction = { kind: 'none' };
  try {
    const container = view.containers.get(desired.name);
    action = decide(desired, {
      container,
      imageId: await imageIdOf(host, view, desired.spec.image),
      ...(view.configs.get(dir) ?? (await host.configState(dir))),
      ...(container ? { labelledOurs: container.labels[LABEL.deployment] === opts.deploymentId } : {}),
    });
    if (action.kind === 'none') {
      if (!opts.dryRun && container?.health !== 'healthy') await waitHealthy(host, desired, opts.healthTimeoutMs);
      return emitEnd({ host: desired.host, target: desired.name, action: 'none', status: 'ok', reasons: [], durationMs: Date.now() - t0 });
    }
    opts.onEvent?.({ type: 'step-start', host: desired.host, target: desired.name, action: action.kind, reasons: action.reasons });
    if (!opts.dryRun) {
      if (!(await imageIdOf(host, view, desired.spec.image))) {
        throw new Error(`image ${desired.spec.image} is not on host ${desired.host}; run berth build (or pull)`);
      }
      await host.syncDir(dir, desired.files);
      // The VIP (a duty) moves to another copy before this one goes down.
      if (desired.handOff && container?.running && (action.kind === 'recreate' || action.kind === 'restart')) await handOff(host, desired);
      // haproxy stops sending it requests before it goes down (the other hosts' copies take them).
      if (run.balancers && desired.balanced && (action.kind === 'recreate' || action.kind === 'restart')) await run.balancers.drain(desired.balanced);
      if (action.kind === 'recreate') {
        // A clean shutdown first (MariaDB's, before a new version opens its files); remove would kill it.
        if (container?.running) await host.stop(desired.name, desired.stopTimeoutSeconds);
        await host.remove(desired.name);
      }
      if (action.kind === 'create' || action.kind === 'recreate') {
        await host.create(desired.name, desired.spec, containerLabels(desired, opts.deploymentId));
        await host.start(desired.name);
      } else if (action.kind === 'apply') {
        for (const cmd of action.commands) {
          const r = await host.exec(desired.name, ['sh', '-c', cmd.exec], cmd.user);
          if (r.code !== 0) throw new Error(`applying the new configuration failed (exit ${r.code}): ${r.output.trim().split('\n').slice(-10).join('\n    ')}`);
        }
        await host.writeMarker(dir, appliedMarker(container!, desired.configHash));
      } else if (action.kind === 'restart') {
        await host.restart(desired.name, desired.stopTimeoutSeconds);
      } else {
        await host.start(desired.name);
      }
      await waitHealthy(host, desired, opts.healthTimeoutMs);
      if (desired.rolloutGate) await waitGate(host, desired, opts.healthTimeoutMs);
      if (desired.handOff) await resume(host, desired);
      if (run.balancers && desired.balanced) await run.balancers.ready(desired.balanced, await serversToWaitFor(host, desired.balanced));
    }
    return emitEnd({ host: desired.host, target: desired.name, action: action.kind, status: 'changed', reasons: action.reasons, durationMs: Date.now() - t0 });
  } catch (err) {
    if (isUnreachable(err)) {
      run.lost(desired.host, err);
      return skipped(run, desired, skipReason(run.scope, desired)!);
    }
    return emitEnd({
      host: desired.host,
      target: desired.name,
      action: action.kind,
      status: 'failed',
      reasons: action.kind === 'none' ? [] : action.reasons,
      durationMs: Date.now() - t0,
      error: (err as Error).message,
    });
  }
}

function runJob(job: DesiredJob, run: Run): Promise<StepResult> {
  return run.gate.run(job.host, async () => {
    try {
      return await runJobOn(job, run);
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      run.lost(job.host, err);
      return skipped(run, job, skipReason(run.scope, job)!);
    }
  });
}

async function runJobOn(job: DesiredJob, run: Run): Promise<StepResult> {
  const { opts, emitEnd } = run;
  const host = opts.hosts.get(job.host)!;
  const view = run.views.get(job.host)!;
  const t0 = Date.now();
  let previous = view.containers.get(job.name);
  const imageId = await imageIdOf(host, view, job.spec.image);
  // The image counts by its ID: a rebuilt image under the same tag (an upgrade) reruns db sync.
  const sameInputs =
    previous?.labels[LABEL.inputsHash] === job.inputsHash && previous.labels[LABEL.deployment] === opts.deploymentId && previous.imageId === imageId;
  // Still running from a deploy that was killed: let it finish rather than kill it halfway
  // (a bootstrap interrupted mid-way can leave a volume half made).
  if (previous?.running && sameInputs && !opts.dryRun) {
    await host.wait(job.name, opts.jobTimeoutMs ?? 15 * 60_000);
    previous = await host.inspect(job.name);
  }
  // Host setup (mounts, interfaces) is forgotten by a reboot: the containers it serves being down says so.
  const down = (job.whileDown ?? []).filter((n) => !view.containers.get(n)?.running);
  // Done = ran to the end with status 0. A container created but never started (a deploy killed
  // between the two) also reports exit code 0; it has no finish time.
  const succeeded = previous !== undefined && previous.status === 'exited' && previous.finishedAt !== undefined && previous.exitCode === 0;
  if (succeeded && sameInputs && down.length === 0) {
    return emitEnd({ host: job.host, target: job.name, action: 'none', status: 'ok', reasons: [], durationMs: Date.now() - t0 });
  }
  const reasons = [
    !previous
      ? 'never ran'
      : previous.labels[LABEL.inputsHash] !== job.inputsHash
        ? 'inputs changed'
        : previous.labels[LABEL.deployment] !== opts.deploymentId
          ? 'adopted: runs again under this deployment'
          : previous.imageId !== imageId
            ? `image ${job.spec.image} was rebuilt or pulled`
            : !succeeded
              ? previous.finishedAt === undefined ? 'never finished' : 'last run did not succeed'
              : `${down.join(', ')} not running`,
  ];
  opts.onEvent?.({ type: 'step-start', host: job.host, target: job.name, action: 'run', reasons });
  if (opts.dryRun) return emitEnd({ host: job.host, target: job.name, action: 'run', status: 'changed', reasons, durationMs: 0 });
  try {
    if (!imageId) throw new Error(`image ${job.spec.image} is not on host ${job.host}; run berth build (or pull)`);
    await runToCompletion(host, opts.plan.configRoot, job, opts.deploymentId, opts.jobTimeoutMs);
    return emitEnd({ host: job.host, target: job.name, action: 'run', status: 'changed', reasons, durationMs: Date.now() - t0 });
  } catch (err) {
    if (isUnreachable(err)) throw err;
    return emitEnd({ host: job.host, target: job.name, action: 'run', status: 'failed', reasons, durationMs: Date.now() - t0, error: (err as Error).message });
  }
}

/** A container or job gone with its rendered files: nothing of it left on the host. */
export async function removeWithFiles(host: Host, configRoot: string, name: string): Promise<void> {
  await host.remove(name);
  await host.removeDir(posix.join(configRoot, name));
}

/** Runs a job's container from scratch and waits for it; a non-zero exit throws with its last output. */
export async function runToCompletion(host: Host, configRoot: string, job: DesiredJob, deploymentId: string, timeoutMs = 15 * 60_000): Promise<void> {
  await host.remove(job.name);
  await host.syncDir(posix.join(configRoot, job.name), job.files);
  // Its named volumes made first, labelled: Docker would make them without the deployment's id.
  for (const v of namedVolumes(job.spec)) await host.ensureVolume(v, volumeLabels(deploymentId));
  await host.create(job.name, job.spec, {
    [LABEL.deployment]: deploymentId,
    [LABEL.managed]: 'true',
    [LABEL.kind]: 'job',
    [LABEL.service]: job.service,
    [LABEL.container]: job.name,
    [LABEL.image]: job.spec.image,
    [LABEL.inputsHash]: job.inputsHash,
  });
  await host.start(job.name);
  const code = await host.wait(job.name, timeoutMs);
  if (code !== 0) {
    const tail = (await host.logs(job.name, 15)).trim().split('\n').slice(-15).join('\n    ');
    throw new Error(`exited with status ${code}; last output:\n    ${tail}\n  (docker logs ${job.name} on ${job.host} has it all)`);
  }
}

/**
 * For stop and destroy: stops with exit 2, before any change, when a host holds another
 * deployment's objects (or berth objects without an id, unless adopt says they are ours).
 */
export async function assertOwnership(
  opts: Pick<DeployOptions, 'plan' | 'hosts' | 'deploymentId' | 'adopt' | 'limit' | 'unreachable' | 'forks'>,
): Promise<void> {
  const scope: Scope = { limit: opts.limit, unreachable: opts.unreachable ?? new Map<string, string>() };
  const lost = (host: string, err: unknown): void => void scope.unreachable.set(host, (err as Error).message);
  await readHosts({ ...opts, scope, gate: new HostGate(opts.forks ?? DEFAULT_FORKS), lost, inspect: false });
}

/**
 * One read of each host: every container (for ownership), this deployment's in detail, and the
 * volumes. A host holding another deployment's objects stops the whole run here, before any change.
 */
async function readHosts(
  opts: Pick<DeployOptions, 'plan' | 'hosts' | 'deploymentId' | 'adopt' | 'localHosts'> & { scope: Scope; gate: HostGate; lost: Run['lost']; inspect?: boolean },
): Promise<Map<string, HostView>> {
  const views = new Map<string, HostView>();
  const { scope } = opts;
  // stop and destroy (inspect: false) need no images; deploy needs every planned one on its host.
  const needed = opts.inspect === false ? new Map<string, string[]>() : imagesByHost(opts.plan);
  const missing = new Map<string, string[]>();
  const reachable = opts.plan.hosts.filter((h) => inLimit(scope, h) && !scope.unreachable.has(h));
  const conflicts = (
    await Promise.all(
      reachable.map((name) => opts.gate.run(name, async () => {
        const host = opts.hosts.get(name)!;
        let all: Awaited<ReturnType<Host['listAll']>>;
        let volumes: ActualVolume[];
        const imageIds = new Map<string, string | undefined>();
        try {
          const refs = needed.get(name) ?? [];
          let tags: Map<string, string> | undefined;
          [all, volumes, tags] = await Promise.all([host.listAll(), host.volumes(), refs.length ? host.imageTags() : undefined]);
          if (tags) {
            // One list call instead of one inspect per image; a reference the list spells otherwise is asked for.
            for (const ref of refs) if (tags.has(ref)) imageIds.set(ref, tags.get(ref));
            for (const ref of missingImages(refs, tags)) imageIds.set(ref, await host.imageId(ref));
            const lacking = refs.filter((ref) => !imageIds.get(ref));
            if (lacking.length) missing.set(name, lacking);
          }
        } catch (err) {
          if (!isUnreachable(err)) throw err;
          opts.lost(name, err);
          return [];
        }
        const planned = new Set(opts.plan.services.flatMap((s) => [...s.containers, ...s.jobs]).filter((c) => c.host === name).map((c) => c.name));
        const found = ownershipConflicts(
          { host: name, containers: all, volumes, plannedNames: planned, plannedVolumes: opts.plan.volumes[name] ?? [] },
          opts.deploymentId,
          opts.adopt ?? false,
        );
        const mine = all.filter((c) => c.labels[LABEL.managed] === 'true' && isOurs(c.labels, opts.deploymentId, opts.adopt ?? false));
        const inspected =
          opts.inspect === false ? [] : (await Promise.all(mine.map((c) => host.inspect(c.name)))).filter((c): c is ActualContainer => c !== undefined);
        const dirs = opts.inspect === false ? [] : opts.plan.services.flatMap((s) => s.containers).filter((c) => c.host === name).map((c) => posix.join(opts.plan.configRoot, c.name));
        const configs = await host.configStates(dirs).catch((err: unknown) => {
          if (!isUnreachable(err)) throw err;
          opts.lost(name, err);
          return undefined;
        });
        if (!configs) return [];
        views.set(name, { containers: new Map(inspected.map((c) => [c.name, c])), volumes, imageIds, configs });
        return found;
      })),
    )
  ).flat();
  if (conflicts.length) {
    const { message, hint } = describeConflicts(conflicts, opts.deploymentId);
    throw new InputError(message, hint);
  }
  const ordered = new Map(opts.plan.hosts.filter((h) => missing.has(h)).map((h) => [h, missing.get(h)!]));
  const lacking = missingImagesError(ordered, opts.localHosts ?? new Set());
  if (lacking) throw lacking;
  return views;
}

/** The plan's named volumes, made with the deployment's labels before any container mounts them (Docker would make them unlabelled). */
async function ensureVolumes(run: Run): Promise<void> {
  const { opts } = run;
  await Promise.all(
    [...run.views].map(([name, view]) =>
      run.gate.run(name, async () => {
        const present = new Set(view.volumes.map((v) => v.name));
        try {
          for (const v of opts.plan.volumes[name] ?? []) {
            if (!present.has(v)) await opts.hosts.get(name)!.ensureVolume(v, volumeLabels(opts.deploymentId));
          }
        } catch (err) {
          if (!isUnreachable(err)) throw err;
          run.lost(name, err);
        }
      }),
    ),
  );
}

/**
 * This deployment's containers that the plan no longer has (their service was disabled or
 * removed). A service's host setup is undone once its containers are gone; its setup job's
 * container goes last, so a run killed before the teardown finished does it again. Volumes stay.
 */
async function removeUndesired(run: Run): Promise<void> {
  await Promise.all(
    [...run.views]
      .filter(([hostName]) => !run.scope.unreachable.has(hostName))
      .map(([hostName, view]) =>
        run.gate.run(hostName, async () => {
          try {
            await removeUndesiredOn(run, hostName, view);
          } catch (err) {
            if (!isUnreachable(err)) throw err;
            run.lost(hostName, err);
          }
        }),
      ),
  );
}

async function removeUndesiredOn(run: Run, hostName: string, view: HostView): Promise<void> {
  const { opts, emitEnd } = run;
  const host = opts.hosts.get(hostName)!;
  const wanted = new Set<string>();
  for (const s of opts.plan.services) {
    for (const c of s.containers) if (c.host === hostName) wanted.add(c.name);
    for (const j of s.jobs) if (j.host === hostName) wanted.add(j.name);
  }
  const undesired = [...view.containers.values()].filter((c) => !wanted.has(c.name));
  const teardowns = opts.plan.retiredTeardown.filter((t) => t.host === hostName && undesired.some((c) => c.labels[LABEL.service] === t.service));
  // The setup job's container is what says a service's host setup is in place (plan's hostJob names both).
  const setupOf = (teardown: DesiredJob): string => teardown.name.replace(/_teardown$/, '_setup');
  const setupJobs = new Set(teardowns.map(setupOf));
  const kept = new Set<string>();
  const remove = async (c: ActualContainer): Promise<void> => {
    const t0 = Date.now();
    const service = c.labels[LABEL.service] ?? '?';
    const reasons = [isUpgradeStep(c.name) ? 'a step of an upgrade that is over' : `service ${service} is not enabled here`];
    opts.onEvent?.({ type: 'step-start', host: hostName, target: c.name, action: 'remove', reasons });
    if (!opts.dryRun) {
      await removeWithFiles(host, opts.plan.configRoot, c.name);
    }
    for (const v of c.volumes) if (!(opts.plan.volumes[hostName] ?? []).includes(v)) kept.add(v);
    emitEnd({ host: hostName, target: c.name, action: 'remove', status: 'changed', reasons, durationMs: Date.now() - t0 });
  };
  for (const c of undesired.filter((x) => !setupJobs.has(x.name))) await remove(c);
  for (const job of teardowns) {
    const t0 = Date.now();
    const reasons = [`service ${job.service} is not enabled here: undo its host setup`];
    opts.onEvent?.({ type: 'step-start', host: hostName, target: job.name, action: 'run', reasons });
    if (opts.dryRun) {
      emitEnd({ host: hostName, target: job.name, action: 'run', status: 'changed', reasons, durationMs: 0 });
      continue;
    }
    try {
      await runToCompletion(host, opts.plan.configRoot, job, opts.deploymentId, 5 * 60_000);
      await removeWithFiles(host, opts.plan.configRoot, job.name);
      emitEnd({ host: hostName, target: job.name, action: 'run', status: 'changed', reasons, durationMs: Date.now() - t0 });
    } catch (err) {
      emitEnd({ host: hostName, target: job.name, action: 'run', status: 'failed', reasons, durationMs: Date.now() - t0, error: (err as Error).message });
      continue;
    }
    for (const c of undesired.filter((x) => x.name === setupOf(job))) await remove(c);
  }
  for (const v of kept) {
    const reasons = ['data of a service that is no longer enabled: kept; berth destroy (or docker volume rm) removes it'];
    opts.onEvent?.({ type: 'step-start', host: hostName, target: `volume ${v}`, action: 'keep', reasons });
    emitEnd({ host: hostName, target: `volume ${v}`, action: 'keep', status: 'ok', reasons, durationMs: 0 });
  }
}

function volumeLabels(deploymentId: string): Record<string, string> {
  return { [LABEL.deployment]: deploymentId, [LABEL.kind]: 'volume' };
}

export function containerLabels(c: DesiredContainer, deploymentId: string): Record<string, string> {
  return {
    [LABEL.deployment]: deploymentId,
    [LABEL.managed]: 'true',
    [LABEL.kind]: 'container',
    [LABEL.service]: c.service,
    [LABEL.container]: c.name,
    [LABEL.image]: c.spec.image,
    [LABEL.spec]: canonicalJson(c.spec),
    [LABEL.specHash]: c.specHash,
    [LABEL.configHash]: c.configHash,
  };
}

async function imageIdOf(host: Host, view: HostView, ref: string): Promise<string | undefined> {
  if (!view.imageIds.has(ref)) view.imageIds.set(ref, await host.imageId(ref));
  return view.imageIds.get(ref);
}

/** Runs a container's rollout gate until it passes (RabbitMQ: the whole cluster running again). */
async function waitGate(host: Host, c: DesiredContainer, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await host.exec(c.name, ['sh', '-c', c.rolloutGate!], undefined, 60_000).catch((err: Error) => ({ code: -1, output: err.message }));
    if (r.code === 0) return;
    if (Date.now() > deadline) throw new Error(`healthy, but its rollout gate did not pass after ${timeoutMs / 1000}s: ${r.output.trim() || `exit ${r.code}`}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/**
 * The servers whose readiness to wait for: a container that only answers the check (Galera's
 * clustercheck) waits only when the container it checks runs healthy here; otherwise that one is
 * still coming up (a new node joining its cluster) and waits for itself.
 */
async function serversToWaitFor(host: Host, servers: NonNullable<DesiredContainer['balanced']>): Promise<ServerRef[]> {
  const up = await Promise.all(servers.map(async (s) => !s.checks || (await host.inspect(s.checks).catch(() => undefined))?.health === 'healthy'));
  return servers.filter((_, i) => up[i]);
}

/** Servers a killed run left drained in haproxy are returned to service first. */
async function readyLeftovers(run: Run, balancers: LoadBalancers): Promise<void> {
  const t0 = Date.now();
  const found = await balancers.readyLeftovers();
  if (!found.length) return;
  const reasons = [`left drained by an earlier run: ${found.map((s) => `${s.backend}/${s.server}`).join(', ')}`];
  run.emitEnd({ host: '-', target: 'haproxy servers', action: 'ready', status: 'changed', reasons, durationMs: Date.now() - t0 });
}

/** Copies a killed run left after a hand-off take part again (one resume per host and command). */
async function resumeLeftovers(run: Run): Promise<void> {
  const once = new Map<string, DesiredContainer>();
  for (const svc of run.opts.plan.services) {
    for (const c of svc.containers) {
      if (c.handOff && inLimit(run.scope, c.host) && !run.scope.unreachable.has(c.host) && run.views.get(c.host)?.containers.get(c.name)?.running) once.set(`${c.host} ${c.handOff.resume}`, c);
    }
  }
  await Promise.all(
    [...once.values()].map((c) =>
      resume(run.opts.hosts.get(c.host)!, c).catch((err: unknown) => {
        if (isUnreachable(err)) run.lost(c.host, err);
        else run.emitEnd({ host: c.host, target: c.name, action: 'resume', status: 'failed', reasons: ['left handed off by an earlier run'], durationMs: 0, error: (err as Error).message });
      }),
    ),
  );
}

/**
 * Runs the container's own healthcheck until it passes, instead of waiting for Docker's interval:
 * dependants start the moment a service is ready.
 */
export async function waitHealthy(host: Host, c: DesiredContainer, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await host.inspect(c.name);
    if (!state) throw new Error('container disappeared');
    if (!state.running) {
      const tail = (await host.logs(c.name, 20)).trim().split('\n').slice(-20).join('\n    ');
      throw new Error(`container stopped (exit ${state.exitCode}); last output:\n    ${tail}`);
    }
    // A probe that hangs counts as a failed one: the next try gets a fresh exec.
    const probeTimeout = (c.spec.healthcheck.timeoutSeconds + 10) * 1000;
    const probe = await host.exec(c.name, ['sh', '-c', c.spec.healthcheck.test], undefined, probeTimeout).catch((err: Error) => ({ code: -1, output: err.message }));
    if (probe.code === 0) return;
    if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs / 1000}s: ${probe.output.trim()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
