/**
 * Progress of a long run: a one-line bar redrawn in place on a terminal, plain periodic
 * lines otherwise (logs, CI).
 */

export interface ProgressSnapshot {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  accuracy: number;
  lr: number;
  viewsPerSecond: number;
  /** Seconds left for the whole run. */
  etaSeconds: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

export function describe(p: ProgressSnapshot): string {
  return (
    `epoch ${p.epoch + 1}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} ` +
    `loss ${p.loss.toFixed(4)} acc ${p.accuracy.toFixed(3)} lr ${p.lr.toPrecision(3)} ` +
    `${p.viewsPerSecond.toFixed(0)} views/s ETA ${formatDuration(p.etaSeconds)}`
  );
}

export class ProgressReporter {
  readonly #tty: boolean;
  readonly #every: number;
  #lastLength = 0;

  /** `stream` is written to; plain lines every `every` steps when it is not a terminal. */
  constructor(
    readonly stream: NodeJS.WriteStream = process.stderr,
    every = 50,
  ) {
    this.#tty = stream.isTTY === true;
    this.#every = every;
  }

  update(p: ProgressSnapshot): void {
    if (this.#tty) {
      const width = 20;
      const filled = Math.round((p.step / p.stepsPerEpoch) * width);
      const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${describe(p)}`;
      this.stream.write(`\r${line}${" ".repeat(Math.max(0, this.#lastLength - line.length))}`);
      this.#lastLength = line.length;
    } else if (p.step % this.#every === 0 || p.step === p.stepsPerEpoch) {
      this.stream.write(`${describe(p)}\n`);
    }
  }

  /** Prints a message on its own line (ending the bar's line first). */
  message(text: string): void {
    if (this.#tty && this.#lastLength > 0) {
      this.stream.write("\n");
      this.#lastLength = 0;
    }
    this.stream.write(`${text}\n`);
  }
}
