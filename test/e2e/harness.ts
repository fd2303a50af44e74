// Shared by end-to-end tests: they need a real Docker Engine. In CI a missing engine is a failure;
// elsewhere the suite says clearly that it did not run.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export function dockerAvailable(): boolean {
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  if (process.env.CI) throw new Error('e2e tests need Docker Engine and CI must have one: run scripts/host-setup.sh');
  console.error('# e2e: no Docker Engine answers; these tests are skipped (scripts/host-setup.sh installs one)');
  return false;
}

export function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input,
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Runs and returns stdout; throws with stderr when the command fails. */
export function ok(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The berth CLI from this checkout, run as an operator would run it. */
export function berth(args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return sh(`${repoRoot}/berth`, args, { env: { ...process.env, ...env } });
}
