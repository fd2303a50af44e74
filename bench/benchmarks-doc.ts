// docs/benchmarks.md is written by the bench/ scripts, each owning one section between its markers
// (<!-- NAME:begin --> ... <!-- NAME:end -->): a rerun replaces its own section and keeps the rest.
import { readFileSync, writeFileSync } from 'node:fs';

const docPath = new URL('../docs/benchmarks.md', import.meta.url);
const preamble = "# Benchmarks\n\nFigures from one run of each bench/ script on this project's machine (2 cores, shared and noisy: compare figures from the same run).\n";

/** Puts `lines` between NAME's markers in docs/benchmarks.md (appended the first time) and prints them. */
export function writeSection(name: string, lines: string[]): void {
  const section = [`<!-- ${name}:begin -->`, ...lines, `<!-- ${name}:end -->`].join('\n');
  let doc: string;
  try {
    doc = readFileSync(docPath, 'utf8');
  } catch {
    doc = preamble;
  }
  const existing = new RegExp(`<!-- ${name}:begin -->[\\s\\S]*<!-- ${name}:end -->`);
  // A function, so `$` in the section is never read as a replacement pattern.
  doc = existing.test(doc) ? doc.replace(existing, () => section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(docPath, doc);
  console.log(section);
}
