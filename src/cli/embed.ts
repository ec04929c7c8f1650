/** `simclr embed --run DIR --out FILE.npy [--images PATH | --set data.*=... --split train|test] [--z]` */
import { parseArgs } from "node:util";
import { embed } from "../jobs/embed.js";
import { evaluationConfig } from "../jobs/evaluation-config.js";
import { UsageError, printResult } from "./common.js";

export const EMBED_HELP = `simclr embed --run DIR --out FILE.npy [--images PATH] [--set data.*=...] [--split train|test] [--z] [--checkpoint FILE] [--allow-non-finite]

Writes h (or z with --z) of every image as a float32 .npy (N, D), and FILE.json beside it with
the files (for --images), labels where known, and the images that could not be read (skipped
and reported). --images embeds a folder (flat, or one sub-folder per class) resized to what the
run was trained on; without it, the run's data set (or --set data.*), --split train by default.
The two files are written together: neither is left without the other. Features that come out
NaN or infinite (a run that diverged) are refused unless --allow-non-finite.`;

export async function embedCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: "string" },
      out: { type: "string" },
      images: { type: "string" },
      split: { type: "string" },
      z: { type: "boolean" },
      checkpoint: { type: "string" },
      "allow-non-finite": { type: "boolean" },
      set: { type: "string", multiple: true },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${EMBED_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("embed needs --run DIR (a pretraining run)");
  if (!values.out) throw new UsageError("embed needs --out FILE.npy");
  if (!values.out.endsWith(".npy")) throw new UsageError(`--out must end in .npy, got '${values.out}'`);
  const split = values.split ?? "train";
  if (split !== "train" && split !== "test") throw new UsageError(`--split must be train or test, got '${split}'`);
  if (values.images !== undefined && values.set !== undefined)
    throw new UsageError("--images embeds a folder; --set data.* chooses a data set instead: give one of them");
  const config = evaluationConfig(values.run, { set: values.set ?? [], setSource: "--set" });
  const result = await embed(values.run, config, {
    out: values.out,
    split,
    z: values.z ?? false,
    ...(values.images !== undefined ? { images: values.images } : {}),
    ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
    allowNonFinite: values["allow-non-finite"] ?? false,
  });
  printResult({ out: result.out, sidecar: result.sidecar, shape: result.shape, skipped: result.skipped.length });
  return 0;
}
