// berth bootstrap-servers, below the CLI: every selected host prepared in parallel (at most --forks
// at once) by the engine's script, then /etc/hosts written on each once every host's address is
// known. Host keys are the CLI's first step (ssh-keyscan's), before this runs.
import pLimit from 'p-limit';
import type { Deployment } from '../config/deployment.js';
import { InputError } from '../config/errors.js';
import { BOOTSTRAP_STEPS, explainFailure, parseHostState, parseScriptLine, type BootstrapTarget } from '../engine/bootstrap.js';
import { EngineError } from '../engine/docker.js';
import type { HostFacts } from '../engine/host.js';
import type { RunResult } from '../engine/ssh.js';
import { addressing, unknownHostsIn } from '../plan/addresses.js';
import { bootstrapHosts, hostNames, hostPrep, hostsBlock, mergeDaemonJson, modulesLoadConf, replaceHostsBlock, sysctlConf } from '../plan/bootstrap.js';
import type { StepResult } from '../reconcile/deploy.js';

export type BootstrapEvent =
  | { type: 'step-end'; result: StepResult; notes: string[]; hint?: string }
  | { type: 'note'; host: string; step: string; text: string }
  | { type: 'host-unreachable'; host: string; reason: string };

export interface BootstrapOptions {
  deployment: Deployment;
  /** docker_registry: listed in insecure-registries when it is a non-loopback host:port. */
  registry: string;
  /** Every host bootstrapHosts() names: the selected ones are prepared, the others give their address. */
  targets: ReadonlyMap<string, BootstrapTarget>;
  selected: readonly string[];
  forks: number;
  /** Hosts already known to be unreachable (no host key shown). */
  unreachable?: ReadonlyMap<string, string>;
  onEvent?: (ev: BootstrapEvent) => void;
}

export interface BootstrapOutcome {
  results: StepResult[];
  unreachable: Map<string, string>;
  /** Wall time per prepared host, from its connection to its last step. */
  durations: Map<string, number>;
  /** Bad input found on the way (an api_interface without an address): exit 2 after the recap. */
  inputError?: InputError;
}

