/**
 * The bad-input corpus (issue 12): every way of misusing simclr that we know of, each with the
 * error it must give. The inputs are made by code here (no binary blobs in the repository):
 * `node dist/test/bad-inputs/generate.js DIR` writes them all out to look at, and
 * corpus.slow.test.ts runs every case.
 *
 * A case makes its input in a fresh folder, then runs the `simclr` command line (argv) or a
 * library call, and checks:
 *   - the exact error: the class for a library call, the error code the CLI prints
 *     ("[ERR_SIMCLR_DATA]") and its exit code for a command;
 *   - that the message names the input (a regular expression with the file, key or value);
 *   - where nothing should be written, that the listed paths are byte for byte unchanged.
 * Groups follow the issues: 1 run directory, 2 resume, 3 silent wrong results, 4 interrupted
 * runs, 5 sizes and the library's arguments (issue 12); 6 the server, 7 indexes and image
 * folders, 8 silently wrong configs and results, 9 moving and restarting runs, 10 distributed
 * launches (issue 24); "parse" and "config" are the inputs that were already handled well and
 * must stay so. The faults that need processes killed or stopped at a moment (a SIGKILLed
 * launcher, a SIGSTOPped rank, a torchrun restart, two hosts in network namespaces, a
 * slow-loris client, a cross-origin page in Chromium) are in test/distributed/ and
 * test/search/serve-guard.test.ts, listed in RELIABILITY.md.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { hostname } from "node:os";
import { promisify } from "node:util";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { crc32 } from "@node-rs/crc32";
import {
  ArgumentError,
  ConfigError,
  DataError,
  DataLoader,
  FileWriteError,
  SGD,
  SimCLRAugment,
  StateDictError,
  knnClassify,
  loadConfig,
  ntXentLoss,
  parseCifarRecords,
  parseIdx,
  parseSafetensors,
  pretrain,
  rand,
  resnet,
  serializeSafetensors,
  tensor,
  writeSafetensors,
} from "../../src/index.js";
import { serve } from "../../src/jobs/serve.js";
import { CLI } from "../helpers.js";
import { syntheticSet } from "../synthetic.js";

/** What a case gets: its own folder and copies of the shared fixtures, made on demand. */
export interface CaseContext {
  /** The case's folder (empty at the start). */
  dir: string;
  /** A synthetic IDX data set (read-only: copy it before changing it). */
  data: string;
  /** A copy of a finished run (1 epoch, ResNet-18 width 4) at DIR/run. */
  run(): string;
  /** A copy of a run stopped after 2 steps (a step checkpoint with the data order) at DIR/stopped. */
  stopped(): string;
  /** A copy of the data set at DIR/data, to damage. */
  dataCopy(): string;
}

export interface Expectation {
  /** The library error class (library calls) ... */
  errorClass?: new (...args: never[]) => Error;
  /** ... or the error code the CLI prints and its exit status. */
  code?: string;
  exit?: number;
  /** What the message (CLI: stderr; success cases: stdout + stderr) must say. */
  message: RegExp;
}

export interface BadInput {
  id: string;
  group:
    | "1 run directory"
    | "2 resume"
    | "3 wrong results"
    | "4 interruptions"
    | "5 sizes and arguments"
    | "6 server"
    | "7 indexes and folders"
    | "8 silent results"
    | "9 moving and restarting"
    | "10 distributed"
    | "parse"
    | "config";
  what: string;
  /** Makes the input; returns the command line or the library call to run. */
  setup(ctx: CaseContext): { argv: string[] } | { call: () => unknown };
  expect: Expectation;
  /** Paths (relative to the case folder) that must be byte for byte unchanged. */
  unchanged?: string[];
}

// ---- input makers ----

function idx(shape: number[], data: Uint8Array | number[], type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = type;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** One PNG chunk: length, type, body, CRC-32 of type and body. */
function chunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const typed = Buffer.concat([Buffer.from(type, "ascii"), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([len, typed, crc]);
}

/** A minimal PNG whose header claims width x height (its pixels are never reached). */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", gzipSync(Buffer.alloc(64)).subarray(10)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A safetensors file with a hand-written header (+ data bytes). */
function safetensorsWith(header: unknown, data: Buffer = Buffer.alloc(0), lengthOverride?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf-8");
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

const write = (path: string, bytes: Buffer | string): string => {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, bytes);
  return path;
};

/** A folder of class sub-folders with small real images (PNG, made by hand). */
function imageFolder(root: string, classes: Record<string, number>): string {
  // an 8x8 gray PNG with real pixel data
  const png = (value: number) => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(8, 0);
    ihdr.writeUInt32BE(8, 4);
    ihdr[8] = 8;
    const raw = Buffer.alloc(8 * 9, value);
    for (let y = 0; y < 8; y++) raw[y * 9] = 0; // filter byte per row
    const deflated = gzipSync(raw);
    // zlib stream = 2-byte header + deflate + adler32: build it from the gzip body
    const body = deflated.subarray(10, deflated.length - 8);
    let a = 1;
    let b = 0;
    for (const byte of raw) {
      a = (a + byte) % 65521;
      b = (b + a) % 65521;
    }
    const adler = Buffer.alloc(4);
    adler.writeUInt32BE(((b << 16) | a) >>> 0);
    const zlib = Buffer.concat([Buffer.from([0x78, 0x9c]), body, adler]);
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", ihdr),
      chunk("IDAT", zlib),
      chunk("IEND", Buffer.alloc(0)),
    ]);
  };
  let v = 10;
  for (const [name, count] of Object.entries(classes)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < count; i++) writeFileSync(join(root, name, `${i}.png`), png((v += 7) % 256));
  }
  return root;
}

const statePath = (run: string) => {
  const latest = readFileSync(join(run, "checkpoints", "latest"), "utf-8").trim();
  return join(run, "checkpoints", latest, "state.json");
};
const editState = (run: string, edit: (s: Record<string, unknown>) => void) => {
  const file = statePath(run);
  const s = JSON.parse(readFileSync(file, "utf-8")) as Record<string, unknown>;
  edit(s);
  writeFileSync(file, JSON.stringify(s));
};
const latestDir = (run: string) => join(statePath(run), "..");
const cli = (...argv: string[]) => ({ argv });
const call = (fn: () => unknown) => ({ call: fn });
const mnist = (data: string, ...more: string[]) => ["--set", "data.name=mnist", "--set", `data.path=${data}`, ...more.flatMap((m) => ["--set", m])];
const tiny = ["model.width=4", "train.batchSize=64", "train.epochs=1", "monitor.knnEvery=0"];
/** The fixtures' own config as --set flags (the shared runs were made with it), with more settings after. */
const syntheticArgs = (data: string, ...more: string[]) =>
  [...syntheticSet(data, ["train.epochs=1", "monitor.knnSamples=128", "monitor.knnK=20"]), ...more].flatMap((x) => ["--set", x]);

// ---- the cases ----

// ---- issue 24's helpers: an indexed folder, a server on it, raw HTTP ----

/** Runs the CLI to completion (for a case's own set-up); throws with its stderr when it fails. */
async function cliNow(...argv: string[]): Promise<string> {
  const { stderr } = await promisify(execFile)(process.execPath, [CLI, ...argv], { encoding: "utf-8" });
  return stderr;
}

