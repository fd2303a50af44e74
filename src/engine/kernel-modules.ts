// Whether a host's kernel can run a module's feature: read from the host's files (engine side),
// decided by a pure function that tests can feed any machine's facts.
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

/** What a host says about one kernel module; null where a file is missing or unreadable. */
export interface ModuleFacts {
  module: string;
  kernelRelease: string;
  /** /sys/module/<module> exists: loaded, or built in with parameters. */
  loaded: boolean;
  /** /lib/modules/<release>/modules.builtin */
  builtinList: string | null;
  /** /lib/modules/<release>/modules.dep: what modprobe can load. */
  modulesDep: string | null;
  /** /proc/config.gz, decompressed: the kernel's build configuration. */
  kernelConfig: string | null;
}

export interface ModuleAvailability {
  available: boolean;
  /** One sentence: how it was decided. */
  why: string;
}

/**
 * Whether `module` is in the kernel or loadable by modprobe. modprobe itself is not asked
 * (`modprobe -n` needs the host's modprobe in our namespace): its inputs are read instead. Loaded
 * or listed as built in or in modules.dep → yes; otherwise no, since modprobe loads only what
 * modules.dep lists. The kernel configuration only explains a no, or a yes for a built-in module
 * without parameters (it has no /sys/module entry and modules.builtin may be missing).
 */
export function moduleAvailability(f: ModuleFacts): ModuleAvailability {
  const file = new RegExp(`(^|/)${f.module}\\.ko(\\.(xz|zst|gz))?:?(\\s|$)`, 'm');
  if (f.loaded) return { available: true, why: `module ${f.module} is loaded (/sys/module/${f.module})` };
  if (f.builtinList !== null && file.test(f.builtinList)) return { available: true, why: `module ${f.module} is built into kernel ${f.kernelRelease}` };
  if (f.modulesDep !== null && file.test(f.modulesDep)) return { available: true, why: `module ${f.module} can be loaded (listed in /lib/modules/${f.kernelRelease}/modules.dep)` };
  const option = `CONFIG_${f.module.toUpperCase()}`;
  const setting = f.kernelConfig === null ? undefined : new RegExp(`^${option}=([ym])$`, 'm').exec(f.kernelConfig)?.[1];
  if (setting === 'y') return { available: true, why: `kernel ${f.kernelRelease} is built with ${option}=y` };
  if (setting === 'm') {
    return { available: false, why: `kernel ${f.kernelRelease} builds ${f.module} as a module (${option}=m), but /lib/modules/${f.kernelRelease} does not have it` };
  }
  if (f.kernelConfig !== null) return { available: false, why: `kernel ${f.kernelRelease} is built without ${f.module} (${option} is not set in /proc/config.gz)` };
  if (f.modulesDep === null) return { available: false, why: `module ${f.module} is not loaded and kernel ${f.kernelRelease} has no /lib/modules/${f.kernelRelease} to load it from` };
  return { available: false, why: `module ${f.module} is neither loaded nor in /lib/modules/${f.kernelRelease}` };
}

/**
 * The same facts read on another host (by sh, $1 = the module): the release, then loaded or not,
 * then each file base64-encoded on one line, or `-` when missing. /proc/config.gz is binary.
 */
export const MODULE_FACTS_SCRIPT = `
r=$(uname -r)
echo "$r"
if [ -e "/sys/module/$1" ]; then echo loaded; else echo absent; fi
for f in "/lib/modules/$r/modules.builtin" "/lib/modules/$r/modules.dep" /proc/config.gz; do
  if [ -r "$f" ] && base64 -w0 < "$f" 2>/dev/null; then echo; else echo -; fi
done
`;

/** MODULE_FACTS_SCRIPT's output as facts. */
export function parseModuleFacts(module: string, output: string): ModuleFacts {
  const [kernelRelease = '', loaded, builtin, dep, config] = output.split('\n');
  const file = (line: string | undefined): Buffer | null => (line === undefined || line === '-' ? null : Buffer.from(line, 'base64'));
  let kernelConfig: string | null;
  try {
    const gz = file(config);
    kernelConfig = gz ? gunzipSync(gz).toString('utf8') : null;
  } catch {
    kernelConfig = null;
  }
  return {
    module,
    kernelRelease,
    loaded: loaded === 'loaded',
    builtinList: file(builtin)?.toString('utf8') ?? null,
    modulesDep: file(dep)?.toString('utf8') ?? null,
    kernelConfig,
  };
}

/** This machine's facts about a module (names are kernel module names: letters, digits, _). */
export function readModuleFacts(module: string, root = '/'): ModuleFacts {
  if (!/^[a-z0-9_]+$/.test(module)) throw new Error(`not a kernel module name: ${module}`);
  const kernelRelease = release();
  const read = (path: string): string | null => {
    try {
      return readFileSync(root + path, 'utf8');
    } catch {
      return null;
    }
  };
  let kernelConfig: string | null;
  try {
    kernelConfig = gunzipSync(readFileSync(`${root}proc/config.gz`)).toString('utf8');
  } catch {
    kernelConfig = null;
  }
  return {
    module,
    kernelRelease,
    loaded: existsSync(`${root}sys/module/${module}`),
    builtinList: read(`lib/modules/${kernelRelease}/modules.builtin`),
    modulesDep: read(`lib/modules/${kernelRelease}/modules.dep`),
    kernelConfig,
  };
}
