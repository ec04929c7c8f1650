/** `simclr export --run DIR --out FILE [--checkpoint FILE] [--format safetensors] [--part encoder|encoder+head]` */
import { parseArgs } from "node:util";
import { evaluationConfig } from "../jobs/evaluation-config.js";
import { exportSafetensors } from "../jobs/export.js";
import { UsageError, printResult } from "./common.js";

export const EXPORT_HELP = `simclr export --run DIR --out FILE [--checkpoint FILE] [--format safetensors] [--part encoder|encoder+head]

Writes the run's encoder f (and with --part encoder+head the projection head g, as head.*) as
safetensors with torchvision's parameter names: a torchvision ResNet loads it with
strict=False, missing only fc. The metadata records the architecture, width, stem, input
channels and size, and the input scaling (pixels / 255, no normalisation).`;

const FORMATS = ["safetensors"];
const PARTS = ["encoder", "encoder+head"] as const;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { run: { type: "string" }, out: { type: "string" }, checkpoint: { type: "string" }, format: { type: "string" }, part: { type: "string" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(`${EXPORT_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("export needs --run DIR (a pretraining run)");
  if (!values.out) throw new UsageError("export needs --out FILE");
  const format = values.format ?? "safetensors";
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(", ")}, got '${format}'`);
  const part = values.part ?? "encoder";
  if (!(PARTS as readonly string[]).includes(part)) throw new UsageError(`--part must be one of ${PARTS.join(", ")}, got '${part}'`);
  const result = exportSafetensors(values.run, evaluationConfig(values.run), { out: values.out, part: part as (typeof PARTS)[number], ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}) });
  printResult({ out: result.out, tensors: result.tensors, ...result.metadata });
  return 0;
}
