// Small formatting helpers shared by every command's output.
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  for (const unit of ['B', 'kB', 'MB', 'GB']) {
    if (v < 1000 || unit === 'GB') return `${sign}${unit === 'B' ? v : v.toFixed(1)} ${unit}`;
    v /= 1000;
  }
  return `${n} B`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  // Round to whole seconds first, so 179.6 s is 3 m 0 s, not 2 m 60 s.
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} m ${whole % 60} s`;
}

export function table(headers: string[], rows: string[][], alignRight: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (alignRight.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
