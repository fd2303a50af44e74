// Progress and the closing table of `berth build`: one line per event (colored on a terminal),
// or one JSON object per event with --format json.
import pc from 'picocolors';
import type { BuildEvent, ImageResult } from '../build/builder.js';
import { formatBytes, formatDuration, table } from './format.js';

export type OutputFormat = 'text' | 'json';

export class BuildReporter {
  private finished = 0;
  private readonly t0 = Date.now();

  constructor(
    private readonly format: OutputFormat,
    private readonly total: number,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  onEvent = (ev: BuildEvent): void => {
    if (this.format === 'json') {
      this.out.write(JSON.stringify({ ...ev, time: new Date().toISOString() }) + '\n');
      return;
    }
    const clock = pc.dim(`[${formatDuration(Date.now() - this.t0).padStart(8)}]`);
    if (ev.type === 'start') {
      this.out.write(`${clock} ${pc.cyan('start')}    ${ev.image}\n`);
      return;
    }
    this.finished++;
    const r = ev.result;
    const counter = pc.dim(`(${this.finished}/${this.total})`);
    const detail =
      r.status === 'failed'
        ? `${r.error ?? ''}${r.logFile ? ` (log: ${r.logFile})` : ''}`
        : r.status === 'skipped'
          ? (r.error ?? '')
          : `${formatDuration(r.durationMs)}, ${formatBytes(r.size)}`;
    this.out.write(`${clock} ${colorStatus(r.status).padEnd(9 + colorPad(r.status))} ${r.name} ${counter} ${detail}\n`);
  };

  summary(results: ImageResult[]): void {
    if (this.format === 'json') {
      this.out.write(JSON.stringify({ type: 'summary', results }) + '\n');
      return;
    }
    const rows = results.map((r) => [
      r.name,
      r.status,
      r.status === 'skipped' ? '-' : formatDuration(r.durationMs),
      formatBytes(r.size),
      formatBytes(r.addedBytes),
    ]);
    this.out.write('\n' + table(['IMAGE', 'STATUS', 'DURATION', 'SIZE', 'ADDED OVER PARENT'], rows, [2, 3, 4]) + '\n');
    const count = (s: string): number => results.filter((r) => r.status === s).length;
    this.out.write(
      `\n${count('built')} built, ${count('cached')} up to date, ${count('failed')} failed, ${count('skipped')} skipped in ${formatDuration(Date.now() - this.t0)}\n`,
    );
  }
}

function colorStatus(s: string): string {
  if (s === 'failed') return pc.red(s);
  if (s === 'skipped') return pc.yellow(s);
  if (s === 'built') return pc.green(s);
  return s;
}

/** padEnd counts escape codes; add them back so columns line up with and without color. */
function colorPad(s: string): number {
  return colorStatus(s).length - s.length;
}
