// Progress of a deploy: one line per step as it happens (per host and container), or JSON lines;
// then the recap: every host with ok / changed / failed / skipped and whether it was unreachable,
// and the slowest steps. Every string passes
// through redact() first, so no secret reaches the terminal even from a failing job's output.
import pc from 'picocolors';
import type { SecretRotation } from '../plan/types.js';
import type { ContextTimings } from '../deployment/context.js';
import type { DeployEvent, StepResult } from '../reconcile/deploy.js';
import { formatDuration, table } from './format.js';
import type { OutputFormat } from './build-report.js';
import { EventReporter } from './event-report.js';

/** Every secret (6 characters or more: shorter ones would mangle ordinary words) replaced by stars. */
export function redact(text: string, secrets: readonly string[]): string {
  let t = text;
  for (const s of secrets) if (s.length >= 6) t = t.split(s).join('********');
  return t;
}

export class DeployReporter extends EventReporter {
  constructor(
    format: OutputFormat,
    private readonly secrets: string[],
    out: NodeJS.WritableStream = process.stdout,
  ) {
    super(format, out);
  }

  redact(text: string): string {
    return redact(text, this.secrets);
  }

  protected override write(line: string): void {
    super.write(this.redact(line));
  }

  /** How long reading the hosts' state took (the deploy's host-state event). */
  private hostStateMs?: number;

  onEvent = (ev: DeployEvent): void => {
    if (ev.type === 'host-state') this.hostStateMs = ev.ms;
    if (this.json(ev) || ev.type === 'host-state') return;
    const clock = this.clock();
    if (ev.type === 'host-unreachable') {
      this.unreachable(clock, ev.host, ev.reason);
      return;
    }
    if (ev.type === 'step-start') {
      this.write(`${clock} ${ev.host}  ${pc.cyan(ev.action.padEnd(8))} ${ev.target}  ${pc.dim(ev.reasons.join('; '))}`);
      return;
    }
    const r = ev.result;
    if (r.status === 'ok' && r.action === 'none') {
      this.write(`${clock} ${r.host}  ${'ok'.padEnd(8)} ${r.target}`);
      return;
    }
    const status = r.status === 'failed' ? pc.red('FAILED') : r.status === 'skipped' ? pc.yellow('skipped') : pc.green(r.status);
    this.write(`${clock} ${r.host}  ${status.padEnd(8 + status.length - stripLen(status))} ${r.target}  ${formatDuration(r.durationMs)}${r.error ? `\n    ${r.error}` : ''}`);
  };

  /** Secrets whose value changed since the last deploy, and how each reaches the cloud (names only). */
  rotations(rotations: readonly SecretRotation[]): void {
    if (!rotations.length) return;
    if (this.format === 'json') {
      this.write(JSON.stringify({ type: 'rotations', secrets: rotations }));
      return;
    }
    this.write(`Secrets to rotate (${rotations.length}):`);
    for (const r of rotations) this.write(`  ${r.key}: ${r.refused ? pc.red(`cannot rotate: ${r.refused.why}`) : r.how}`);
  }

  /** The plan, for `berth plan` / `deploy --dry-run`: what would change and why. */
  printPlan(results: StepResult[], rotations: readonly SecretRotation[] = []): void {
    if (this.format === 'json') {
      this.write(JSON.stringify({ type: 'plan', changes: results.filter((r) => r.action !== 'none'), rotations }));
      return;
    }
    this.rotations(rotations);
    const changes = results.filter((r) => r.action !== 'none');
    if (changes.length === 0) {
      this.write('No changes: every host matches the configuration.');
      return;
    }
    const byHost = new Map<string, StepResult[]>();
    for (const r of changes) byHost.set(r.host, [...(byHost.get(r.host) ?? []), r]);
    for (const [host, list] of byHost) {
      this.write(pc.bold(`host ${host}:`));
      for (const r of list) this.write(`  ${r.action.padEnd(9)} ${r.target.padEnd(22)} ${r.reasons.join('; ')}`);
    }
    this.write(`\n${changes.length} change(s); nothing was done.`);
  }

  /**
   * The recap: every host of the run (`hosts`: those --limit selects), even one with nothing to do,
   * and each unreachable host with its reason.
   */
  recap(results: StepResult[], scope: { hosts?: readonly string[]; unreachable?: ReadonlyMap<string, string> } = {}, before?: ContextTimings): void {
    const recap = recapHosts(results, scope.hosts ?? [], scope.unreachable ?? new Map());
    const phases = this.phases(before);
    if (this.format === 'json') {
      this.write(JSON.stringify({ type: 'recap', durationMs: Date.now() - this.t0, hosts: recap, ...(phases ? { phases: Object.fromEntries(phases) } : {}) }));
      return;
    }
    const rows = recap.map((h) => [h.host, String(h.ok), String(h.changed), String(h.failed), String(h.skipped), h.unreachable ? 'yes' : 'no']);
    this.write('\n' + table(['HOST', 'OK', 'CHANGED', 'FAILED', 'SKIPPED', 'UNREACHABLE'], rows, [1, 2, 3, 4]));
    for (const h of recap) if (h.unreachable) this.write(pc.red(`unreachable ${h.host}: ${h.reason}`));
    const slow = results.filter((r) => r.durationMs > 0).sort((a, b) => b.durationMs - a.durationMs).slice(0, 5);
    if (slow.length) {
      this.write('\nslowest steps:');
      for (const r of slow) this.write(`  ${formatDuration(r.durationMs).padStart(9)}  ${r.host} ${r.action} ${r.target}`);
    }
    const skipped = results.filter((r) => r.status === 'skipped');
    for (const r of skipped) this.write(pc.yellow(`skipped ${r.target}: ${r.reasons.join('; ')}`));
    this.write(`\ndone in ${formatDuration(Date.now() - this.t0)}`);
    if (phases) this.write(pc.dim(`time: ${phases.map(([name, ms]) => `${name} ${formatDuration(ms)}`).join(' · ')}`));
  }

  /** Where the run's time went: before the deploy (the context's), reading the hosts, the changes. */
  private phases(before?: ContextTimings): [string, number][] | undefined {
    if (!before) return undefined;
    const deployMs = Date.now() - this.t0;
    return [
      ['start', before.startMs],
      ['config', before.configMs],
      ['facts', before.factsMs],
      ['plan', before.planMs],
      ['host state', this.hostStateMs ?? 0],
      ['changes', deployMs - (this.hostStateMs ?? 0)],
    ];
  }
}

export interface HostRecap {
  host: string;
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: boolean;
  reason?: string;
}

/** One line per host: those of the run in their order, then any other a result names. */
export function recapHosts(results: readonly StepResult[], hosts: readonly string[], unreachable: ReadonlyMap<string, string>): HostRecap[] {
  const names = [...new Set([...hosts, ...results.map((r) => r.host).filter((h) => h !== '-'), ...unreachable.keys()])];
  return names.map((host) => {
    const rs = results.filter((r) => r.host === host);
    const reason = unreachable.get(host);
    return {
      host,
      ok: rs.filter((r) => r.status === 'ok').length,
      changed: rs.filter((r) => r.status === 'changed').length,
      failed: rs.filter((r) => r.status === 'failed').length,
      skipped: rs.filter((r) => r.status === 'skipped').length,
      unreachable: reason !== undefined,
      ...(reason !== undefined ? { reason } : {}),
    };
  });
}

function stripLen(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}
