/**
 * How long work reports: a one-line bar redrawn in place on a terminal, plain lines otherwise
 * (logs, CI), and messages on lines of their own. Every job takes one `ProgressReporter`
 * (default: stderr); tests give it a sink that collects lines, or `ProgressReporter.silent()`.
 */

/** Where a reporter writes: process.stderr, or anything with `write` (isTTY: draw a bar in place). */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

export class ProgressReporter {
  readonly #tty: boolean;
  readonly #every: number;
  #lastLength = 0;

  /** `sink` is written to; plain lines every `every` steps when it is not a terminal. */
  constructor(
    readonly sink: TextSink = process.stderr,
    every = 50,
  ) {
    this.#tty = sink.isTTY === true;
    this.#every = every;
  }

  /** A reporter that writes nothing (the other ranks of a data-parallel job, tests). */
  static silent(): ProgressReporter {
    return new ProgressReporter({ write: () => undefined }, Number.MAX_SAFE_INTEGER);
  }

  /** A reporter that hands each line (without its newline) to `push`: tests, embedding programs. */
  static lines(push: (line: string) => void, every = 50): ProgressReporter {
    return new ProgressReporter({ write: (text: string) => text.split("\n").forEach((l) => l !== "" && push(l)) }, every);
  }

  /** Step `step` of `total` described by `text`: the bar on a terminal, else a line every `every` steps and at the last. */
  step(step: number, total: number, text: string): void {
    if (this.#tty) {
      const width = 20;
      const filled = Math.round((step / Math.max(1, total)) * width);
      const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}`;
      this.sink.write(`\r${line}${" ".repeat(Math.max(0, this.#lastLength - line.length))}`);
      this.#lastLength = line.length;
    } else if (step % this.#every === 0 || step === total) {
      this.sink.write(`${text}\n`);
    }
  }

  /** Prints a message on its own line (ending the bar's line first). */
  message(text: string): void {
    if (this.#tty && this.#lastLength > 0) {
      this.sink.write("\n");
      this.#lastLength = 0;
    }
    this.sink.write(`${text}\n`);
  }
}