export async function bootstrapServers(o: BootstrapOptions): Promise<BootstrapOutcome> {
  const { deployment } = o;
  const emit = o.onEvent ?? (() => undefined);
  const results: StepResult[] = [];
  const unreachable = new Map(o.unreachable);
  const durations = new Map<string, number>();
  const started = new Map<string, number>();
  const facts: Record<string, HostFacts> = {};
  const failedAt = new Map<string, string>();
  // No [control] host and no VIP is bad input: said before any host is touched.
  addressing(deployment, {});

  const record = (host: string, step: string, status: StepResult['status'], detail: string, durationMs: number, notes: string[] = [], hint?: string): void => {
    const result: StepResult = { host, target: step, action: 'bootstrap', status, reasons: detail ? [detail] : [], durationMs, ...(status === 'failed' ? { error: detail } : {}) };
    results.push(result);
    if (status === 'failed') failedAt.set(host, step);
    emit({ type: 'step-end', result, notes, ...(hint ? { hint } : {}) });
  };
  const skipRest = (host: string, after: readonly string[], why: string): void => {
    for (const step of BOOTSTRAP_STEPS.filter((s) => !after.includes(s))) record(host, step, 'skipped', why, 0);
  };
  for (const [host, reason] of unreachable) if (o.selected.includes(host)) emit({ type: 'host-unreachable', host, reason });

  const limit = pLimit(o.forks);
  const interfaceOf = (name: string): string => deployment.hosts.find((h) => h.name === name)!.interfaces.api;
  await Promise.all(
    [...o.targets].map(([name, target]) =>
      limit(async () => {
        if (unreachable.has(name)) return;
        started.set(name, Date.now());
        try {
          await target.connect();
        } catch (err) {
          unreachable.set(name, (err as Error).message);
          if (o.selected.includes(name)) emit({ type: 'host-unreachable', host: name, reason: (err as Error).message });
          return;
        }
        if (o.selected.includes(name)) await prepare(name, target);
        // iproute2 is there now (unless packages failed): the address /etc/hosts gives the host.
        try {
          facts[name] = await target.facts([interfaceOf(name)]);
        } catch {
          // Said where it matters: the hosts step names the hosts whose address is unknown.
        }
      }),
    ),
  );

  /** Steps 1-5 and 7, one run of the script; each step's line reported as it arrives. */
  async function prepare(name: string, target: BootstrapTarget): Promise<void> {
    const seen: string[] = [];
    const notes = new Map<string, string[]>();
    let last = Date.now();
    const fail = (step: string, err: unknown): void => {
      const e = err instanceof EngineError || err instanceof InputError ? err : new EngineError(`host ${name}: ${(err as Error).message}`);
      record(name, step, 'failed', e.message, Date.now() - last, [], e.hint);
      skipRest(name, [...seen, step], `not run: ${step} failed`);
    };
    let read: RunResult;
    try {
      read = await target.run(['read']);
    } catch (err) {
      return fail('packages', err);
    }
    if (read.code !== 0) return fail('packages', new EngineError(`host ${name}: reading its state failed: ${failure(read)}`));
    const state = parseHostState(read.stdout.toString('utf8'));
    let daemon;
    try {
      daemon = mergeDaemonJson(state.daemonJson, o.registry);
    } catch (err) {
      return fail('packages', new EngineError(`host ${name}: /etc/docker/daemon.json cannot be merged: ${(err as Error).message}`, 'make it a valid JSON object, or remove it'));
    }
    const prep = hostPrep(deployment, name);
    const args = ['apply', daemon.text, daemon.apply, modulesLoadConf(prep.modules), sysctlConf(prep.sysctls), prep.modules.filter((m) => m.required).map((m) => m.name).join(' ')];
    let result: RunResult;
    try {
      result = await target.run(args, (line) => {
        const l = parseScriptLine(line);
        if (l?.kind === 'note') {
          (notes.get(l.step) ?? notes.set(l.step, []).get(l.step)!).push(l.text);
          emit({ type: 'note', host: name, step: l.step, text: l.text });
        }
        if (l?.kind !== 'step') return;
        const now = Date.now();
        seen.push(l.step);
        if (l.status === 'failed') {
          const { message, hint } = explainFailure(l.step, l.detail);
          record(name, l.step, 'failed', `host ${name}: ${message}`, now - last, notes.get(l.step), hint);
        } else {
          const why = l.step === 'daemon.json' && l.status === 'changed' ? `${l.detail} (keys: ${daemon.keys.join(', ')})` : l.detail;
          record(name, l.step, l.status, why, now - last, notes.get(l.step));
        }
        last = now;
      });
    } catch (err) {
      return fail(BOOTSTRAP_STEPS.find((s) => !seen.includes(s))!, err);
    }
    const failed = failedAt.get(name);
    if (failed) return skipRest(name, [...seen], `not run: ${failed} failed`);
    if (result.code !== 0) return fail(BOOTSTRAP_STEPS.find((s) => !seen.includes(s))!, new EngineError(`host ${name}: the bootstrap script ended: ${failure(result)}`));
  }

  // 6. /etc/hosts: every host's api address and names; only with every address known, since the
  // block is replaced whole and a guessed or dropped line would mislead the others.
  const names = bootstrapHosts(deployment);
  const addr = addressing(deployment, facts);
  const block = hostsBlock(names.map((n) => ({ address: addr.api(n), names: hostNames(addr.hostname(n), n) })));
  let blocked: { why: string; hint?: string } | undefined;
  let inputError: InputError | undefined;
  const unknown = unknownHostsIn(block);
  if (unknown.length) {
    blocked = { why: `the address of ${unknown.join(', ')} is not known (unreachable, or its facts could not be read)`, hint: 'run bootstrap-servers again once every host answers' };
  } else {
    try {
      addr.check(block);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      inputError = err;
      blocked = { why: err.message, ...(err.hint ? { hint: err.hint } : {}) };
    }
  }
  await Promise.all(
    o.selected.map((name) =>
      limit(async () => {
        if (unreachable.has(name)) return;
        const t0 = Date.now();
        if (failedAt.has(name)) {
          // Its hosts step was skipped with the rest.
        } else if (blocked) record(name, 'hosts', 'skipped', `/etc/hosts not written: ${blocked.why}`, 0, [], blocked.hint);
        else await writeHosts(name, o.targets.get(name)!, block, t0);
        durations.set(name, Date.now() - started.get(name)!);
      }),
    ),
  );

  async function writeHosts(name: string, target: BootstrapTarget, text: string, t0: number): Promise<void> {
    try {
      const read = await target.run(['read']);
      if (read.code !== 0) throw new EngineError(`host ${name}: reading /etc/hosts failed: ${failure(read)}`);
      let content: string;
      try {
        content = replaceHostsBlock(parseHostState(read.stdout.toString('utf8')).hosts, text);
      } catch (err) {
        throw new EngineError(`host ${name}: /etc/hosts: ${(err as Error).message}`, 'remove the stray marker line by hand');
      }
      const r = await target.run(['hosts', content]);
      const step = r.stdout.toString('utf8').split('\n').map(parseScriptLine).find((l) => l?.kind === 'step');
      if (r.code !== 0 || step?.kind !== 'step') throw new EngineError(`host ${name}: writing /etc/hosts failed: ${failure(r)}`);
      record(name, 'hosts', step.status, step.detail, Date.now() - t0);
    } catch (err) {
      const e = err instanceof EngineError ? err : new EngineError(`host ${name}: ${(err as Error).message}`);
      record(name, 'hosts', 'failed', e.message, Date.now() - t0, [], e.hint);
    }
  }

  return { results, unreachable, durations, ...(inputError ? { inputError } : {}) };
}

function failure(r: RunResult): string {
  return r.stderr.trim().split('\n').pop() || (r.code === -1 ? 'the command ended without an exit status (killed, or the channel closed)' : `exit status ${r.code}`);
}
