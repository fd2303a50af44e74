// The operator's files the running cloud was deployed from (globals.yml, passwords.yml, the
// inventory, build.yml, config/), copied into <configDir>/deployed after every deploy in which
// every step succeeded. `berth upgrade` plans the cloud as it runs from them (its preflight and
// restore point) while globals.yml already names the new release; a restore point keeps a copy.
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadBuildConfig } from '../config/build-config.js';
import { loadGlobals } from '../config/globals.js';

/** What a deployment is planned from, relative to its config directory (what loadContext reads). */
const INPUTS = ['globals.yml', 'passwords.yml', 'multinode', 'all-in-one', 'build.yml', 'config'];

export function deployedInputsDir(configDir: string): string {
  return join(configDir, 'deployed');
}

/** A copy of the inputs in `from` made at `to` (0700; passwords.yml keeps its 0600), replacing what was there. */
export function copyInputs(from: string, to: string): void {
  const tmp = `${to}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o700, recursive: true });
  for (const name of INPUTS) {
    if (existsSync(join(from, name))) cpSync(join(from, name), join(tmp, name), { recursive: true, preserveTimestamps: true });
  }
  // Swapped in whole: a run killed here leaves the old copy or the new one, never half of each.
  const old = `${to}.old`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(to)) renameSync(to, old);
  renameSync(tmp, to);
  rmSync(old, { recursive: true, force: true });
}

/** After a deploy in which every step succeeded: the cloud now runs what the files in `inputsDir` say. */
export function recordDeployedInputs(configDir: string, inputsDir: string): void {
  if (inputsDir !== deployedInputsDir(configDir)) copyInputs(inputsDir, deployedInputsDir(configDir));
}

export function hasDeployedInputs(configDir: string): boolean {
  return existsSync(join(deployedInputsDir(configDir), 'globals.yml'));
}

/** The release and image tag the cloud was last deployed with; undefined before the first deploy. */
export function deployedRelease(configDir: string): { release: string; tag: string } | undefined {
  if (!hasDeployedInputs(configDir)) return undefined;
  const dir = deployedInputsDir(configDir);
  return { release: loadGlobals(dir).globals.openstack_release, tag: loadBuildConfig(dir).tag };
}

/** destroy: the cloud they described is gone. */
export function forgetDeployedInputs(configDir: string): void {
  rmSync(deployedInputsDir(configDir), { recursive: true, force: true });
}
