// A client of the cloud through its VIP, as the HA suite and bench/ha.ts measure availability: every
// PERIOD ms it starts a round that issues a token, then lists images and servers with it, and
// appends one JSON line per round to OUT: {t, ok, ms, error?}. Rounds overlap (a round takes longer
// than the period on a loaded machine), at most MAX_IN_FLIGHT at once; a round that fails or takes
// longer than 20 s is a failure.
// Runs as its own process (the tests block their event loop in spawnSync):
//   node --import tsx test/e2e/vip-probe.ts OUT PERIOD_MS < credentials.json
// credentials.json: {auth_url, username, password, project_name, compute_url, image_url}.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

interface Credentials {
  auth_url: string;
  username: string;
  password: string;
  project_name: string;
  compute_url: string;
  image_url: string;
}

export interface ProbeRound {
  /** Start of the round, ms since the epoch. */
  t: number;
  ok: boolean;
  ms: number;
  error?: string;
}

async function round(c: Credentials): Promise<void> {
  const signal = AbortSignal.timeout(20_000);
  // Each request's failure names it: an outage's cause starts with which API stopped answering.
  const named = <T>(what: string, p: Promise<T>): Promise<T> => p.catch((err: Error) => Promise.reject(new Error(`${what}: ${err.message}`)));
  const auth = await named('token', fetch(`${c.auth_url}/v3/auth/tokens`, {
    method: 'POST',
    signal,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: 'Default' }, password: c.password } } },
        scope: { project: { name: c.project_name, domain: { name: 'Default' } } },
      },
    }),
  }));
  await named('token', auth.arrayBuffer());
  const token = auth.headers.get('x-subject-token');
  if (auth.status !== 201 || !token) throw new Error(`token: HTTP ${auth.status}`);
  for (const [what, url] of [['images', `${c.image_url}/v2/images`], ['servers', `${c.compute_url}/servers`]] as const) {
    const r = await named(what, fetch(url, { signal, headers: { 'x-auth-token': token } }));
    await named(what, r.arrayBuffer());
    if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status}`);
  }
}

/** The longest run of consecutive failed rounds: its length in ms (first failure to next success) and count. */
export function longestOutage(rounds: readonly ProbeRound[]): { ms: number; failures: number } {
  let best = { ms: 0, failures: 0 };
  let start: number | undefined;
  let count = 0;
  for (const r of rounds) {
    if (!r.ok) {
      start ??= r.t;
      count++;
      continue;
    }
    if (start !== undefined && r.t - start > best.ms) best = { ms: r.t - start, failures: count };
    start = undefined;
    count = 0;
  }
  const last = rounds.at(-1);
  if (start !== undefined && last && last.t + last.ms - start > best.ms) best = { ms: last.t + last.ms - start, failures: count };
  return best;
}

/** Every run of consecutive failed rounds: when it began and ended (the next success), how many, which errors. */
export function outages(rounds: readonly ProbeRound[]): { start: number; end: number; failures: number; errors: string[] }[] {
  const found: { start: number; end: number; failures: number; errors: string[] }[] = [];
  let open: { start: number; end: number; failures: number; errors: string[] } | undefined;
  for (const r of rounds) {
    if (!r.ok) {
      open ??= { start: r.t, end: r.t + r.ms, failures: 0, errors: [] };
      open.failures++;
      if (!open.errors.includes(r.error ?? '?')) open.errors.push(r.error ?? '?');
      continue;
    }
    if (open) found.push({ ...open, end: r.t });
    open = undefined;
  }
  if (open) found.push(open);
  return found;
}

/**
 * Starts the probe as its own process against a deployment's VIP, with the admin credentials of its
 * passwords.yml (given on stdin, never in arguments), writing rounds to `log`.
 */
export function startProbe(configDir: string, vip: string, log: string, periodMs = 200): ChildProcess {
  const passwords = parse(readFileSync(join(configDir, 'passwords.yml'), 'utf8')) as Record<string, string>;
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'test/e2e/vip-probe.ts'), log, String(periodMs)], { stdio: ['pipe', 'ignore', 'inherit'], cwd: repo });
  child.stdin.end(
    JSON.stringify({
      auth_url: `http://${vip}:5000`,
      username: 'admin',
      password: passwords.keystone_admin_password,
      project_name: 'admin',
      compute_url: `http://${vip}:8774/v2.1`,
      image_url: `http://${vip}:9292`,
    }),
  );
  return child;
}

/** The rounds from `from` on: how many, how many failed, the longest outage, the distinct errors. */
export function summary(log: string, from: number, to = Infinity): { rounds: number; failed: number; outage: { ms: number; failures: number }; errors: string[] } {
  const rounds = readRounds(log, from, to);
  const failed = rounds.filter((r) => !r.ok);
  return { rounds: rounds.length, failed: failed.length, outage: longestOutage(rounds), errors: [...new Set(failed.map((r) => r.error ?? '?'))].slice(0, 5) };
}

export function readRounds(path: string, from = 0, to = Infinity): ProbeRound[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ProbeRound)
    .filter((r) => r.t >= from && r.t <= to)
    // Written as rounds end; read in the order they started.
    .sort((a, b) => a.t - b.t);
}

async function main(): Promise<void> {
  const [out, period = '200'] = process.argv.slice(2);
  if (!out) throw new Error('usage: vip-probe.ts OUT [PERIOD_MS] < credentials.json');
  const c = JSON.parse(readFileSync(0, 'utf8')) as Credentials;
  let inFlight = 0;
  const one = async (): Promise<void> => {
    const t = Date.now();
    let error: string | undefined;
    try {
      await round(c);
    } catch (err) {
      const e = err as Error & { cause?: Error };
      error = e.cause ? `${e.message}: ${e.cause.message}` : e.message;
    }
    appendFileSync(out, JSON.stringify({ t, ok: error === undefined, ms: Date.now() - t, ...(error ? { error } : {}) }) + '\n');
  };
  for (;;) {
    if (inFlight < MAX_IN_FLIGHT) {
      inFlight++;
      void one().finally(() => inFlight--);
    }
    await new Promise((r) => setTimeout(r, Number(period)));
  }
}

const MAX_IN_FLIGHT = 4;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) await main();
