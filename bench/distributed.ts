/**
 * Data parallelism on this machine, where the point is overhead, not speed-up:
 *   1. views/s of 1 process x 2 threads against 2 processes x 1 thread at the same global
 *      batch (`simclr bench`, alternating rounds), and the gradient all-reduce's share of a step;
 *   2. all-reduce and all-gather time against message size over loopback Gloo (2 ranks).
 * Prints one JSON line.   node dist/bench/distributed.js [--rounds 3] [--steps 5] [--batch 256]
 */
import { execFileSync, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ProcessGroup, freePort, launchEnv, manualSeed, randn, setNumThreads } from "../src/index.js";

const here = fileURLToPath(import.meta.url);
const cli = join(dirname(here), "..", "src", "cli", "main.js");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    steps: { type: "string", default: "5" },
    batch: { type: "string", default: "256" },
    worker: { type: "boolean" },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const SIZES = [1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24]; // bytes

if (values.worker) {
  // one rank of the collectives benchmark
  const env = launchEnv();
  if (env === null) throw new Error("worker mode needs RANK and WORLD_SIZE");
  setNumThreads(1);
  const group = ProcessGroup.init({ host: env.masterAddr, port: env.masterPort, rank: env.rank, size: env.worldSize });
  manualSeed(0);
  const rows: { bytes: number; allreduce_ms: number; allgather_ms: number }[] = [];
  for (const bytes of SIZES) {
    const x = randn([bytes / 4]);
    const time = (fn: () => void) => {
      fn();
      const t: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t0 = performance.now();
        fn();
        t.push(performance.now() - t0);
      }
      return Number(median(t).toFixed(3));
    };
    rows.push({ bytes, allreduce_ms: time(() => group.allReduce([x])), allgather_ms: time(() => group.allGather(x).dispose()) });
    x.dispose();
  }
  if (env.rank === 0) process.stdout.write(`${JSON.stringify(rows)}\n`);
  group.destroy();
} else {
  const sets = ["model.width=16", `train.batchSize=${values.batch}`].flatMap((s) => ["--set", s]);
  const bench = (procs: number) => {
    if (procs === 1)
      return JSON.parse(
        execFileSync(process.execPath, [cli, "bench", "--steps", values.steps, "--warmup", "2", "--set", "train.threads=2", ...sets], { encoding: "utf-8" }),
      ) as Record<string, number>;
    return null;
  };
  const runRanks = async (args: string[]): Promise<string> => {
    const port = await freePort();
    const outs = await Promise.all(
      [0, 1].map(
        (rank) =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, args, {
              env: {
                ...process.env,
                RANK: String(rank),
                WORLD_SIZE: "2",
                LOCAL_RANK: String(rank),
                LOCAL_WORLD_SIZE: "2",
                MASTER_ADDR: "127.0.0.1",
                MASTER_PORT: String(port),
              },
              stdio: ["ignore", "pipe", "inherit"],
            });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`rank ${rank} exited ${code}`))));
          }),
      ),
    );
    return outs[0] ?? "";
  };
  const one: Record<string, number>[] = [];
  const two: Record<string, number>[] = [];
  // overlap needs several buckets to matter: 0.5 MiB buckets (about 6 here), with and without it
  const small: Record<string, number>[] = [];
  const overlapped: Record<string, number>[] = [];
  const twoRun = async (extra: string[]) =>
    JSON.parse(await runRanks([cli, "bench", "--steps", values.steps, "--warmup", "2", ...sets, ...extra.flatMap((x) => ["--set", x])])) as Record<
      string,
      number
    >;
  for (let r = 0; r < Number(values.rounds); r++) {
    const a = bench(1);
    if (a !== null) one.push(a);
    two.push(await twoRun([]));
    small.push(await twoRun(["dist.bucketMiB=0.5"]));
    overlapped.push(await twoRun(["dist.bucketMiB=0.5", "dist.overlap=true"]));
  }
  const collectives = JSON.parse(await runRanks([here, "--worker"])) as unknown;
  const v1 = median(one.map((o) => o.views_per_s ?? Number.NaN));
  const v2 = median(two.map((o) => o.views_per_s ?? Number.NaN));
  const step2 = median(two.map((o) => o.step_ms ?? Number.NaN));
  const ar2 = median(two.map((o) => o.allreduce_ms ?? Number.NaN));
  process.stdout.write(
    `${JSON.stringify({
      global_batch: Number(values.batch),
      one_process_two_threads_views_per_s: v1,
      two_processes_one_thread_views_per_s: v2,
      ratio: Number((v2 / v1).toFixed(3)),
      rounds: { one: one.map((o) => o.views_per_s), two: two.map((o) => o.views_per_s) },
      two_process_step_ms: step2,
      gradient_allreduce_ms: ar2,
      gradient_allreduce_share: Number((ar2 / step2).toFixed(4)),
      half_mib_buckets_views_per_s: { after_backward: small.map((o) => o.views_per_s), overlapped: overlapped.map((o) => o.views_per_s) },
      half_mib_buckets_median: {
        after_backward: median(small.map((o) => o.views_per_s ?? Number.NaN)),
        overlapped: median(overlapped.map((o) => o.views_per_s ?? Number.NaN)),
      },
      wait_after_backward_ms: {
        after_backward: median(small.map((o) => o.allreduce_ms ?? Number.NaN)),
        overlapped: median(overlapped.map((o) => o.allreduce_ms ?? Number.NaN)),
      },
      collectives_2_ranks_loopback: collectives,
    })}\n`,
  );
}
