/** `simclr import --weights FILE.safetensors --out DIR [--arch mobilenet_v3_small] [--width 64] [--set key=value ...]` */
import { parseArgs } from "node:util";
import { importWeights } from "../jobs/import.js";
import { CONFIG_OPTIONS, UsageError, printResult, resolveConfig } from "./common.js";

export const IMPORT_HELP = `simclr import --weights FILE.safetensors --out DIR [--arch ARCH] [--width N] [--config FILE] [--set key=value ...]

Makes DIR a run from a state dict in safetensors with torchvision's names (a torchvision
model's state_dict(), or simclr export's file), so eval, finetune, embed and export work on
weights trained elsewhere. --arch sets model.arch (resnet18 ... resnet152, mobilenet_v3_small,
mobilenet_v3_large, efficientnet_b0) and --width model.width (ResNets; a MobileNetV3's
multiplier is --set model.widthMult=0.75); set model.cifarStem=false for ImageNet-style
weights, and data.* for the data to evaluate on. The classifier (fc.* or classifier.*) is
left out; any other missing or unexpected key is an error naming it.`;

export async function importCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...CONFIG_OPTIONS,
      weights: { type: "string" },
      out: { type: "string" },
      arch: { type: "string" },
      width: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${IMPORT_HELP}\n`);
    return 0;
  }
  if (!values.weights) throw new UsageError("import needs --weights FILE.safetensors");
  if (!values.out) throw new UsageError("import needs --out DIR (the run directory to create)");
  const config = resolveConfig(values, { arch: "model.arch", width: "model.width" });
  const result = importWeights(values.out, config, { file: values.weights });
  printResult({ run: result.runDir, checkpoint: result.checkpoint, dropped: result.dropped });
  return 0;
}
