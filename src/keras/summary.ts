/**
 * `model.summary()` text as Keras 2 prints it (keras/utils/layer_utils.py `print_summary`):
 * columns at 45/85/100 % of 65 characters for Sequential models, 33/55/67/100 % of 98 with a
 * "Connected to" column for functional ones; long cells wrap onto following lines the way
 * Keras' `print_row` does (breaking after "),", "],", "'," when possible); a blank row between
 * layers; InputLayer shapes shown as a list (`[(None, 3)]`); totals with thousands separators.
 */
import type { Model } from './model.js';

/** Keras' print_row (nested_level 0): every cell wraps within its column. */
function printRow(fields: string[], positions: number[]): string[] {
  const left = fields.slice();
  const lines: string[] = [];
  while (left.some((f) => f.length > 0)) {
    let line = '';
    for (let col = 0; col < left.length; col++) {
      const start = col > 0 ? positions[col - 1]! : 0;
      const end = positions[col]!;
      const last = col === positions.length - 1;
      const space = last ? 0 : 2;
      let cutoff = end - start - space - (last ? 0 : 1);
      let fit = left[col]!.slice(0, cutoff);
      const breaks = ['),', '},', '],', "',"].map((b) => (fit.indexOf(b) >= 0 ? fit.indexOf(b) + b.length : -1)).filter((c) => c >= 0);
      if (breaks.length) {
        cutoff = Math.min(...breaks);
        fit = fit.slice(0, cutoff);
      }
      if (col === 0) line += ' ';
      line += fit + ' '.repeat(space);
      left[col] = left[col]!.slice(cutoff);
      line += ' '.repeat(Math.max(0, end - line.length));
    }
    lines.push(line);
  }
  return lines;
}

const shapeText = (s: (number | null)[]): string => `(${s.map((d) => (d === null ? 'None' : String(d))).join(', ')}${s.length === 1 ? ',' : ''})`;

/** The summary text, also handed to `printFn` (default console.log) as one string. */
export function formatSummary(model: Model, opts: { lineLength?: number; printFn?: (line: string) => void }): string {
  const rows = model.layerSummaries();
  const sequential = model.toJSON().class_name === 'Sequential';
  const width = opts.lineLength ?? (sequential ? 65 : 98);
  const positions = (sequential ? [0.45, 0.85, 1] : [0.33, 0.55, 0.67, 1]).map((p) => Math.floor(width * p));
  const header = sequential ? ['Layer (type)', 'Output Shape', 'Param #'] : ['Layer (type)', 'Output Shape', 'Param #', 'Connected to'];
  const fmt = (n: number): string => n.toLocaleString('en-US');
  const lines: string[] = [`Model: "${model.name}"`, '_'.repeat(width), ...printRow(header, positions), '='.repeat(width)];
  rows.forEach((r, i) => {
    if (i > 0) lines.push(' '.repeat(width));
    const shape = r.className === 'InputLayer' ? `[${shapeText(r.outputShape)}]` : shapeText(r.outputShape);
    const fields = [`${r.name} (${r.className})`, shape, String(r.params)];
    if (!sequential) fields.push(r.inbound.length ? `[${r.inbound.map((n) => `'${n}'`).join(', ')}]` : '[]');
    lines.push(...printRow(fields, positions));
  });
  const total = rows.reduce((a, r) => a + r.params, 0);
  const trainable = rows.reduce((a, r) => a + r.trainableParams, 0);
  lines.push('='.repeat(width), `Total params: ${fmt(total)}`, `Trainable params: ${fmt(trainable)}`, `Non-trainable params: ${fmt(total - trainable)}`, '_'.repeat(width));
  const text = lines.join('\n');
  (opts.printFn ?? ((l: string) => console.log(l)))(text);
  return text;
}
