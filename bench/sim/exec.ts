// Commands run by `docker exec` in a simulated container. Nothing runs: a table of handlers acts
// on the container's files (bind mounts and volumes included) and gives output and an exit code.
// A key of the table is a program's base name (`rm`), or the exact text of a `sh -c` script (for
// fixed scripts such as berth's, with their positional arguments after it in argv and their stdin
// given), or a RegExp a `sh -c` script's text matches (for scripts whose text varies with what
// they act on, such as the haproxy admin socket's: haproxy.ts), tried in the table's order after
// the exact texts. Other `sh -c` scripts made of simple commands joined by `&&` or `;`, with `$0`..`$9`,
// are split and run command by command; anything more (pipes, redirections, other expansions)
// and any command the table lacks exit 0 with no output.
import { posix } from 'node:path';
import { ReadOnlyError, type ContainerFs } from './memfs.js';

export interface ExecContext {
  argv: readonly string[];
  /** What the client sent on stdin (an exec with AttachStdin, read to its end); empty otherwise. */
  stdin: Buffer;
  fs: ContainerFs;
  /** What `hostname` prints: the container's, or its engine's with host networking. */
  hostname: string;
  /** With host networking: the engine's address, its host's only interface (eth0) besides lo. */
  address?: string;
  /** The exec's working directory (Docker's default `/`). */
  cwd: string;
  /**
   * The container's main process (its pid, when it started, in ms): what a process keeps only in
   * memory (haproxy's runtime state) is gone when it is another one.
   */
  process?: { pid: number; started: number };
}

export interface ExecResult {
  code: number;
  stdout?: string | Buffer;
  stderr?: string;
}

export type ExecHandler = (ctx: ExecContext) => ExecResult;

/** The command table: program base names, exact `sh -c` script texts, and `sh -c` script patterns. */
export type ExecTable = ReadonlyMap<string | RegExp, ExecHandler>;

/** Flags before the operands (`-rf`, `-p`), stopping at `--` or the first operand. */
function parseFlags(args: readonly string[]): { flags: Set<string>; operands: string[] } {
  const flags = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (const f of a.slice(1)) flags.add(f);
  }
  return { flags, operands: args.slice(i) };
}

function at(ctx: ExecContext, path: string): string {
  return posix.resolve(ctx.cwd, path);
}

const rm: ExecHandler = (ctx) => {
  const { flags, operands } = parseFlags(ctx.argv.slice(1));
  const force = flags.has('f');
  const recursive = flags.has('r') || flags.has('R');
  const errors: string[] = [];
  for (const operand of operands) {
    const path = at(ctx, operand);
    const node = ctx.fs.stat(path);
    if (!node) {
      if (!force) errors.push(`rm: cannot remove '${operand}': No such file or directory`);
      continue;
    }
    if (node.type === 'dir' && !recursive) {
      errors.push(`rm: cannot remove '${operand}': Is a directory`);
      continue;
    }
    try {
      ctx.fs.remove(path);
    } catch (err) {
      if (!(err instanceof ReadOnlyError)) throw err;
      errors.push(`rm: cannot remove '${operand}': Read-only file system`);
    }
  }
  if (!operands.length && !force) errors.push('rm: missing operand');
  return errors.length ? { code: 1, stderr: errors.map((e) => `${e}\n`).join('') } : { code: 0 };
};

const mkdir: ExecHandler = (ctx) => {
  const { flags, operands } = parseFlags(ctx.argv.slice(1));
  const errors: string[] = [];
  for (const operand of operands) {
    const path = at(ctx, operand);
    const node = ctx.fs.stat(path);
    if (node) {
      if (!flags.has('p') || node.type !== 'dir') errors.push(`mkdir: cannot create directory '${operand}': File exists`);
      continue;
    }
    if (!flags.has('p') && ctx.fs.stat(posix.dirname(path))?.type !== 'dir') {
      errors.push(`mkdir: cannot create directory '${operand}': No such file or directory`);
      continue;
    }
    try {
      ctx.fs.mkdirp(path);
    } catch (err) {
      if (!(err instanceof ReadOnlyError)) throw err;
      errors.push(`mkdir: cannot create directory '${operand}': Read-only file system`);
    }
  }
  return errors.length ? { code: 1, stderr: errors.map((e) => `${e}\n`).join('') } : { code: 0 };
};

const cat: ExecHandler = (ctx) => {
  const out: Buffer[] = [];
  const errors: string[] = [];
  for (const operand of ctx.argv.slice(1).filter((a) => a !== '--')) {
    const node = ctx.fs.stat(at(ctx, operand));
    if (!node) errors.push(`cat: ${operand}: No such file or directory`);
    else if (node.type === 'dir') errors.push(`cat: ${operand}: Is a directory`);
    else out.push(node.content);
  }
  return { code: errors.length ? 1 : 0, stdout: Buffer.concat(out), stderr: errors.map((e) => `${e}\n`).join('') };
};