/** DIR/photos (3 images) indexed with the run's encoder into DIR/photos.index. */
async function indexedFolder(c: CaseContext): Promise<{ index: string; photos: string }> {
  const photos = imageFolder(join(c.dir, "photos"), { a: 3 });
  const index = join(c.dir, "photos.index");
  await cliNow("index", "--run", c.run(), "--images", photos, "--out", index);
  return { index, photos };
}

/** One request with any headers (fetch cannot set Host); resolves "STATUS BODY". */
function rawHttp(url: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method: options.method ?? "GET", path: options.path, headers: options.headers ?? {} }, (res) => {
      let body = "";
      res.setEncoding("utf-8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve(`${res.statusCode} ${body}`));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Serves the case's index on a free loopback port, runs `fn` with its URL, closes it. */
async function withServer(c: CaseContext, fn: (url: string, index: { photos: string }) => Promise<string>, listen: { host?: string } = {}): Promise<string> {
  const made = await indexedFolder(c);
  const server = await serve(made.index, { host: listen.host ?? "127.0.0.1", port: 0 }, { log: () => {} });
  try {
    return await fn(server.url.split("?")[0]!.replace("0.0.0.0", "127.0.0.1"), made);
  } finally {
    await server.close();
  }
}

/** A checkpoint of the case's run whose weights are finite but whose features overflow (a diverged run). */
function diverged(c: CaseContext): string {
  const run = c.run();
  const file = join(latestDir(run), "model.safetensors");
  const { tensors, metadata } = parseSafetensors(readFileSync(file));
  const mean = tensors.get("encoder.bn1.running_mean")!;
  tensors.set("encoder.bn1.running_mean", tensor(new Float32Array(mean.size(0)).fill(-3e38)));
  mean.dispose();
  writeFileSync(file, serializeSafetensors(tensors, metadata));
  for (const t of tensors.values()) t.dispose();
  return run;
}

export const CASES: BadInput[] = [
  // group 1: the run directory
  {
    id: "pretrain-over-finished-run",
    group: "1 run directory",
    what: "pretrain --out a directory holding a finished run (without --resume or --force)",
    setup: (c) => (c.run(), cli("pretrain", "--out", join(c.dir, "run"), ...mnist(c.data, ...tiny))),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /run already holds a run \(config\.yaml, metrics\.jsonl.*checkpoints/ },
    unchanged: ["run"],
  },
  {
    id: "pretrain-over-run-with-garbage-latest",
    group: "1 run directory",
    what: "pretrain --out a run whose checkpoints/latest is garbage (the old data-loss case)",
    setup: (c) => (
      writeFileSync(join(c.run(), "checkpoints", "latest"), "\u0000garbage"),
      cli("pretrain", "--out", join(c.dir, "run"), ...mnist(c.data, ...tiny))
    ),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /run already holds a run/ },
    unchanged: ["run"],
  },
  {
    id: "pretrain-over-run-without-latest",
    group: "1 run directory",
    what: "pretrain --out a run whose checkpoints/latest was deleted",
    setup: (c) => (rmSync(join(c.run(), "checkpoints", "latest")), cli("pretrain", "--out", join(c.dir, "run"), ...mnist(c.data, ...tiny))),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /run already holds a run/ },
    unchanged: ["run"],
  },
  {
    id: "resume-locked-run",
    group: "1 run directory",
    what: "pretrain --resume on a run another live process holds (its .lock names a live pid on this host)",
    setup: (c) => (
      writeFileSync(join(c.stopped(), ".lock"), JSON.stringify({ pid: process.pid, host: hostname(), since: "2026-11-26T00:00:00.000Z" })),
      cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))
    ),
    expect: { code: "ERR_SIMCLR_RUN_LOCKED", exit: 1, message: new RegExp(`stopped.* in use by pid ${process.pid} on this host`) },
    unchanged: ["stopped"],
  },
  {
    id: "resume-run-locked-on-other-host",
    group: "1 run directory",
    what: "pretrain --resume on a run locked by a process on another machine (shared disk)",
    setup: (c) => (
      writeFileSync(join(c.stopped(), ".lock"), JSON.stringify({ pid: 1, host: "elsewhere.example", since: "2026-11-26T00:00:00.000Z" })),
      cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))
    ),
    expect: { code: "ERR_SIMCLR_RUN_LOCKED", exit: 1, message: /elsewhere\.example/ },
    unchanged: ["stopped"],
  },
  {
    id: "resume-and-force",
    group: "1 run directory",
    what: "--resume and --force together",
    setup: (c) => (c.run(), cli("pretrain", "--resume", "--force", "--out", join(c.dir, "run"))),
    expect: { code: "ERR_SIMCLR_USAGE", exit: 2, message: /--resume continues the run in DIR; --force replaces it/ },
    unchanged: ["run"],
  },
  {
    id: "resume-with-set",
    group: "1 run directory",
    what: "--resume with --set of a recipe key (the run's config is its own; only location keys may change)",
    setup: (c) => (c.run(), cli("pretrain", "--resume", "--out", join(c.dir, "run"), "--set", "train.epochs=3")),
    expect: {
      code: "ERR_SIMCLR_CONFIG",
      exit: 2,
      message: /--set: train\.epochs cannot change when a run resumes \(the run's recipe stays as it started\); the keys that may: data\.path/,
    },
    unchanged: ["run"],
  },
  {
    id: "pretrain-without-out",
    group: "1 run directory",
    what: "pretrain without --out",
    setup: () => cli("pretrain"),
    expect: { code: "ERR_SIMCLR_USAGE", exit: 2, message: /pretrain needs --out DIR/ },
  },

  // group 2: resume trusts only verified state
  ...(
    [
      [
        "latest-outside-run",
        "../../other/checkpoints/epoch-0001",
        /latest names '\.\.\/\.\.\/other\/checkpoints\/epoch-0001', which is not a checkpoint of this run/,
      ],
      ["latest-absolute", "/etc", /latest names '\/etc', which is not a checkpoint of this run/],
      ["latest-missing-folder", "step-9999999", /latest names step-9999999, which does not exist/],
      ["latest-empty", "", /latest names '', which is not a checkpoint of this run/],
    ] as const
  ).map(([id, content, message]): BadInput => ({
    id: `resume-${id}`,
    group: "2 resume",
    what: `checkpoints/latest says '${content}'`,
    setup: (c) => (writeFileSync(join(c.stopped(), "checkpoints", "latest"), `${content}\n`), cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message },
    unchanged: ["stopped"],
  })),
  {
    id: "resume-latest-without-state",
    group: "2 resume",
    what: "latest names a checkpoint folder without state.json",
    setup: (c) => (rmSync(statePath(c.stopped())), cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /latest names step-\d+, which has no state\.json \(incomplete\)/ },
    unchanged: ["stopped"],
  },
  ...(
    [
      ["state-not-json", (s: string) => writeFileSync(statePath(s), "{ not json"), /state\.json: cannot read checkpoint state/],
      ["state-rng-3-bytes", (s: string) => editState(s, (j) => (j.rngState = "AAAA")), /state\.json: rngState must be \d+ bytes of base64 .* got 3 bytes/],
      ["state-rng-not-base64", (s: string) => editState(s, (j) => (j.rngState = "%%%")), /state\.json: rngState must be \d+ bytes of base64/],
      ["state-epoch-string", (s: string) => editState(s, (j) => (j.epoch = "x")), /state\.json: epoch must be a non-negative integer, got "x"/],
      ["state-global-step-negative", (s: string) => editState(s, (j) => (j.globalStep = -1)), /state\.json: globalStep must be a non-negative integer, got -1/],
      [
        "state-epoch-steps-fraction",
        (s: string) => editState(s, (j) => (j.epochSteps = 1.5)),
        /state\.json: epochSteps must be a non-negative integer, got 1\.5/,
      ],
      ["state-loss-sum-nan", (s: string) => editState(s, (j) => (j.epochLossSum = "NaN")), /state\.json: epochLossSum must be a non-negative number/],
      ["state-format-from-future", (s: string) => editState(s, (j) => (j.format = 99)), /state\.json: checkpoint format 99 is newer than this version reads/],
      [
        "state-config-unknown-key",
        (s: string) => editState(s, (j) => ((j.config as Record<string, unknown>)["model.depth"] = 18)),
        /state\.json: unknown config key 'model\.depth'/,
      ],
      [
        "state-config-bad-value",
        (s: string) => editState(s, (j) => ((j.config as Record<string, unknown>)["model.width"] = "wide")),
        /state\.json.*model\.width/,
      ],
    ] as const
  ).map(([id, damage, message]): BadInput => ({
    id: `resume-${id}`,
    group: "2 resume",
    what: `the checkpoint's state.json: ${id.replace(/-/g, " ")}`,
    setup: (c) => (damage(c.stopped()), cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))),
    // a bad value in the stored config is a config error (exit 2); the rest are checkpoint errors
    expect: id.startsWith("state-config-") ? { code: "ERR_SIMCLR_CONFIG", exit: 2, message } : { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message },
    unchanged: ["stopped"],
  })),
  {
    id: "resume-order-not-permutation",
    group: "2 resume",
    what: "the saved data order holds an index beyond the data set",
    setup: (c) => {
      const run = c.stopped();
      const file = join(latestDir(run), "loader.safetensors");
      const order = parseSafetensors(readFileSync(file)).tensors.get("order");
      const values = Array.from(order?.dataAsNumbers() ?? []);
      order?.dispose();
      values[0] = 1_000_000;
      const t = tensor(values, { dtype: "int64" });
      writeSafetensors(file, { order: t });
      t.dispose();
      return cli("pretrain", "--resume", "--out", run);
    },
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /not a permutation|order/ },
    unchanged: ["stopped/checkpoints", "stopped/config.yaml"],
  },
  {
    id: "resume-model-file-missing",
    group: "2 resume",
    what: "the checkpoint's model.safetensors is gone",
    setup: (c) => (rmSync(join(latestDir(c.stopped()), "model.safetensors")), cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /model\.safetensors: missing from the checkpoint/ },
    unchanged: ["stopped"],
  },
  {
    id: "resume-model-file-truncated",
    group: "2 resume",
    what: "the checkpoint's model.safetensors is cut short",
    setup: (c) => {
      const file = join(latestDir(c.stopped()), "model.safetensors");
      writeFileSync(file, readFileSync(file).subarray(0, 5000));
      return cli("pretrain", "--resume", "--out", join(c.dir, "stopped"));
    },
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /model\.safetensors: .*(truncated|outside)/ },
    unchanged: ["stopped"],
  },
  {
    id: "resume-optimizer-file-garbage",
    group: "2 resume",
    what: "the checkpoint's optimizer.safetensors is random bytes",
    setup: (c) => (
      writeFileSync(join(latestDir(c.stopped()), "optimizer.safetensors"), Buffer.from("this is not a safetensors file at all")),
      cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))
    ),
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /optimizer\.safetensors: header length \d+ (exceeds|runs past)/ },
    unchanged: ["stopped"],
  },
  {
    id: "resume-empty-directory",
    group: "2 resume",
    what: "pretrain --resume on an empty directory",
    setup: (c) => (mkdirSync(join(c.dir, "empty")), cli("pretrain", "--resume", "--out", join(c.dir, "empty"))),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /empty has no checkpoint to resume from .* no config\.yaml to start it again with/ },
  },

  // group 3: no silent wrong results
  {
    id: "eval-nan-weights",
    group: "3 wrong results",
    what: "eval on a checkpoint whose weights are all NaN: refused, nothing recorded",
    setup: (c) => {
      const file = join(latestDir(c.run()), "model.safetensors");
      const { tensors, metadata } = parseSafetensors(readFileSync(file));
      for (const [k, t] of tensors) {
        if (t.dtype !== "float32") continue;
        tensors.set(k, t.mul(Number.NaN));
        t.dispose();
      }
      writeFileSync(file, serializeSafetensors(tensors, metadata));
      for (const t of tensors.values()) t.dispose();
      return cli("eval", "knn", "--run", join(c.dir, "run"));
    },
    expect: {
      code: "ERR_SIMCLR_CHECKPOINT",
      exit: 1,
      message: /model\.safetensors cannot be loaded: .* holds NaN or infinite values.*\n\(allowNonFinite is --allow-non-finite on the command line\)/,
    },
    unchanged: ["run"],
  },
  {
    id: "eval-float-declared-int",
    group: "3 wrong results",
    what: "a checkpoint whose F32 weights are declared I32",
    setup: (c) => {
      const file = join(latestDir(c.run()), "model.safetensors");
      const bytes = readFileSync(file);
      const n = Number(bytes.readBigUInt64LE(0));
      const header = bytes
        .subarray(8, 8 + n)
        .toString("utf-8")
        .replace(/"F32"/, '"I32"');
      writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), Buffer.from(header), bytes.subarray(8 + n)]));
      return cli("eval", "knn", "--run", join(c.dir, "run"));
    },
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /cannot be loaded: .* is int32 in the state dict, the module holds float32/ },
    unchanged: ["run"],
  },
  {
    id: "load-state-dict-array",
    group: "3 wrong results",
    what: "Module.loadStateDict given a plain array instead of a tensor",
    setup: () => call(() => resnet({ depth: 18, width: 2 }).loadStateDict(new Map([["conv1.weight", [1, 2, 3] as never]]), { strict: false })),
    expect: { errorClass: StateDictError, message: /'conv1\.weight' is an array, not a tensor/ },
  },
  {
    id: "load-state-dict-int-for-float",
    group: "3 wrong results",
    what: "Module.loadStateDict given an int64 tensor for a float parameter",
    setup: () =>
      call(() =>
        resnet({ depth: 18, width: 2 }).loadStateDict(new Map([["conv1.weight", tensor(new BigInt64Array(2 * 3 * 9), { shape: [2, 3, 3, 3] })]]), {
          strict: false,
        }),
      ),
    expect: { errorClass: StateDictError, message: /'conv1\.weight' is int64 in the state dict, the module holds float32/ },
  },
  {
    id: "load-state-dict-infinite",
    group: "3 wrong results",
    what: "Module.loadStateDict given a weight holding +inf",
    setup: () =>
      call(() =>
        resnet({ depth: 18, width: 2 }).loadStateDict(
          new Map([["conv1.weight", tensor(new Float32Array(2 * 3 * 9).fill(Number.POSITIVE_INFINITY), { shape: [2, 3, 3, 3] })]]),
          { strict: false },
        ),
      ),
    expect: { errorClass: StateDictError, message: /'conv1\.weight' holds NaN or infinite values/ },
  },
  {
    id: "eval-k-beyond-bank",
    group: "3 wrong results",
    what: "eval knn --k 100000 against a few hundred training images: k is clamped, said, and the k used recorded",
    setup: (c) => (c.run(), cli("eval", "knn", "--run", join(c.dir, "run"), "--k", "100000")),
    expect: { exit: 0, message: /"k":\d{2,3}[,}]/ },
  },
  {
    id: "eval-folder-without-split",
    group: "3 wrong results",
    what: "eval on a labelled image folder with no test split: a seeded held-out split, stated in the result",
    setup: (c) => {
      imageFolder(join(c.dir, "images"), { a: 12, b: 12 });
      c.run();
      return cli(
        "eval",
        "knn",
        "--run",
        join(c.dir, "run"),
        "--set",
        "data.name=image-folder",
        "--set",
        `data.path=${join(c.dir, "images")}`,
        "--set",
        "data.channels=1",
        "--set",
        "data.size=8",
      );
    },
    expect: { exit: 0, message: /"split":"[^"]*held out[^"]*"/ },
  },
  {
    id: "eval-labels-empty-class",
    group: "3 wrong results",
    what: "eval --labels 1% that leaves a class without a single label",
    setup: (c) => (c.run(), cli("eval", "linear", "--run", join(c.dir, "run"), "--labels", "1%")),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /eval\.labels/ },
    unchanged: ["run"],
  },
  {
    id: "eval-labels-nonsense",
    group: "3 wrong results",
    what: "eval --labels abc",
    setup: (c) => (c.run(), cli("eval", "linear", "--run", join(c.dir, "run"), "--labels", "abc")),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /eval\.labels.*abc|abc.*eval\.labels/ },
    unchanged: ["run"],
  },
  {
    id: "eval-run-without-checkpoint",
    group: "3 wrong results",
    what: "eval on a run that has no checkpoint yet",
    setup: (c) => (rmSync(join(c.run(), "checkpoints"), { recursive: true }), cli("eval", "knn", "--run", join(c.dir, "run"))),
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /run has no checkpoint \(checkpoints\/latest is missing\)/ },
    unchanged: ["run"],
  },
  {
    id: "compare-corrupt-results",
    group: "3 wrong results",
    what: "compare on a run whose results.jsonl has a broken line in the middle",
    setup: (c) => (
      writeFileSync(join(c.run(), "results.jsonl"), '{"protocol":"knn","top1":0.5}\n{broken\n{"protocol":"knn","top1":0.6}\n'),
      cli("compare", join(c.dir, "run"))
    ),
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /results\.jsonl:2: is not JSON/ },
    unchanged: ["run"],
  },

  // group 4: interrupted runs (the soak covers kill points; these are the leftovers)
  {
    id: "resume-with-torn-metrics-line",
    group: "4 interruptions",
    what: "a crash mid-append left half a metrics line: resume drops it and continues",
    setup: (c) => (
      writeFileSync(join(c.stopped(), "metrics.jsonl"), '{"step":3,"epo', { flag: "a" }),
      cli("pretrain", "--resume", "--out", join(c.dir, "stopped"))
    ),
    expect: { exit: 0, message: /resuming .*stopped at epoch 1, step 2/ },
  },
  {
    id: "resume-cleans-stale-temporaries",
    group: "4 interruptions",
    what: "half-written checkpoint folders and atomic-write temporaries of a dead writer are removed at resume, and said",
    setup: (c) => {
      const run = c.stopped();
      mkdirSync(join(run, "checkpoints", ".tmp-epoch-0001-99999"));
      writeFileSync(join(run, "config.yaml.tmp-99999-abc123"), "half");
      return cli("pretrain", "--resume", "--out", run);
    },
    expect: { exit: 0, message: /removed .*checkpoints\/\.tmp-epoch-0001-99999, left by a writer that stopped mid-write/ },
  },
  {
    id: "resume-before-first-checkpoint",
    group: "4 interruptions",
    what: "a run killed before its first checkpoint: --resume starts it again from its config.yaml",
    setup: (c) => {
      const run = c.run();
      rmSync(join(run, "checkpoints"), { recursive: true });
      return cli("pretrain", "--resume", "--out", run);
    },
    expect: { exit: 0, message: /has no checkpoint yet: starting it again from step 0 with its config\.yaml/ },
  },
  {
    id: "write-into-missing-folder",
    group: "4 interruptions",
    what: "an atomic write that cannot happen (its folder is a file) names the file",
    setup: (c) => (writeFileSync(join(c.dir, "file"), "x"), call(() => writeSafetensors(join(c.dir, "file", "model.safetensors"), {}))),
    expect: { errorClass: FileWriteError, message: /cannot write .*file\/model\.safetensors: .*ENOTDIR/ },
  },
  {
    id: "import-out-into-file",
    group: "4 interruptions",
    what: "embed --out into a folder that is a file",
    setup: (c) => (
      writeFileSync(join(c.dir, "file"), "x"),
      c.run(),
      cli("embed", "--run", join(c.dir, "run"), "--out", join(c.dir, "file", "h.npy"), "--split", "test")
    ),
    expect: { code: "ERR_SIMCLR_WRITE", exit: 1, message: /cannot write .*file\/h\.npy/ },
    unchanged: ["run", "file"],
  },

  // group 5: sizes and the library's arguments
  ...(
    [
      ["model-width-huge", ["model.width=1000000"], "model.width", /most of it comes from model\.width=1000000/],
      ["augment-size-huge", ["augment.size=100000"], "augment.size", /most of it comes from augment\.size=100000/],
      ["batch-size-huge", ["train.batchSize=100000000"], "train.batchSize", /most of it comes from train\.batchSize=100000000/],
      ["folder-size-huge", ["data.name=image-folder", "data.path=/nonexistent", "data.size=100000"], "data.size", /most of it comes from data\.size=100000/],
      ["threads-huge", ["train.threads=100000"], "train.threads", /train\.threads is 100000, more than 4 per core/],
    ] as const
  ).map(([id, set, key, message]): BadInput => ({
    id: `pretrain-${id}`,
    group: "5 sizes and arguments",
    what: `pretrain with ${set.join(" ")}: refused before anything is loaded or written, naming ${key}`,
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), ...set.flatMap((s) => ["--set", s])),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message },
    unchanged: ["."],
  })),
  {
    id: "idx-zero-size-images",
    group: "5 sizes and arguments",
    what: "IDX images of shape [N, 0, 0]",
    setup: (c) => {
      const data = c.dataCopy();
      writeFileSync(join(data, "train-images-idx3-ubyte"), idx([4, 0, 0], []));
      writeFileSync(join(data, "train-labels-idx1-ubyte"), idx([4], [0, 1, 2, 3]));
      return cli("pretrain", "--out", join(c.dir, "run"), ...mnist(data, ...tiny));
    },
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /train-images-idx3-ubyte: .*0x0/ },
  },
  {
    id: "augment-3d-input",
    group: "5 sizes and arguments",
    what: "SimCLRAugment.view given a 3-D tensor",
    setup: () => call(() => new SimCLRAugment({ preset: "grayscale" }).view(rand([1, 28, 28]))),
    expect: { errorClass: ArgumentError, message: /SimCLRAugment\.view expects images \(N, C, H, W\).*got shape \[1, 28, 28\]/ },
  },
  {
    id: "remainder-int64-min-by-minus-one",
    group: "5 sizes and arguments",
    what: "integer remainder of INT64_MIN by -1 (SIGFPE inside libtorch) gives 0",
    setup: () => call(() => tensor(new BigInt64Array([-(2n ** 63n), 7n]), { dtype: "int64" }).remainder(-1)),
    expect: { message: /^\[0,0\]$/ },
  },
  {
    id: "div-int64-min-by-minus-one",
    group: "5 sizes and arguments",
    what: "division of INT64_MIN by -1 does not kill the process (true division: a float)",
    setup: () => call(() => tensor(new BigInt64Array([-(2n ** 63n)]), { dtype: "int64" }).div(-1)),
    expect: { message: /^\[9223372036854776000\]$/ },
  },
  ...(
    [
      ["ntxent-array", () => ntXentLoss([1, 2] as never, { temperature: 0.5 }), /ntXentLoss\(z\) must be a Tensor, got an array/],
      ["ntxent-no-options", () => ntXentLoss(rand([4, 3]), undefined as never), /ntXentLoss\(options\) must be an object of options, got undefined/],
      ["ntxent-zero-temperature", () => ntXentLoss(rand([4, 3]), { temperature: 0 }), /ntXentLoss: temperature must be > 0, got 0/],
      ["ntxent-odd-rows", () => ntXentLoss(rand([5, 3]), { temperature: 0.5 }), /ntXentLoss: z must be \(2M, D\).*got \[5, 3\]/],
      ["tensor-of-string", () => tensor("abc" as never), /tensor\(data\): data must be numbers or booleans .* got string/],
      ["tensor-of-bigints", () => tensor([1n, 2n] as never), /got a bigint \(use a BigInt64Array\)/],
      ["tensor-ragged", () => tensor([[1, 2], [3]]), /tensor\(\): ragged nested array/],
      ["add-a-string", () => rand([2]).add("x" as never), /aten::add\.Tensor: argument 'other' \(Tensor\) expects a Tensor, got a string/],
      ["matmul-null", () => rand([2, 2]).matmul(null as never), /aten::matmul: argument 'other' \(Tensor\) cannot be null/],
      ["reshape-strings", () => rand([2, 2]).reshape(["a"] as never), /aten::reshape: argument 'shape' \(int\[\]\) expects an integer, got a string/],
      [
        "disposed-tensor",
        () => {
          const t = rand([2]);
          t.dispose();
          return rand([2]).add(t);
        },
        /a tensor that was disposed/,
      ],
      ["sgd-null-params", () => new SGD(null as never, { lr: 0.1 }), /SGD\(params\) must be an array of tensors or \[name, tensor\] pairs, got null/],
      ["sgd-no-options", () => new SGD([rand([2])], undefined as never), /SGD\(options\) must be an object of options, got undefined/],
      ["sgd-negative-lr", () => new SGD([rand([2])], { lr: -1 }), /SGD: lr must be >= 0, got -1/],
      [
        "dataloader-array-images",
        () => new DataLoader({ images: [1, 2] as never }, { batchSize: 2 }),
        /DataLoader\(data\.images\) must be a Tensor, got an array/,
      ],
      ["dataloader-zero-batch", () => new DataLoader({ images: rand([4, 1, 2, 2]) }, { batchSize: 0 }), /batch size must be a positive integer, got 0/],
      ["knn-numbers", () => knnClassify(1 as never, 2 as never, 3 as never, 4 as never), /knnClassify\(trainFeatures\) must be a Tensor, got number 1/],
      ["resnet-depth-19", () => resnet({ depth: 19 as never }), /resnet: depth must be one of 18, 34, 50, 101, 152, got 19/],
      [
        "resnet-wrong-channels",
        () => resnet({ depth: 18, width: 2, inChannels: 1 }).forward(rand([2, 3, 8, 8])),
        /ResNet expects input \(N, 1, H, W\), got \[2, 3, 8, 8\]/,
      ],
      ["augment-size-string", () => new SimCLRAugment({ size: "32" as never }), /augment: size must be a positive integer or null, got 32/],
      ["safetensors-array-value", () => serializeSafetensors({ a: [1] as never }), /serializeSafetensors: 'a' must be a Tensor, got an array/],
      ["rand-negative-shape", () => rand([-1]), /rand\(\): shape \[-1\] must hold non-negative integers/],
    ] as const
  ).map(([id, fn, message]): BadInput => ({
    id: `api-${id}`,
    group: "5 sizes and arguments",
    what: `a library call with a bad argument: ${id.replace(/-/g, " ")}`,
    setup: () => call(fn),
    expect: { errorClass: ArgumentError, message },
  })),
  {
    id: "api-pretrain-empty-config",
    group: "5 sizes and arguments",
    what: "pretrain({}) from the library",
    setup: (c) => call(() => pretrain(join(c.dir, "run"), {} as never, {})),
    expect: { errorClass: ConfigError, message: /pretrain\(config\): section 'data' is missing \(build configs with loadConfig\(\)\)/ },
    unchanged: ["."],
  },
  {
    id: "api-load-config-set-string",
    group: "5 sizes and arguments",
    what: "loadConfig({ set: 'x=1' }) (a string, not an array)",
    setup: () => call(() => loadConfig({ set: "train.epochs=1" as never })),
    expect: { errorClass: ConfigError, message: /loadConfig\(options\.set\) must be an array, got string/ },
  },

  // parsers: handled before, kept so
  ...(
    [
      ["idx-wrong-magic", Buffer.from([1, 2, 3, 4, 0, 0, 0, 0]), /wrong magic number 0x01020304: not an IDX file/],
      ["idx-truncated-header", Buffer.from([0, 0, 8, 3, 0, 0]), /truncated header: 3 dimensions need 16 bytes, the file has 6/],
      ["idx-truncated-data", idx([2, 2], [1, 2, 3]), /truncated: shape \[2, 2\] needs 4 bytes of data, the file has 3/],
      ["idx-trailing-bytes", idx([2], [1, 2, 3]), /1 unexpected bytes after the data of shape \[2\]/],
      ["idx-float-elements", idx([1], [0, 0, 0, 0], 0x0d), /element type 0xd is not supported/],
      ["idx-no-dimensions", idx([], []), /an IDX file needs at least one dimension/],
      ["idx-gzip-corrupt", Buffer.from(gzipSync(idx([2], [1, 2])).map((b, i) => (i === 12 ? b ^ 0xff : b))), /gzip data is corrupt or truncated/],
      [
        "idx-gzip-bomb",
        gzipSync(Buffer.alloc(8 << 20)),
        /gzip data is corrupt or truncated, or a gzip bomb: its trailer declares 8388608 bytes, more than the 1048576 allowed/,
      ],
    ] as const
  ).map(([id, bytes, message]): BadInput => ({
    id,
    group: "parse",
    what: `an IDX file: ${id.slice(4).replace(/-/g, " ")}`,
    setup: (c) => {
      const file = write(join(c.dir, `${id}.idx`), bytes);
      return call(() => parseIdx(readFileSync(file), file, 1 << 20));
    },
    expect: { errorClass: DataError, message: new RegExp(`${id}\\.idx: ${message.source}`) },
  })),
  {
    id: "idx-labels-count-mismatch",
    group: "parse",
    what: "IDX labels for fewer images than the images file holds",
    setup: (c) => {
      const data = c.dataCopy();
      writeFileSync(join(data, "train-labels-idx1-ubyte"), idx([3], [0, 1, 2]));
      return cli("pretrain", "--out", join(c.dir, "run"), ...mnist(data, ...tiny));
    },
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /labels/ },
  },
  {
    id: "idx-data-folder-missing",
    group: "parse",
    what: "data.path pointing at a folder that does not exist",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), ...mnist(join(c.dir, "nowhere"), ...tiny)),
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /nowhere/ },
  },
  ...(
    [
      ["cifar-not-multiple", Buffer.alloc(3073 * 2 + 5), false, /truncated or not CIFAR binary: 6151 bytes is not a multiple of the 3073-byte record/],
      ["cifar-empty", Buffer.alloc(0), false, /is empty \(0 bytes\)/],
      ["cifar-label-11", Buffer.concat([Buffer.from([11]), Buffer.alloc(3072)]), false, /label 11 of record 0 is out of range \(0\.\.9\)/],
      ["cifar100-coarse-label", Buffer.concat([Buffer.from([25, 3]), Buffer.alloc(3072)]), true, /coarse label 25 of record 0 is out of range \(0\.\.19\)/],
      ["cifar100-fine-label", Buffer.concat([Buffer.from([2, 150]), Buffer.alloc(3072)]), true, /label 150 of record 0 is out of range \(0\.\.99\)/],
    ] as const
  ).map(([id, bytes, cifar100, message]): BadInput => ({
    id,
    group: "parse",
    what: `a CIFAR binary batch: ${id.replace(/-/g, " ")}`,
    setup: (c) => {
      const file = write(join(c.dir, `${id}.bin`), bytes);
      return call(() => parseCifarRecords(readFileSync(file), file, { variant: cifar100 ? "cifar100" : "cifar10" }));
    },
    expect: { errorClass: DataError, message: new RegExp(`${id}\\.bin: ${message.source}`) },
  })),
  {
    id: "cifar-missing-batch",
    group: "parse",
    what: "a CIFAR-10 folder missing data_batch_3.bin",
    setup: (c) => {
      const root = join(c.dir, "cifar-10-batches-bin");
      for (const name of ["data_batch_1.bin", "data_batch_2.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"])
        write(join(root, name), Buffer.alloc(3073));
      return cli("pretrain", "--out", join(c.dir, "run"), "--set", "data.name=cifar10", "--set", `data.path=${c.dir}`, ...tiny.flatMap((s) => ["--set", s]));
    },
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /data_batch_3\.bin: not found/ },
  },
  ...(
    [
      ["safetensors-header-past-end", safetensorsWith({}, Buffer.alloc(0), 1000n), /header length 1000 runs past the end of the file/],
      ["safetensors-header-huge", safetensorsWith({}, Buffer.alloc(0), 2n ** 40n), /header length 1099511627776 exceeds the \d+-byte limit/],
      ["safetensors-header-not-json", Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{{{{")]), /header is not valid UTF-8 JSON/],
      ["safetensors-header-array", safetensorsWith([1, 2]), /header is not a JSON object/],
      [
        "safetensors-unknown-dtype",
        safetensorsWith({ w: { dtype: "F8", shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)),
        /tensor 'w': unknown or unsupported dtype "F8"/,
      ],
      [
        "safetensors-negative-shape",
        safetensorsWith({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, Buffer.alloc(4)),
        /tensor 'w': shape must be an array of non-negative integers/,
      ],
      [
        "safetensors-size-mismatch",
        safetensorsWith({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, Buffer.alloc(4)),
        /tensor 'w': shape \[2\] of F32 needs 8 bytes, data_offsets give 4/,
      ],
      [
        "safetensors-overlap",
        safetensorsWith({ a: { dtype: "U8", shape: [4], data_offsets: [0, 4] }, b: { dtype: "U8", shape: [4], data_offsets: [2, 6] } }, Buffer.alloc(6)),
        /overlap tensor 'a'/,
      ],
      [
        "safetensors-trailing",
        safetensorsWith({ a: { dtype: "U8", shape: [2], data_offsets: [0, 2] } }, Buffer.alloc(5)),
        /3 trailing bytes that belong to no tensor/,
      ],
      ["safetensors-metadata-number", safetensorsWith({ __metadata__: { epoch: 3 } }), /__metadata__\.epoch must be a string/],
    ] as const
  ).map(([id, bytes, message]): BadInput => ({
    id,
    group: "parse",
    what: `a safetensors file: ${id.slice(12).replace(/-/g, " ")}`,
    setup: (c) => {
      const file = write(join(c.dir, `${id}.safetensors`), bytes);
      return call(() => parseSafetensors(readFileSync(file), file));
    },
    expect: { errorClass: DataError, message: new RegExp(`${id}\\.safetensors: .*${message.source}`) },
  })),
  {
    id: "import-wrong-keys",
    group: "parse",
    what: "simclr import of a safetensors file whose keys are not a ResNet's",
    setup: (c) => {
      const t = rand([3, 3]);
      writeSafetensors(join(c.dir, "other.safetensors"), { "fc.weight": t, "something.else": t });
      t.dispose();
      return cli("import", "--weights", join(c.dir, "other.safetensors"), "--out", join(c.dir, "imported"), "--width", "4");
    },
    expect: { code: "ERR_SIMCLR_CHECKPOINT", exit: 1, message: /other\.safetensors has no conv1\.weight: not a resnet18 state dict with torchvision.s names/ },
  },
  {
    id: "image-folder-corrupt-jpeg",
    group: "parse",
    what: "an image folder with a file that is not an image",
    setup: (c) => {
      imageFolder(join(c.dir, "images"), { a: 3, b: 3 });
      writeFileSync(join(c.dir, "images", "a", "broken.jpg"), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 1, 2, 3]));
      return cli(
        "pretrain",
        "--out",
        join(c.dir, "run"),
        "--set",
        "data.name=image-folder",
        "--set",
        `data.path=${join(c.dir, "images")}`,
        "--set",
        "data.size=8",
        "--set",
        "train.batchSize=2",
        ...["model.width=2", "train.epochs=1", "monitor.knnEvery=0"].flatMap((s) => ["--set", s]),
      );
    },
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /a\/broken\.jpg/ },
  },
  {
    id: "image-folder-png-bomb",
    group: "parse",
    what: "a PNG whose header claims 60000 x 60000 pixels",
    setup: (c) => {
      imageFolder(join(c.dir, "images"), { a: 3, b: 3 });
      writeFileSync(join(c.dir, "images", "a", "bomb.png"), pngClaiming(60000, 60000));
      return cli(
        "pretrain",
        "--out",
        join(c.dir, "run"),
        "--set",
        "data.name=image-folder",
        "--set",
        `data.path=${join(c.dir, "images")}`,
        "--set",
        "data.size=8",
        "--set",
        "train.batchSize=2",
        ...["model.width=2", "train.epochs=1", "monitor.knnEvery=0"].flatMap((s) => ["--set", s]),
      );
    },
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /a\/bomb\.png/ },
  },
  {
    id: "image-folder-empty",
    group: "parse",
    what: "an image folder with no images",
    setup: (c) => (
      mkdirSync(join(c.dir, "images", "a"), { recursive: true }),
      cli("pretrain", "--out", join(c.dir, "run"), "--set", "data.name=image-folder", "--set", `data.path=${join(c.dir, "images")}`)
    ),
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /images/ },
  },
  {
    id: "embed-images-missing",
    group: "parse",
    what: "embed --images naming a folder that does not exist",
    setup: (c) => (c.run(), cli("embed", "--run", join(c.dir, "run"), "--images", join(c.dir, "nowhere"), "--out", join(c.dir, "h.npy"))),
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /nowhere/ },
    unchanged: ["run"],
  },
  {
    id: "search-index-missing",
    group: "parse",
    what: "search with an index file that does not exist",
    setup: (c) => cli("search", "--index", join(c.dir, "none.index"), "--query", join(c.dir, "q.png")),
    expect: { code: "ERR_SIMCLR_DATA", exit: 1, message: /none\.index/ },
  },
  {
    id: "export-unknown-format",
    group: "parse",
    what: "export --format xyz",
    setup: (c) => (c.run(), cli("export", "--run", join(c.dir, "run"), "--out", join(c.dir, "x"), "--format", "xyz")),
    expect: { code: "ERR_SIMCLR_USAGE", exit: 2, message: /xyz/ },
    unchanged: ["run"],
  },

  // config: handled before, kept so
  ...(
    [
      ["config-yaml-syntax", "train:\n  epochs: [1, 2\n", /not valid YAML/],
      ["config-unknown-key", "train:\n  epocs: 3\n", /unknown key 'train\.epocs' \(known in train: epochs/],
      ["config-wrong-type", "train:\n  epochs: three\n", /train\.epochs/],
      [
        "config-alias-bomb",
        `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n`,
        /not valid YAML|alias/i,
      ],
      ["config-top-level-list", "- train\n- model\n", /the top level must be a mapping of sections/],
      ["config-section-scalar", "train: 3\n", /'train' must be a mapping of settings/],
      ["config-negative-lr", "optim:\n  lr: -1\n", /optim\.lr.*must be >= 0, got -1/],
      ["config-batch-one", "train:\n  batchSize: 1\n", /train\.batchSize.*must be >= 2, got 1/],
      ["config-unknown-choice", "model:\n  arch: vgg16\n", /model\.arch.*vgg16/],
    ] as const
  ).map(([id, yaml, message]): BadInput => ({
    id,
    group: "config",
    what: `a config file: ${id.slice(7).replace(/-/g, " ")}`,
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--config", write(join(c.dir, `${id}.yaml`), yaml)),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: new RegExp(`${id}\\.yaml: .*${message.source}`, message.flags) },
    unchanged: ["."],
  })),
  {
    id: "config-file-missing",
    group: "config",
    what: "--config naming a file that does not exist",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--config", join(c.dir, "nope.yaml")),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /nope\.yaml: cannot read/ },
    unchanged: ["."],
  },
  {
    id: "config-set-without-equals",
    group: "config",
    what: "--set with no '='",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--set", "train.epochs"),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /--set 'train\.epochs': expected key=value/ },
    unchanged: ["."],
  },
  {
    id: "config-set-unknown-key",
    group: "config",
    what: "--set with a misspelt key",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--set", "optim.learningRate=0.1"),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /--set: unknown key 'optim\.learningRate' \(known in optim: name, lr/ },
    unchanged: ["."],
  },
  {
    id: "unknown-flag",
    group: "config",
    what: "a flag the command does not have",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--epochs", "3"),
    expect: { code: "ERR_PARSE_ARGS_UNKNOWN_OPTION", exit: 2, message: /Unknown option '--epochs'/ },
    unchanged: ["."],
  },

  // ---- issue 24: 6 the server ----
  {
    id: "serve-cross-site-post",
    group: "6 server",
    what: "a search POSTed by a page on another site (Origin evil.example, Sec-Fetch-Site cross-site)",
    setup: (c) =>
      call(() =>
        withServer(c, (url) =>
          rawHttp(url, {
            method: "POST",
            path: "/api/search",
            headers: { "content-type": "application/json", origin: "http://evil.example", "sec-fetch-site": "cross-site" },
            body: JSON.stringify({ id: 0, k: 2 }),
          }),
        ),
      ),
    expect: { message: /^403 .*a request from another site \(Sec-Fetch-Site: cross-site\) is refused/ },
  },
  {
    id: "serve-dns-rebinding",
    group: "6 server",
    what: "/api/health asked with a DNS-rebinding Host header (Host: evil.example)",
    setup: (c) => call(() => withServer(c, (url) => rawHttp(url, { path: "/api/health", headers: { host: "evil.example" } }))),
    expect: { message: /^403 .*Host 'evil\.example' is not a name of this server/ },
  },
  {
    id: "serve-wildcard-no-token",
    group: "6 server",
    what: "a server on 0.0.0.0 (a token is generated) asked for an image with no token",
    setup: (c) => call(() => withServer(c, (url) => rawHttp(url, { path: "/api/image/0" }), { host: "0.0.0.0" })),
    expect: { message: /^401 .*this server needs its access token/ },
  },
  {
    id: "serve-empty-token",
    group: "6 server",
    what: "serve --host 0.0.0.0 --token '' (an empty token, as from an unset variable)",
    setup: (c) => cli("serve", "--index", join(c.dir, "any.index"), "--host", "0.0.0.0", "--token", ""),
    expect: { code: "ERR_SIMCLR_USAGE", exit: 2, message: /--token/ },
  },
  {
    id: "serve-big-json",
    group: "6 server",
    what: "a 5 MiB JSON body",
    setup: (c) =>
      call(() =>
        withServer(c, (url) =>
          rawHttp(url, {
            method: "POST",
            path: "/api/search",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ id: 0, pad: "x".repeat(5 * 2 ** 20) }),
          }),
        ),
      ),
    expect: { message: /^413 / },
  },
  {
    id: "serve-deleted-image",
    group: "6 server",
    what: "an image deleted after indexing: 404 without its path or errno",
    setup: (c) =>
      call(() =>
        withServer(c, async (url, { photos }) => {
          renameSync(join(photos, "a", "0.png"), join(photos, "a", "0.png.gone"));
          renameSync(join(photos, "a", "1.png"), join(photos, "a", "1.png.gone"));
          renameSync(join(photos, "a", "2.png"), join(photos, "a", "2.png.gone"));
          const r = await rawHttp(url, { path: "/api/image/0" });
          return r.includes(photos) || /ENOENT/.test(r) ? `leaks: ${r}` : r;
        }),
      ),
    expect: { message: /^404 .*no longer readable \(moved or deleted since it was indexed\)/ },
  },
  {
    id: "serve-port-in-use",
    group: "6 server",
    what: "serve --port P where P is taken",
    setup: (c) =>
      call(async () => {
        const { index } = await indexedFolder(c);
        const blocker = createServer();
        await new Promise<void>((done) => blocker.listen(0, "127.0.0.1", done));
        const port = (blocker.address() as { port: number }).port;
        try {
          await cliNow("serve", "--index", index, "--port", String(port));
          return "started";
        } catch (e) {
          return `${(e as { code: number }).code} ${(e as { stderr: string }).stderr}`;
        } finally {
          blocker.close();
        }
      }),
    expect: { message: /^1 simclr: serve: port \d+ on 127\.0\.0\.1 is in use .*choose another port/ },
  },
  // ---- issue 24: 7 indexes and image folders ----
  {
    id: "index-held-by-another",
    group: "7 indexes and folders",
    what: "index into an index another live process is writing (its INDEX.lock)",
    setup: (c) => {
      const photos = imageFolder(join(c.dir, "photos"), { a: 2 });
      write(join(c.dir, "photos.index.lock"), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      return cli("index", "--run", c.run(), "--images", photos, "--out", join(c.dir, "photos.index"));
    },
    expect: { code: "ERR_SIMCLR_LOCKED", exit: 1, message: new RegExp(`photos\\.index.*${process.pid}`) },
    unchanged: ["photos.index.lock"],
  },
  {
    id: "index-stale-temporary",
    group: "7 indexes and folders",
    what: "an index temporary a crashed writer left (photos.index.tmp-<dead pid>-x) is removed",
    setup: (c) => {
      const photos = imageFolder(join(c.dir, "photos"), { a: 2 });
      write(join(c.dir, "photos.index.tmp-999999-abcdef"), "half an index");
      return cli("index", "--run", c.run(), "--images", photos, "--out", join(c.dir, "photos.index"));
    },
    expect: { exit: 0, message: /index: removed .*photos\.index\.tmp-999999-abcdef, left by an interrupted write/ },
  },
  {
    id: "duplicates-empty-threshold",
    group: "7 indexes and folders",
    what: "duplicates --threshold= (an empty value, as from an unset shell variable)",
    setup: (c) => cli("duplicates", "--index", join(c.dir, "any.index"), "--threshold="),
    expect: { code: "ERR_SIMCLR_USAGE", exit: 2, message: /--threshold must be .*got ''/ },
  },
  {
    id: "index-latin1-name",
    group: "7 indexes and folders",
    what: "a file name that is not UTF-8 (caf\\xe9.png, as old archives make): reported, the rest indexed",
    setup: (c) => {
      const photos = imageFolder(join(c.dir, "photos"), { a: 2 });
      const good = readFileSync(join(photos, "a", "0.png"));
      writeFileSync(Buffer.concat([Buffer.from(join(photos, "a") + "/caf"), Buffer.from([0xe9]), Buffer.from(".png")]), good);
      return cli("index", "--run", c.run(), "--images", photos, "--out", join(c.dir, "photos.index"));
    },
    expect: { exit: 0, message: /^(?=[\s\S]*skipped .*caf\\xe9\.png: its name is not valid UTF-8)(?=[\s\S]*"files":2,)/ },
  },
  // ---- issue 24: 8 silently wrong configs and results ----
  {
    id: "config-lr-1e300",
    group: "8 silent results",
    what: "optim.lr=1e300 (was an internal error in aten::add_)",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), ...mnist(c.data, ...tiny, "optim.lr=1e300")),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /--set: optim\.lr must be <= 1000, got 1e\+300/ },
    unchanged: ["."],
  },
  {
    id: "config-temperature-inf",
    group: "8 silent results",
    what: "loss.temperature: .inf in a config file (was reported as 'got null')",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--config", write(join(c.dir, "inf.yaml"), "loss:\n  temperature: .inf\n")),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /inf\.yaml: loss\.temperature must be a number \(finite\), got Infinity/ },
    unchanged: ["."],
  },
  ...(
    [
      ["embed-diverged", ["embed", "--out", "h.npy", "--split", "test"], /embed .*inputs give NaN or infinite features/],
      ["index-diverged", ["index", "--images", "photos", "--out", "photos.index"], /index .*images give NaN or infinite features/],
      ["export-diverged", ["export", "--out", "encoder.safetensors"], /export .*: h: 8 of 8 inputs give NaN or infinite features/],
    ] as const
  ).map(([id, argv, message]): BadInput => ({
    id,
    group: "8 silent results",
    what: `${argv[0]} with a diverged checkpoint: finite weights whose features overflow (was accepted, exit 0)`,
    setup: (c) => {
      const run = diverged(c);
      if (argv[0] === "index") imageFolder(join(c.dir, "photos"), { a: 2 });
      return cli(argv[0], "--run", run, ...argv.slice(1).map((a) => (a.includes(".") || a === "photos" ? join(c.dir, a) : a)));
    },
    expect: { code: "ERR_SIMCLR_NON_FINITE_FEATURES", exit: 1, message: new RegExp(`${message.source}[\\s\\S]*allowNonFinite is --allow-non-finite`) },
  })),
  {
    id: "embed-sidecar-blocked",
    group: "8 silent results",
    what: "embed whose sidecar cannot be written (pair.json is a folder): neither file is left",
    setup: (c) => {
      mkdirSync(join(c.dir, "out", "pair.json"), { recursive: true });
      return cli("embed", "--run", c.run(), "--split", "test", "--out", join(c.dir, "out", "pair.npy"));
    },
    expect: { code: "ERR_SIMCLR_WRITE", exit: 1, message: /pair\.json/ },
    unchanged: ["out"],
  },
  // ---- issue 24: 9 moving and restarting runs ----
  {
    id: "resume-set-recipe-key",
    group: "9 moving and restarting",
    what: "--resume --set optim.lr=2 (a hyper-parameter): refused, listing the keys that may change",
    setup: (c) => cli("pretrain", "--out", c.stopped(), "--resume", "--set", "optim.lr=2"),
    expect: {
      code: "ERR_SIMCLR_CONFIG",
      exit: 2,
      message: /optim\.lr cannot change when a run resumes .*the keys that may: data\.path, train\.device, train\.threads, dist\.backend/,
    },
    unchanged: ["stopped"],
  },
  {
    id: "resume-data-moved",
    group: "9 moving and restarting",
    what: "a run whose data folder moved: --resume --set data.path=NEW finishes it (was refused)",
    setup: (c) => cli("pretrain", "--out", c.stopped(), "--resume", "--set", `data.path=${c.dataCopy()}`),
    expect: { exit: 0, message: /resuming with data\.path ".*data" \(was ".*"\)[\s\S]*finished after/ },
  },
  {
    id: "resume-auto-other-config",
    group: "9 moving and restarting",
    what: "--resume auto on a run started with another config: refused, naming the keys",
    setup: (c) => cli("pretrain", "--out", c.stopped(), "--resume", "auto", ...syntheticArgs(c.data, "train.epochs=5")),
    expect: { code: "ERR_SIMCLR_CONFIG", exit: 2, message: /holds a run with another config: train\.epochs is 1 there, 5 here/ },
    unchanged: ["stopped"],
  },
  {
    id: "resume-auto-fresh",
    group: "9 moving and restarting",
    what: "--resume auto on a directory that holds no run: starts it (the same command restarts it)",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--resume", "auto", ...syntheticArgs(c.data)),
    expect: { exit: 0, message: /finished after 4 steps/ },
  },
  // ---- issue 24: 10 distributed launches ----
  {
    id: "nproc-bad-batch-no-run-dir",
    group: "10 distributed",
    what: "--nproc 2 with a global batch that does not divide: refused before any worker, no run directory left",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--nproc", "2", ...mnist(c.data, ...tiny, "train.batchSize=65")),
    expect: { code: "ERR_SIMCLR_USAGE", exit: 2, message: /train\.batchSize 65 \(the global batch\) does not divide among 2 processes/ },
    unchanged: ["."],
  },
  {
    id: "nproc-missing-data-no-run-dir",
    group: "10 distributed",
    what: "--nproc 2 whose data folder is missing: the workers fail, no run directory left (was config.yaml and an empty metrics.jsonl)",
    setup: (c) => cli("pretrain", "--out", join(c.dir, "run"), "--nproc", "2", ...mnist(join(c.dir, "nowhere"), ...tiny)),
    expect: { code: "ERR_SIMCLR_DISTRIBUTED", exit: 1, message: /the job failed: rank \d exited with status 1/ },
    unchanged: ["."],
  },
  {
    id: "unknown-command",
    group: "config",
    what: "a command simclr does not have",
    setup: () => cli("pretrian"),
    expect: { code: "ERR_SIMCLR_USAGE", exit: 2, message: /unknown command 'pretrian'/ },
  },
];
