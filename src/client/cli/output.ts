import type { Writable } from 'node:stream';

/** A stream the CLI writes to; `isTTY` and `columns` exist on terminals only. */
export type OutputStream = Writable & { isTTY?: boolean; columns?: number };

export type Colour = 'red' | 'green' | 'yellow' | 'blue' | 'cyan' | 'grey' | 'bold';

const CODES: Record<Colour, [number, number]> = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  cyan: [36, 39],
  grey: [90, 39],
  bold: [1, 22],
};

/**
 * Colour only on a terminal: piped output, CI logs and `--json` stay plain. NO_COLOR and
 * `--no-color` turn it off (https://no-color.org), FORCE_COLOR turns it on anywhere.
 */
export function colourWanted(stream: OutputStream, env: Record<string, string | undefined>, noColourFlag: boolean): boolean {
  if (noColourFlag || (env.NO_COLOR !== undefined && env.NO_COLOR !== '')) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export class Output {
  constructor(
    readonly stream: OutputStream,
    readonly colour: boolean,
  ) {}

  get isTTY(): boolean {
    return Boolean(this.stream.isTTY);
  }

  get columns(): number {
    return this.stream.columns ?? 120;
  }

  line(text = ''): void {
    this.stream.write(`${text}\n`);
  }

  write(text: string): void {
    this.stream.write(text);
  }

  paint(colour: Colour | undefined, text: string): string {
    if (!this.colour || !colour || text === '') return text;
    const [open, close] = CODES[colour];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  }
}

export interface Cell {
  text: string;
  colour?: Colour;
}
export type CellInput = string | Cell;

/**
 * Aligned columns for people. Widths are measured on the plain text and colour is applied after
 * padding, so escape codes never shift a column. The last column is not padded (no trailing blanks).
 */
export function renderTable(out: Pick<Output, 'paint'>, headers: string[], rows: CellInput[][]): string[] {
  const cells = rows.map((row) => row.map((c) => (typeof c === 'string' ? { text: c } : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]?.text.length ?? 0)));
  const pad = (text: string, i: number) => (i === headers.length - 1 ? text : text.padEnd(widths[i]!));
  const lines = [headers.map((h, i) => out.paint('bold', pad(h, i))).join('  ').trimEnd()];
  for (const row of cells) lines.push(row.map((cell, i) => out.paint(cell.colour, pad(cell.text, i))).join('  ').trimEnd());
  return lines;
}

/** Machine-readable output: one JSON document on stdout, nothing else there. */
export function printJson(out: Output, value: unknown): void {
  out.line(JSON.stringify(value, null, 2));
}

/** `2026-03-01 14:05:09` in local time: short enough for a table, unambiguous enough for a log. */
export function formatTime(date: Date | string | undefined): string {
  if (date === undefined) return '';
  const d = typeof date === 'string' ? new Date(date) : date;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