const test: ExecHandler = (ctx) => {
  const args = ctx.argv.slice(1);
  if (args.length !== 2) return { code: 2, stderr: `sim: test ${args.join(' ')}: only -e, -d and -f PATH are simulated\n` };
  const node = ctx.fs.stat(at(ctx, args[1]!));
  switch (args[0]) {
    case '-e':
      return { code: node ? 0 : 1 };
    case '-d':
      return { code: node?.type === 'dir' ? 0 : 1 };
    case '-f':
      return { code: node?.type === 'file' ? 0 : 1 };
    default:
      return { code: 2, stderr: `sim: test ${args[0]}: only -e, -d and -f are simulated\n` };
  }
};

const echo: ExecHandler = (ctx) => {
  const noNewline = ctx.argv[1] === '-n';
  const words = ctx.argv.slice(noNewline ? 2 : 1);
  return { code: 0, stdout: words.join(' ') + (noNewline ? '' : '\n') };
};

/** The simulated commands, by program name (a path's base name: /bin/rm is rm). Copy and extend. */
export const defaultExecHandlers: ReadonlyMap<string, ExecHandler> = new Map<string, ExecHandler>([
  ['rm', rm],
  ['mkdir', mkdir],
  ['cat', cat],
  ['true', () => ({ code: 0 })],
  ['false', () => ({ code: 1 })],
  ['hostname', (ctx) => ({ code: 0, stdout: `${ctx.hostname}\n` })],
  ['test', test],
  ['echo', echo],
]);

const SHELLS = new Set(['sh', 'bash', 'dash']);
const POSITIONAL = /\$(?:(\d)|\{(\d)\})/g;

/**
 * Splits a simple shell script into commands joined by `&&` or `;`, with quotes and positional
 * parameters (`$1`, `"${2}"`; `positional[0]` is `$0`); undefined when it uses anything else (then
 * it is run as an unknown command: exit 0).
 */
export function splitScript(script: string, positional: readonly string[] = []): { argv: string[]; then: '&&' | ';' }[] | undefined {
  const commands: { argv: string[]; then: '&&' | ';' }[] = [];
  let argv: string[] = [];
  let word: string | undefined;
  const endWord = (): void => {
    if (word !== undefined) argv.push(word);
    word = undefined;
  };
  const endCommand = (then: '&&' | ';'): boolean => {
    endWord();
    if (!argv.length) return false;
    commands.push({ argv, then });
    argv = [];
    return true;
  };
  // Inside double quotes: $N and ${N} only; any other expansion or escape is beyond this splitter.
  const expand = (text: string): string | undefined => {
    if (/[`\\]/.test(text) || text.replace(POSITIONAL, '').includes('$')) return undefined;
    return text.replace(POSITIONAL, (_, a?: string, b?: string) => positional[Number(a ?? b)] ?? '');
  };
  for (let i = 0; i < script.length; i++) {
    const ch = script[i]!;
    if (ch === "'" || ch === '"') {
      const close = script.indexOf(ch, i + 1);
      if (close < 0) return undefined;
      const inner = ch === '"' ? expand(script.slice(i + 1, close)) : script.slice(i + 1, close);
      if (inner === undefined) return undefined;
      word = (word ?? '') + inner;
      i = close;
    } else if (ch === '$') {
      const param = /^\$(?:(\d)|\{(\d)\})/.exec(script.slice(i));
      if (!param) return undefined;
      // Unquoted and empty, it is no word at all, as in sh.
      const value = positional[Number(param[1] ?? param[2])] ?? '';
      if (value || word !== undefined) word = (word ?? '') + value;
      i += param[0].length - 1;
    } else if (ch === ' ' || ch === '\t' || ch === '\n') {
      endWord();
    } else if (ch === ';') {
      if (!endCommand(';')) return undefined;
    } else if (ch === '&' && script[i + 1] === '&') {
      if (!endCommand('&&')) return undefined;
      i++;
    } else if ('|&<>$`\\(){}*?[]~#'.includes(ch)) {
      return undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  endWord();
  if (argv.length) commands.push({ argv, then: ';' });
  return commands.length ? commands : undefined;
}

/**
 * Runs argv through the table: a `sh -c` script by its text if the table has it, else by the first
 * pattern it matches, else command by command; a program by its base name.
 */
export function runCommand(ctx: ExecContext, handlers: ExecTable): ExecResult {
  const [program, flag, script] = ctx.argv;
  if (program !== undefined && SHELLS.has(posix.basename(program)) && flag === '-c' && script !== undefined) {
    const fixed = handlers.get(script);
    if (fixed) return fixed(ctx);
    for (const [key, handler] of handlers) if (key instanceof RegExp && key.test(script)) return handler(ctx);
    const commands = splitScript(script, ctx.argv.slice(3));
    if (!commands) return { code: 0 };
    const stdout: Buffer[] = [];
    let stderr = '';
    let code = 0;
    // `a && b; c`: a failed command skips what it is joined to by &&, up to the next `;`.
    let skip = false;
    for (const command of commands) {
      if (!skip) {
        const r = runCommand({ ...ctx, argv: command.argv }, handlers);
        if (r.stdout) stdout.push(Buffer.from(r.stdout));
        stderr += r.stderr ?? '';
        code = r.code;
      }
      skip = command.then === '&&' && code !== 0;
    }
    return { code, stdout: Buffer.concat(stdout), stderr };
  }
  const handler = program === undefined ? undefined : handlers.get(posix.basename(program));
  return handler ? handler(ctx) : { code: 0 };
}
