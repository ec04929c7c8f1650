/**
 * Fault injection for the crash-resume soak (RELIABILITY.md, `npm run soak`). With
 * SIMCLR_FAILPOINT=name:N in the environment, this process kills itself with SIGKILL the Nth
 * time it passes the point `name` — a crash at a chosen moment, as a power cut or an OOM
 * killer would cause it. Without the variable every point is a map lookup that never fires.
 * The points:
 *   step                in a training step, after backward, before the optimizer step
 *   checkpoint          while a checkpoint's files are written (after the first group file)
 *   checkpoint-latest   after a checkpoint folder is renamed into place, before `latest` moves
 *   metrics             half-way through appending a metrics line (leaves a torn line)
 *   evaluation          in a kNN evaluation, between the bank's and the queries' features
 */
export type FailpointName = "step" | "checkpoint" | "checkpoint-latest" | "metrics" | "evaluation";

const NAMES: readonly FailpointName[] = ["step", "checkpoint", "checkpoint-latest", "metrics", "evaluation"];

function parseSpec(text: string | undefined): { name: FailpointName; at: number } | null {
  if (text === undefined || text === "") return null;
  const m = /^([a-z-]+):(\d+)$/.exec(text);
  if (m === null || !NAMES.includes(m[1] as FailpointName) || Number(m[2]) < 1) {
    // a typo here would make a soak pass without testing anything: refuse it loudly
    process.stderr.write(`SIMCLR_FAILPOINT='${text}' is not name:N with N >= 1 and name one of ${NAMES.join(", ")}\n`);
    process.exit(2);
  }
  return { name: m[1] as FailpointName, at: Number(m[2]) };
}

const spec = parseSpec(process.env.SIMCLR_FAILPOINT);
let hits = 0;

/**
 * Marks the point `name`. When SIMCLR_FAILPOINT selects it and this is its Nth pass,
 * `beforeDeath` runs (to leave partial work, like half a line) and the process is killed.
 */
export function failpoint(name: FailpointName, beforeDeath?: () => void): void {
  if (spec === null || spec.name !== name || ++hits < spec.at) return;
  beforeDeath?.();
  process.kill(process.pid, "SIGKILL");
  // SIGKILL to oneself is delivered before kill(2) returns; this only guards against a platform where it is not
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}
