// Progress of bootstrap-servers: host keys, then one line per host and step as the script reports
// it (ok / changed with what changed, FAILED with the cause and what to do), then the recap: every
// host with ok / changed / failed / skipped, unreachable, and how long it took.
import pc from 'picocolors';
import type { BootstrapEvent } from '../deployment/bootstrap.js';
import type { StepResult } from '../reconcile/deploy.js';
import { EventReporter } from './event-report.js';
import { recapHosts } from './deploy-report.js';
import { formatDuration, table } from './format.js';

export class BootstrapReporter extends EventReporter {
  /** A host key line (ssh-keyscan's wording). */
  hostKey(host: string, status: string, line: string): void {
    if (this.format === 'json') this.write(JSON.stringify({ type: 'host-key', host, status, message: line }));
    else this.write(line);
  }

  onEvent = (ev: BootstrapEvent): void => {
    if (this.json(ev)) return;
    const clock = this.clock();
    if (ev.type === 'host-unreachable') {
      this.unreachable(clock, ev.host, ev.reason);
      return;
    }
    if (ev.type === 'note') {
      this.write(`${clock} ${ev.host}  ${pc.dim(`${ev.step}: ${ev.text}`)}`);
      return;
    }
    const r = ev.result;
    const status = r.status === 'failed' ? pc.red('FAILED') : r.status === 'skipped' ? pc.yellow('skipped') : r.status === 'changed' ? pc.green('changed') : 'ok';
    const pad = ' '.repeat(Math.max(0, 8 - stripped(status).length));
    const took = r.durationMs >= 1000 ? `  ${pc.dim(formatDuration(r.durationMs))}` : '';
    if (r.status === 'failed') {
      this.write(`${clock} ${r.host}  ${status}${pad} ${r.target}${took}\n    ${r.error}${ev.hint ? `\n    → ${ev.hint}` : ''}`);
      return;
    }
    this.write(`${clock} ${r.host}  ${status}${pad} ${r.target.padEnd(11)} ${pc.dim(r.reasons.join('; '))}${took}`);
  };

  recap(results: readonly StepResult[], hosts: readonly string[], unreachable: ReadonlyMap<string, string>, durations: ReadonlyMap<string, number>): void {
    const recap = recapHosts(results, hosts, new Map([...unreachable].filter(([h]) => hosts.includes(h))));
    if (this.format === 'json') {
      this.write(JSON.stringify({ type: 'recap', durationMs: Date.now() - this.t0, hosts: recap.map((h) => ({ ...h, durationMs: durations.get(h.host) })) }));
      return;
    }
    const rows = recap.map((h) => [h.host, String(h.ok), String(h.changed), String(h.failed), String(h.skipped), h.unreachable ? 'yes' : 'no', durations.has(h.host) ? formatDuration(durations.get(h.host)!) : '-']);
    this.write('\n' + table(['HOST', 'OK', 'CHANGED', 'FAILED', 'SKIPPED', 'UNREACHABLE', 'TIME'], rows, [1, 2, 3, 4, 6]));
    for (const h of recap) if (h.unreachable) this.write(pc.red(`unreachable ${h.host}: ${h.reason}`));
    const changed = recap.reduce((n, h) => n + h.changed, 0);
    this.write(`\n${changed ? `changed ${changed}` : 'changed 0: every host was already prepared'}; done in ${formatDuration(Date.now() - this.t0)}`);
  }
}

function stripped(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '');
}
