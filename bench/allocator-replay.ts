/**
 * Replays the large allocations of real training steps through candidate designs of the
 * caching CPU allocator (native/cpu_allocator.cc), to compare the memory each reserves and how
 * often each misses (a miss is a fresh mapping to fault in). The traces come from the
 * allocator itself (SIMCLR_ALLOC_TRACE) in two `simclr bench` runs of different lengths, so
 * the difference of their misses is the steady state per step.
 *   node dist/bench/allocator-replay.js [--preset fmnist|cifar16|cifar64] [--steps 3,8]
 * Prints one JSON line: peak live MiB, then per design the peak reserved MiB and misses a step.
 * Designs: free lists by exact size bounded at 1.0/1.1/1.25x the peak live (the first
 * allocator), and best fit with splitting and merging in segments at 1.0/1.05/1.1x (the current
 * one at 1.05x). Blocks under 1 MiB go to malloc in both and are not traced.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stepPreset } from "./step-presets.js";

const { values } = parseArgs({ options: { preset: { type: "string", default: "fmnist" }, steps: { type: "string", default: "3,8" } } });
const preset = stepPreset(values.preset);
const sets = [...preset.sets, `train.batchSize=${preset.batch}`];
const [short, long] = values.steps.split(",").map(Number) as [number, number];
if (!(short >= 1 && long > short)) throw new Error("--steps takes two step counts, the second larger: 3,8");

const MiB = 2 ** 20;
const ROUND = 2 ** 16;
type Event = { alloc: true; bytes: number; ptr: string } | { alloc: false; ptr: string };

function trace(steps: number): Event[] {
  const dir = mkdtempSync(join(tmpdir(), "simclr-alloc-trace-"));
  const file = join(dir, "trace.txt");
  const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");
  try {
    execFileSync(process.execPath, [cli, "bench", "--steps", String(steps), "--warmup", "2", ...sets.flatMap((s) => ["--set", s]), "--set", "optim.lr=0.1"], {
      env: { ...process.env, SIMCLR_ALLOC_TRACE: file, SIMCLR_MALLOC: "caching" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    return readFileSync(file, "utf-8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => {
        const [kind, a, b] = l.split(" ");
        return kind === "a" ? { alloc: true, bytes: Number(a), ptr: b as string } : { alloc: false, ptr: a as string };
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rounded = (n: number) => Math.ceil(n / ROUND) * ROUND;

function peakLive(events: Event[]): number {
  const live = new Map<string, number>();
  let now = 0;
  let peak = 0;
  for (const e of events) {
    if (e.alloc) {
      live.set(e.ptr, rounded(e.bytes));
      now += rounded(e.bytes);
      peak = Math.max(peak, now);
    } else {
      now -= live.get(e.ptr) ?? 0;
      live.delete(e.ptr);
    }
  }
  return peak;
}

/** Free lists by exact (rounded) size; a miss evicts the largest cached blocks while over the bound. */
function exactSize(events: Event[], factor: number): { reserved: number; misses: number } {
  const free = new Map<number, number>();
  const live = new Map<string, number>();
  let [now, cached, peak, reserved, misses] = [0, 0, 0, 0, 0];
  for (const e of events) {
    if (!e.alloc) {
      const s = live.get(e.ptr);
      if (s === undefined) continue;
      live.delete(e.ptr);
      now -= s;
      free.set(s, (free.get(s) ?? 0) + 1);
      cached += s;
      continue;
    }
    const s = rounded(e.bytes);
    if ((free.get(s) ?? 0) > 0) {
      free.set(s, (free.get(s) as number) - 1);
      cached -= s;
    } else {
      misses++;
      while (cached > 0 && now + cached + s > factor * Math.max(peak, now + s)) {
        const largest = Math.max(...[...free].filter(([, c]) => c > 0).map(([size]) => size));
        free.set(largest, (free.get(largest) as number) - 1);
        cached -= largest;
      }
    }
    live.set(e.ptr, s);
    now += s;
    peak = Math.max(peak, now);
    reserved = Math.max(reserved, now + cached);
  }
  return { reserved, misses };
}

interface Block {
  start: number;
  size: number;
  free: boolean;
  prev: Block | null;
  next: Block | null;
}

/** Best fit with splitting (rest >= 1 MiB) and merging in segments; whole free segments unmapped while over the bound. */
function splitting(events: Event[], factor: number): { reserved: number; misses: number } {
  const pool = new Set<Block>();
  const live = new Map<string, Block>();
  let [now, peak, mapped, reserved, misses, base] = [0, 0, 0, 0, 0, 0];
  const unlink = (a: Block, b: Block) => {
    pool.delete(b);
    a.size += b.size;
    a.next = b.next;
    if (b.next) b.next.prev = a;
  };
  for (const e of events) {
    if (!e.alloc) {
      let b = live.get(e.ptr);
      if (b === undefined) continue;
      live.delete(e.ptr);
      now -= b.size;
      b.free = true;
      if (b.next?.free) unlink(b, b.next);
      if (b.prev?.free) {
        const p = b.prev;
        pool.delete(p);
        unlink(p, b);
        b = p;
      }
      pool.add(b);
      continue;
    }
    const s = rounded(e.bytes);
    let best: Block | null = null;
    for (const b of pool) if (b.size >= s && (best === null || b.size < best.size || (b.size === best.size && b.start < best.start))) best = b;
    if (best !== null) {
      pool.delete(best);
      best.free = false;
      if (best.size - s >= MiB) {
        const rest: Block = { start: best.start + s, size: best.size - s, free: true, prev: best, next: best.next };
        if (best.next) best.next.prev = rest;
        best.next = rest;
        best.size = s;
        pool.add(rest);
      }
    } else {
      misses++;
      const bound = factor * Math.max(peak, now + s);
      while (mapped + s > bound) {
        let victim: Block | null = null;
        for (const b of pool) if (b.prev === null && b.next === null && (victim === null || b.size > victim.size)) victim = b;
        if (victim === null) break;
        pool.delete(victim);
        mapped -= victim.size;
      }
      best = { start: base, size: s, free: false, prev: null, next: null };
      base += s + MiB;
      mapped += s;
    }
    live.set(e.ptr, best);
    now += best.size;
    peak = Math.max(peak, now);
    reserved = Math.max(reserved, mapped);
  }
  return { reserved, misses };
}

const a = trace(short);
const b = trace(long);
const design = (run: (ev: Event[]) => { reserved: number; misses: number }) => {
  const x = run(a);
  const y = run(b);
  return { reserved_mib: Math.round(y.reserved / MiB), misses_per_step: Number(((y.misses - x.misses) / (long - short)).toFixed(1)) };
};
console.log(
  JSON.stringify({
    bench: "allocator-replay",
    preset: values.preset,
    peak_live_mib: Math.round(peakLive(b) / MiB),
    distinct_sizes: new Set(b.flatMap((e) => (e.alloc ? [rounded(e.bytes)] : []))).size,
    exact_size: Object.fromEntries([1.0, 1.1, 1.25].map((f) => [`${f}x`, design((ev) => exactSize(ev, f))])),
    splitting: Object.fromEntries([1.0, 1.05, 1.1].map((f) => [`${f}x`, design((ev) => splitting(ev, f))])),
  }),
);
