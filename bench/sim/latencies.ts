// How long each simulated Docker Engine call takes: a median per kind of call, measured on this
// machine's real engine by measure-latencies.ts and written to latencies.json. The fleet sleeps
// that long (times a fault's slow factor, times an optional seeded jitter) before it answers.
import { readFileSync } from 'node:fs';

/**
 * The kinds of call, each timed on its own because they differ by orders of magnitude (a ping
 * against a container start). Every HTTP route of the simulator names one of these, or none.
 */
export const LATENCY_KINDS = [
  'ping',
  'version',
  'info',
  /** GET /containers/json, /images/json, /volumes, /networks. */
  'list',
  /** GET of one container, image, volume, network or exec. */
  'inspect',
  'create',
  'start',
  'stop',
  'restart',
  'kill',
  'remove',
  'exec-create',
  /** POST /exec/{id}/start of a trivial command, until its stream ends. */
  'exec',
  'archive-put',
  'archive-get',
  'logs',
  /** Volume create or remove. */
  'volume',
  /** Network create or remove. */
  'network',
  'tag',
  'image-remove',
  /** A pull that downloads the whole image (scaled down by the share of layers already there). */
  'pull',
  /** A pull of an image already present: the registry is still asked for its manifest. */
  'pull-current',
  /** A one-shot container's run, from its start returning to its exit. */
  'job-run',
  /** From a start to the healthcheck's first pass. */
  'healthy-after',
] as const;

export type LatencyKind = (typeof LATENCY_KINDS)[number];

/** Milliseconds per kind: the figure the simulator sleeps. */
export type Latencies = Record<LatencyKind, number>;

/** One measured figure in latencies.json. */
export interface LatencyFigure {
  medianMs: number;
  p90Ms: number;
  samples: number;
  /** What exactly was timed, in words. */
  how: string;
}

/** latencies.json as measure-latencies.ts writes it. */
export interface LatencyFile {
  measuredAt: string;
  engine: { version: string; apiVersion: string; os: string; kernel: string; driver: string; ncpu: number; memTotal: number };
  repetitions: number;
  method: string;
  /** A kind is null when it could not be measured (e.g. no image to pull was named). */
  kinds: Partial<Record<LatencyKind, LatencyFigure | null>>;
}

export function zeroLatencies(): Latencies {
  return Object.fromEntries(LATENCY_KINDS.map((k) => [k, 0])) as Latencies;
}

/** The medians of a latencies.json; the kinds it lacks are 0 and listed, so the caller can say so. */
export function readLatencyFile(path: string): { latencies: Latencies; missing: LatencyKind[]; file: LatencyFile } {
  const file = JSON.parse(readFileSync(path, 'utf8')) as LatencyFile;
  const latencies = zeroLatencies();
  const missing: LatencyKind[] = [];
  for (const kind of LATENCY_KINDS) {
    const figure = file.kinds?.[kind];
    if (figure && Number.isFinite(figure.medianMs)) latencies[kind] = figure.medianMs;
    else missing.push(kind);
  }
  return { latencies, missing, file };
}

/**
 * Turns a kind into a sleep. Jitter is multiplicative and log-normal with median 1 (so the median
 * stays the measured one), drawn from a seeded generator so two runs sleep alike.
 */
export class LatencySampler {
  private state: number;

  constructor(
    private readonly latencies: Latencies,
    /** Sigma of the log-normal factor; 0 for none. */
    private readonly jitter = 0,
    seed = 1,
  ) {
    this.state = seed >>> 0 || 1;
  }

  ms(kind: LatencyKind, slowFactor = 1): number {
    const base = this.latencies[kind] * slowFactor;
    if (base <= 0 || this.jitter <= 0) return base;
    return base * Math.exp(this.jitter * this.normal());
  }

  /** mulberry32: small, seeded, good enough for jitter. */
  private uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Box-Muller. */
  private normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
