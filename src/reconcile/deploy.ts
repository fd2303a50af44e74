// reconcile: converges every host to the plan. Services go in dependency order (independent ones
// at the same time), each: its 'before' jobs, its containers on all its hosts, a wait for health,
// its 'after' jobs. Everything it does is derived from the plan and what the hosts report, so a
// deploy killed at any point is finished by running deploy again.
import { posix } from 'node:path';
import type { LocalHost, ActualContainer } from '../engine/host.js';
import { canonicalJson } from '../plan/plan.js';
import { LABEL, type DesiredContainer, type DesiredJob, type Plan, type ServicePlan } from '../plan/types.js';
import { decide, type ContainerAction } from './diff.js';

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
  | { type: 'step-end'; result: StepResult };

export interface DeployOptions {
  plan: Plan;
  hosts: Map<string, LocalHost>;
  dryRun?: boolean;
  onEvent?: (ev: DeployEvent) => void;
  healthTimeoutMs?: number;
  jobTimeoutMs?: number;
}

interface HostView {
  containers: Map<string, ActualContainer>;
  imageIds: Map<string, string | undefined>;
}

export async function deploy(opts: DeployOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const { plan } = opts;
  const emitEnd = (r: StepResult): StepResult => {
    results.push(r);
    opts.onEvent?.({ type: 'step-end', result: r });
    return r;
  };

  // One read of each host's managed containers; the rest of the run works from it.
  const views = new Map<string, HostView>();
  await Promise.all(
    plan.hosts.map(async (name) => {
      const host = opts.hosts.get(name)!;
      const list = await host.listManaged();
      views.set(name, { containers: new Map(list.map((c) => [c.name, c])), imageIds: new Map() });
    }),
  );

  await removeUndesired(opts, views, emitEnd);

  // Services run as soon as everything they depend on succeeded.
  const done = new Map<string, Promise<boolean>>();
  const runService = (svc: ServicePlan): Promise<boolean> => {
    let p = done.get(svc.service);
    if (p) return p;
    p = (async () => {
      const deps = svc.dependsOn.filter((d) => plan.services.some((s) => s.service === d));
      const depsOk = await Promise.all(deps.map((d) => runService(plan.services.find((s) => s.service === d)!)));
      if (depsOk.includes(false)) {
        emitEnd({ host: '-', target: svc.service, action: 'skip', status: 'skipped', reasons: ['a dependency failed'], durationMs: 0 });
        return false;
      }
      return deployService(svc, opts, views, emitEnd);
    })();
    done.set(svc.service, p);
    return p;
  };
  await Promise.all(plan.services.map(runService));
  return results;
}

async function deployService(
  svc: ServicePlan,
  opts: DeployOptions,
  views: Map<string, HostView>,
  emitEnd: (r: StepResult) => StepResult,
): Promise<boolean> {
  for (const job of svc.jobs.filter((j) => j.phase === 'before')) {
    if ((await runJob(job, opts, views, emitEnd)).status === 'failed') return false;
  }
  // Containers start together, except those that wait for others of their service (agents for their server).
  const converging = new Map<DesiredContainer, Promise<StepResult>>();
  const convergeAfterDeps = (c: DesiredContainer): Promise<StepResult> => {
    let p = converging.get(c);
    if (p) return p;
    const deps = svc.containers.filter((d) => c.after?.includes(d.name));
    p = Promise.all(deps.map(convergeAfterDeps)).then((rs) =>
      rs.some((r) => r.status !== 'ok' && r.status !== 'changed')
        ? emitEnd({ host: c.host, target: c.name, action: 'skip', status: 'skipped', reasons: [`${c.after!.join(', ')} did not come up`], durationMs: 0 })
        : converge(c, opts, views, emitEnd),
    );
    converging.set(c, p);
    return p;
  };
  const outcomes = await Promise.all(svc.containers.map(convergeAfterDeps));
  if (outcomes.some((r) => r.status === 'failed' || r.status === 'skipped')) return false;
  for (const job of svc.jobs.filter((j) => j.phase === 'after')) {
    if ((await runJob(job, opts, views, emitEnd)).status === 'failed') return false;
  }
  return true;
}

