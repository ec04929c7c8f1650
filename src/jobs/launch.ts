/**
 * The local launcher of `simclr pretrain --nproc N`: starts N worker processes of the same
 * command with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT), forwards SIGINT/SIGTERM to them, and when one fails ends the
 * others and reports which rank failed. With nnodes > 1 it starts this machine's share of a
 * multi-machine job (node nodeRank of nnodes, rank 0 on the machine at masterAddr).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { DistributedError } from "../errors.js";
import { ProgressReporter } from "../io/progress.js";

export interface LaunchOptions {
  /** Worker processes on this machine. */
  nproc: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  /** Default: a free port for a one-machine job, 29500 (torchrun's) for several machines. */
  masterPort?: number;
  /** The script each worker runs (the CLI) and its arguments. */
  script: string;
  args: string[];
  /** Seconds a worker gets to exit after SIGTERM before SIGKILL (default 10). */
  graceSeconds?: number;
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
}

/** The state letter of /proc/<pid>/stat (R, S, D, T for stopped, Z); null when it cannot be read (gone, not Linux). */
function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf-8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) || null;
  } catch {
    return null;
  }
}

/** A TCP port nothing listens on now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs the workers to the end; resolves with the exit code the launcher should exit with. */
export async function launchWorkers(options: LaunchOptions): Promise<number> {
  const progress = options.progress ?? new ProgressReporter();
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  const masterAddr = options.masterAddr ?? "127.0.0.1";
  const masterPort = options.masterPort ?? (nnodes === 1 ? await freePort() : 29500);
  const worldSize = options.nproc * nnodes;
  const grace = (options.graceSeconds ?? 10) * 1000;
  const children: { rank: number; child: ChildProcess; exited: boolean }[] = [];
  let failure: { rank: number; why: string; code: number } | null = null;
  let stopping = false;
  let stoppedWorkers = 0;

  const endOthers = () => {
    for (const c of children) if (!c.exited) c.child.kill("SIGTERM");
    setTimeout(() => {
      for (const c of children) if (!c.exited) c.child.kill("SIGKILL");
    }, grace).unref();
  };
  const forward = (signal: NodeJS.Signals) => () => {
    stopping = true;
    for (const c of children) if (!c.exited) c.child.kill(signal);
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);

  try {
    const exits = Array.from({ length: options.nproc }, (_, localRank) => {
      const rank = nodeRank * options.nproc + localRank;
      const env = {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(localRank),
        LOCAL_WORLD_SIZE: String(options.nproc),
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        // the worker watches this pid and stops when it is gone (a SIGKILLed launcher forwards nothing)
        SIMCLR_LAUNCHER_PID: String(process.pid),
      };
      // Rank 0 speaks to the terminal as one process would; the others' lines are prefixed.
      const child = spawn(process.execPath, [options.script, ...options.args], { env, stdio: rank === 0 ? "inherit" : ["ignore", "pipe", "pipe"] });
      const entry = { rank, child, exited: false };
      children.push(entry);
      for (const stream of [child.stdout, child.stderr]) {
        stream?.setEncoding("utf-8");
        let pending = "";
        stream?.on("data", (chunk: string) => {
          const lines = (pending + chunk).split(/\r?\n/);
          pending = lines.pop() ?? "";
          for (const line of lines) if (line.trim() !== "") process.stderr.write(`[rank ${rank}] ${line}\n`);
        });
        stream?.on("end", () => {
          if (pending.trim() !== "") process.stderr.write(`[rank ${rank}] ${pending}\n`);
          pending = "";
        });
      }
      return new Promise<void>((resolve) => {
        child.on("exit", (code, signal) => {
          entry.exited = true;
          // While stopping, a worker that saved and exited 130, or that the forwarded signal
          // ended before it could handle it, stopped as asked.
          const stopped = stopping && (code === 130 || signal === "SIGINT" || signal === "SIGTERM");
          if (stopped) stoppedWorkers++;
          const bad = !stopped && (signal !== null || code !== 0);
          if (bad && failure === null) {
            failure = { rank, why: signal !== null ? `was killed by ${signal}` : `exited with status ${code}`, code: code ?? 1 };
            progress.message(`simclr: rank ${rank} (pid ${child.pid}) ${failure.why}; ending the other workers`);
            // A rank that timed out waited for another: a stopped one (SIGSTOP, Ctrl-Z) is the cause.
            const frozen = children.find((c) => !c.exited && c.child.pid !== undefined && /^[Tt]$/.test(processState(c.child.pid) ?? ""));
            if (frozen !== undefined) {
              progress.message(`simclr: rank ${frozen.rank} (pid ${frozen.child.pid}) is stopped (SIGSTOP or Ctrl-Z): the rank the others waited for`);
              failure = { rank: frozen.rank, why: `was stopped (SIGSTOP or Ctrl-Z) and rank ${rank}, waiting for it, ${failure.why}`, code: failure.code };
              frozen.child.kill("SIGKILL"); // frozen, it can save nothing; SIGTERM would wait for a SIGCONT
            }
            endOthers();
          }
          resolve();
        });
        child.on("error", (e) => {
          if (failure === null) failure = { rank, why: `could not start: ${e.message}`, code: 1 };
          endOthers();
          resolve();
        });
      });
    });
    await Promise.all(exits);
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
  const failed = failure as { rank: number; why: string; code: number } | null;
  if (failed !== null) throw new DistributedError(failed.rank, `the job failed: rank ${failed.rank} ${failed.why}`);
  return stoppedWorkers > 0 ? 130 : 0;
}
