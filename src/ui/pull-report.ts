// Progress of berth pull, in the deploy reporter's style: one line per event with the run's clock
// and the host (or JSON lines), then a recap per host: pulled / already there / failed / unreachable.
import pc from 'picocolors';
import type { HostPullRecap, PullEvent } from '../deployment/pull.js';
import { EventReporter } from './event-report.js';
import { formatBytes, formatDuration, table } from './format.js';

/** "3/5 layers, 41.2 MB of 60.0 MB" (what is known so far). */
export function progressText(p: { layers: number; layersDone: number; bytesDone: number; bytesTotal: number }): string {
  const layers = p.layers ? `${p.layersDone}/${p.layers} layers, ` : '';
  return `${layers}${formatBytes(p.bytesDone)}${p.bytesTotal ? ` of ${formatBytes(p.bytesTotal)}` : ''}`;
}

export class PullReporter extends EventReporter {
  onEvent = (ev: PullEvent): void => {
    if (this.json(ev)) return;
    const clock = this.clock();
    switch (ev.type) {
      case 'host-unreachable':
        this.unreachable(clock, ev.host, ev.reason);
        return;
      case 'host-start':
        this.write(`${clock} ${ev.host}  ${ev.toFetch ? `${ev.toFetch} of ${ev.images} image(s) to fetch from ${ev.via}` : `all ${ev.images} image(s) already there`}`);
        return;
      case 'image-start':
        this.write(`${clock} ${ev.host}  ${pc.cyan('pulling')}  ${ev.ref}`);
        return;
      case 'image-progress':
        this.write(`${clock} ${ev.host}  ${pc.dim('…')}        ${ev.ref}  ${pc.dim(progressText(ev))}`);
        return;
      case 'image-end': {
        if (ev.outcome === 'present' && ev.durationMs < 50) return;
        const word = ev.outcome === 'failed' ? pc.red('FAILED ') : ev.outcome === 'pulled' ? pc.green('pulled ') : 'there  ';
        const size = ev.bytes ? `, ${formatBytes(ev.bytes)}` : '';
        this.write(`${clock} ${ev.host}  ${word}  ${ev.ref}  ${formatDuration(ev.durationMs)}${size}${ev.error ? `\n    ${ev.error}` : ''}`);
        return;
      }
    }
  };

  recap(hosts: readonly HostPullRecap[]): void {
    if (this.format === 'json') {
      this.write(JSON.stringify({ type: 'recap', durationMs: Date.now() - this.t0, hosts }));
      return;
    }
    const rows = hosts.map((h) => [h.host, String(h.pulled), String(h.present), String(h.failed), h.unreachable !== undefined ? 'yes' : 'no', formatBytes(h.bytes), formatDuration(h.durationMs)]);
    this.write('\n' + table(['HOST', 'PULLED', 'ALREADY THERE', 'FAILED', 'UNREACHABLE', 'BYTES', 'TIME'], rows, [1, 2, 3, 5, 6]));
    for (const h of hosts) {
      if (h.unreachable !== undefined) this.write(pc.red(`unreachable ${h.host}: ${h.unreachable}`));
      if (h.error !== undefined) this.write(pc.red(`failed ${h.host}: ${h.error}`));
    }
    this.write(`\ndone in ${formatDuration(Date.now() - this.t0)}`);
  }
}
