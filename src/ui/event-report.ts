// What every progress reporter of a run across hosts shares (deploy, pull, bootstrap-servers): the
// run's clock, one line per event or one JSON object per event, and the unreachable-host line.
import pc from 'picocolors';
import type { OutputFormat } from './build-report.js';
import { formatDuration } from './format.js';

export class EventReporter {
  protected readonly t0 = Date.now();

  constructor(
    protected readonly format: OutputFormat,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  /** Every line goes through here; the deploy reporter redacts secrets. */
  protected write(line: string): void {
    this.out.write(line + '\n');
  }

  /** In JSON mode writes the event with its time and returns true; the caller writes text otherwise. */
  protected json(ev: object): boolean {
    if (this.format !== 'json') return false;
    this.write(JSON.stringify({ ...ev, time: new Date().toISOString() }));
    return true;
  }

  /** The run's clock, dimmed: `[  1.2 s]`. */
  protected clock(): string {
    return pc.dim(`[${formatDuration(Date.now() - this.t0).padStart(8)}]`);
  }

  protected unreachable(clock: string, host: string, reason: string): void {
    this.write(`${clock} ${host}  ${pc.red('UNREACHABLE')} ${reason}`);
  }
}
