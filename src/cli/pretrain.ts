/** `simclr pretrain --out DIR [--config FILE.yaml] [--set key=value ...] [--resume] [--nproc N ...]` */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { launchWorkers } from "../jobs/launch.js";
import { launchEnv, pretrain, pretrainOrResume, resume } from "../jobs/pretrain.js";
import { RunExistsError } from "../errors.js";
import { checkLocationOverrides } from "../config/load.js";
import { LOCATION_KEYS } from "../config/schema.js";
import { CONFIG_OPTIONS, UsageError, integerFlag, printConfig, resolveConfig } from "./common.js";

export const PRETRAIN_HELP = `simclr pretrain --out DIR [--config FILE.yaml] [--set key=value ...] [--skip-bad] [--init FILE] [--resume [auto] | --force]
                [--nproc N [--nnodes M --node-rank K --master-addr HOST] [--master-port P]]

Pretrains a SimCLR encoder. With no config: the demo's settings (Fashion-MNIST, ResNet-18
width 16, CIFAR stem, batch 256, temperature 0.5). DIR gets config.yaml, metrics.jsonl and
checkpoints/. SIGINT/SIGTERM save a checkpoint and stop; --resume continues from it with
the run's saved config; --set may then change only where the run runs (${LOCATION_KEYS.join(", ")}):
the data moved, another machine. --resume auto starts the run when DIR holds none and resumes
it when DIR holds the same run (the same config, those keys aside), so one command survives
torchrun restarts and Slurm requeues; a different config is refused, naming the keys.
A DIR that already holds a run is refused unless --resume, or --force, which moves the old
run aside (DIR.replaced-<time>/) and starts afresh. One process writes a run at a time
(DIR/.lock names it). --init FILE (model.init) starts the encoder from weights trained elsewhere:
a torchvision state dict, an exported encoder or a run's model.safetensors; the head starts
fresh, and DIR/init.json records the file and its sha256. Keys: see docs/config.md or
\`simclr config --keys\`.

--nproc N trains data-parallel in N processes on this machine (train.batchSize is the
global batch); with --nnodes, --node-rank and --master-addr this machine joins a job over
several (start the same command on each, --node-rank 0 on the master). Workers started by
torchrun (RANK, WORLD_SIZE, ... set) join their job without --nproc. See docs/distributed.md.`;

const LAUNCH_FLAGS = ["nproc", "nnodes", "node-rank", "master-addr", "master-port"] as const;
/** Flags that set a config key. */
const KEY_FLAGS = { init: "model.init" } as const;

/** `--resume auto` (or `--resume=auto`) taken out of argv: parseArgs reads --resume as a switch. */
function takeResumeAuto(argv: string[]): { auto: boolean; rest: string[] } {
  const rest: string[] = [];
  let auto = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--resume=auto" || (argv[i] === "--resume" && argv[i + 1] === "auto")) {
      auto = true;
      if (argv[i] === "--resume") i++;
    } else if (argv[i]?.startsWith("--resume=")) {
      throw new UsageError(`--resume takes no value or 'auto', got '${argv[i]?.slice("--resume=".length)}'`);
    } else rest.push(argv[i] as string);
  }
  return { auto, rest };
}