async function converge(
  desired: DesiredContainer,
  opts: DeployOptions,
  views: Map<string, HostView>,
  emitEnd: (r: StepResult) => StepResult,
): Promise<StepResult> {
  const host = opts.hosts.get(desired.host)!;
  const view = views.get(desired.host)!;
  const dir = posix.join(opts.plan.configRoot, desired.name);
  const t0 = Date.now();
  let action: ContainerAction = { kind: 'none' };
  try {
    const container = view.containers.get(desired.name);
    action = decide(desired, { container, imageId: await imageIdOf(host, view, desired.spec.image), ...(await host.configState(dir)) });
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
      if (action.kind === 'recreate') await host.remove(desired.name);
      if (action.kind === 'create' || action.kind === 'recreate') {
        await host.create(desired.name, desired.spec, containerLabels(desired));
        await host.start(desired.name);
      } else if (action.kind === 'restart') {
        await host.restart(desired.name);
      } else {
        await host.start(desired.name);
      }
      await waitHealthy(host, desired, opts.healthTimeoutMs);
    }
    return emitEnd({ host: desired.host, target: desired.name, action: action.kind, status: 'changed', reasons: action.reasons, durationMs: Date.now() - t0 });
  } catch (err) {
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

async function runJob(
  job: DesiredJob,
  opts: DeployOptions,
  views: Map<string, HostView>,
  emitEnd: (r: StepResult) => StepResult,
): Promise<StepResult> {
  const host = opts.hosts.get(job.host)!;
  const view = views.get(job.host)!;
  const t0 = Date.now();
  let previous = view.containers.get(job.name);
  const sameInputs = previous?.labels[LABEL.inputsHash] === job.inputsHash;
  // Still running from a deploy that was killed: let it finish rather than kill it halfway
  // (a bootstrap interrupted mid-way can leave a volume half made).
  if (previous?.running && sameInputs && !opts.dryRun) {
    await host.wait(job.name, opts.jobTimeoutMs ?? 15 * 60_000);
    previous = await host.inspect(job.name);
  }
  // Host setup (mounts, interfaces) is forgotten by a reboot: the containers it serves being down says so.
  const down = (job.whileDown ?? []).filter((n) => !view.containers.get(n)?.running);
  if (previous && !previous.running && previous.exitCode === 0 && sameInputs && down.length === 0) {
    return emitEnd({ host: job.host, target: job.name, action: 'none', status: 'ok', reasons: [], durationMs: Date.now() - t0 });
  }
  const reasons = [
    !previous ? 'never ran' : !sameInputs ? 'inputs changed' : previous.exitCode !== 0 ? 'last run did not succeed' : `${down.join(', ')} not running`,
  ];
  opts.onEvent?.({ type: 'step-start', host: job.host, target: job.name, action: 'run', reasons });
  if (opts.dryRun) return emitEnd({ host: job.host, target: job.name, action: 'run', status: 'changed', reasons, durationMs: 0 });
  try {
    if (!(await imageIdOf(host, view, job.spec.image))) {
      throw new Error(`image ${job.spec.image} is not on host ${job.host}; run berth build (or pull)`);
    }
    await runToCompletion(host, opts.plan.configRoot, job, opts.jobTimeoutMs);
    return emitEnd({ host: job.host, target: job.name, action: 'run', status: 'changed', reasons, durationMs: Date.now() - t0 });
  } catch (err) {
    return emitEnd({ host: job.host, target: job.name, action: 'run', status: 'failed', reasons, durationMs: Date.now() - t0, error: (err as Error).message });
  }
}

/** Runs a job's container from scratch and waits for it; a non-zero exit throws with its last output. */
export async function runToCompletion(host: LocalHost, configRoot: string, job: DesiredJob, timeoutMs = 15 * 60_000): Promise<void> {
  await host.remove(job.name);
  await host.syncDir(posix.join(configRoot, job.name), job.files);
  await host.create(job.name, job.spec, {
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

/** Containers berth manages that the plan no longer has: their service was disabled or removed. */
async function removeUndesired(
  opts: DeployOptions,
  views: Map<string, HostView>,
  emitEnd: (r: StepResult) => StepResult,
): Promise<void> {
  for (const [hostName, view] of views) {
    const wanted = new Set<string>();
    for (const s of opts.plan.services) {
      for (const c of s.containers) if (c.host === hostName) wanted.add(c.name);
      for (const j of s.jobs) if (j.host === hostName) wanted.add(j.name);
    }
    for (const c of view.containers.values()) {
      if (wanted.has(c.name)) continue;
      const t0 = Date.now();
      const reasons = [`service ${c.labels[LABEL.service] ?? '?'} is not enabled here`];
      opts.onEvent?.({ type: 'step-start', host: hostName, target: c.name, action: 'remove', reasons });
      if (!opts.dryRun) {
        const host = opts.hosts.get(hostName)!;
        await host.remove(c.name);
        await host.removeDir(posix.join(opts.plan.configRoot, c.name));
      }
      emitEnd({ host: hostName, target: c.name, action: 'remove', status: 'changed', reasons, durationMs: Date.now() - t0 });
    }
  }
}

function containerLabels(c: DesiredContainer): Record<string, string> {
  return {
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

async function imageIdOf(host: LocalHost, view: HostView, ref: string): Promise<string | undefined> {
  if (!view.imageIds.has(ref)) view.imageIds.set(ref, await host.imageId(ref));
  return view.imageIds.get(ref);
}

/**
 * Runs the container's own healthcheck until it passes, instead of waiting for Docker's interval:
 * dependants start the moment a service is ready.
 */
export async function waitHealthy(host: LocalHost, c: DesiredContainer, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await host.inspect(c.name);
    if (!state) throw new Error('container disappeared');
    if (!state.running) {
      const tail = (await host.logs(c.name, 20)).trim().split('\n').slice(-20).join('\n    ');
      throw new Error(`container stopped (exit ${state.exitCode}); last output:\n    ${tail}`);
    }
    const probe = await host.exec(c.name, ['sh', '-c', c.spec.healthcheck.test]);
    if (probe.code === 0) return;
    if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs / 1000}s: ${probe.output.trim()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
