/**
 * Output plumbing for the CLI: injected stdout/stderr (so tests run commands in-process) and a
 * plain-text table formatter. Nothing here knows about models.
 */

/** Where a command writes. `main` defaults these to the process streams. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stderr is a terminal, so progress bars may redraw in place (absent: plain lines). */
  isTTY?: boolean;
}

/** Render rows as left-aligned columns (numbers right-aligned), with a header rule. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number'));
  const width = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((s, c) => (numeric[c] ? s.padStart(width[c]!) : s.padEnd(width[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), width.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n') + '\n';
}

/** Human-readable byte count (1,536 → "1.5 KiB"). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Compact number for summaries: 6 significant digits, exponent when needed. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-4 && a < 1e6 ? String(Number(x.toPrecision(6))) : x.toExponential(3);
}