export async function pretrainCommand(argv: string[]): Promise<number> {
  const { auto, rest } = takeResumeAuto(argv);
  const { values } = parseArgs({
    args: rest,
    options: {
      ...CONFIG_OPTIONS,
      out: { type: "string" },
      resume: { type: "boolean" },
      force: { type: "boolean" },
      init: { type: "string" },
      nproc: { type: "string" },
      nnodes: { type: "string" },
      "node-rank": { type: "string" },
      "master-addr": { type: "string" },
      "master-port": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${PRETRAIN_HELP}\n`);
    return 0;
  }
  if (!values.out) throw new UsageError("pretrain needs --out DIR (where the run is written)");
  if (auto && values.resume) throw new UsageError("give --resume or --resume auto, not both");
  if (values.resume && (values.config || values["skip-bad"] || values.init)) {
    throw new UsageError(
      "--resume continues with the run's saved config: drop --config/--skip-bad/--init (--set may change only where it runs; --resume auto takes a config)",
    );
  }
  if (values.resume) checkLocationOverrides(values.set ?? [], "--set"); // before the run is touched
  if ((values.resume || auto) && values.force) throw new UsageError("--resume continues the run in DIR; --force replaces it: give one of them");
  if (values.nproc !== undefined) {
    const nnodes = integerFlag("nnodes", values.nnodes, 1);
    if (nnodes > 1 && values["master-addr"] === undefined) throw new UsageError("--nnodes > 1 needs --master-addr HOST (the machine of --node-rank 0)");
    const nodeRank = integerFlag("node-rank", values["node-rank"], 0, 0);
    if (nodeRank >= nnodes) throw new UsageError(`--node-rank ${nodeRank} must be below --nnodes ${nnodes}`);
    // a bad config is one error here, not one per worker, and leaves no run directory
    if (!values.resume) checkGlobalBatch(resolveConfig(values, KEY_FLAGS).train.batchSize, integerFlag("nproc", values.nproc, 1) * nnodes);
    const masterPort = values["master-port"] === undefined ? undefined : integerFlag("master-port", values["master-port"], 0);
    if (masterPort !== undefined && masterPort > 65535) throw new UsageError(`--master-port must be at most 65535, got ${masterPort}`);
    // The workers run this same command without the launcher's flags.
    const workerArgs = ["pretrain", ...stripFlags(argv, LAUNCH_FLAGS)];
    return launchWorkers({
      nproc: integerFlag("nproc", values.nproc, 1),
      nnodes,
      nodeRank,
      ...(values["master-addr"] !== undefined ? { masterAddr: values["master-addr"] } : {}),
      ...(masterPort !== undefined ? { masterPort } : {}),
      script: fileURLToPath(new URL("./main.js", import.meta.url)),
      args: workerArgs,
    });
  }
  for (const flag of LAUNCH_FLAGS) if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --nproc N`);
  const launch = launchEnv();
  let result;
  if (values.resume) {
    result = await resume(values.out, { launch, set: values.set ?? [], setSource: "--set" });
  } else if (auto) {
    const config = resolveConfig(values, KEY_FLAGS);
    if ((launch?.rank ?? 0) === 0) printConfig(config);
    result = await pretrainOrResume(values.out, config, { launch });
  } else {
    const config = resolveConfig(values, KEY_FLAGS);
    if ((launch?.rank ?? 0) === 0) printConfig(config);
    try {
      result = await pretrain(values.out, config, { launch, force: values.force ?? false });
    } catch (e) {
      throw e instanceof RunExistsError ? new RunExistsError(e.path, e.entries, "--force") : e;
    }
  }
  if ((launch?.rank ?? 0) !== 0) return result.status === "stopped" ? 130 : 0;
  if (result.status === "stopped") {
    process.stderr.write(`continue with: simclr pretrain --out ${values.out} ${auto ? "--resume auto (the same command)" : "--resume"}\n`);
    return 130;
  }
  process.stderr.write(`finished after ${result.globalStep} steps; last checkpoint ${result.checkpoint}\n`);
  return 0;
}

function checkGlobalBatch(batch: number, worldSize: number): void {
  if (batch % worldSize !== 0) throw new UsageError(`train.batchSize ${batch} (the global batch) does not divide among ${worldSize} processes`);
}

/** argv without `--flag value` and `--flag=value` for the given flags. */
function stripFlags(argv: string[], flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined;
    if (name !== undefined && flags.includes(name)) {
      if (!arg.includes("=")) i++; // its value
      continue;
    }
    out.push(arg);
  }
  return out;
}
