/** `simclr export --run DIR --out FILE|DIR [--checkpoint FILE] [--format safetensors|onnx|transformers-js] [--part encoder|encoder+head]` */
import { parseArgs } from "node:util";
import { evaluationConfig } from "../jobs/evaluation-config.js";
import { exportOnnx, exportSafetensors, exportTransformersJs } from "../jobs/export.js";
import type { OnnxCheck } from "../jobs/onnx-check.js";
import { UsageError, printResult } from "./common.js";

export const EXPORT_HELP = `simclr export --run DIR --out FILE|DIR [--checkpoint FILE] [--format safetensors|onnx|transformers-js] [--part encoder|encoder+head] [--fp16] [--allow-non-finite]

Writes the run's encoder f (and with --part encoder+head the projection head g):

  --format safetensors  (default) torchvision's parameter names, the head as head.*: a
                        torchvision ResNet loads it with strict=False, missing only fc.
  --format onnx         an ONNX model (opset 17) with input "input" (batch, C, H, W), outputs
                        "h" (and "z"), batch norm folded into the convolutions, a dynamic
                        batch axis. When onnxruntime-node is installed, the file is run on
                        test images and compared with libtorch (--no-check skips that).
  --format transformers-js  a folder (--out DIR) that transformers.js loads with
                        pipeline("image-feature-extraction", DIR): onnx/model.onnx,
                        config.json and preprocessor_config.json, which resizes, crops and
                        scales as training did (docs/export.md). Checked as for onnx.
  --fp16                with onnx or transformers-js: weights stored as float16 (half the
                        file), computed in float32; transformers-js then also writes
                        onnx/model_fp16.onnx (dtype "fp16") beside the float32 model.

Both record the architecture, width, stem, input channels and size, and the input scaling
(float32 pixels / 255, no mean/std normalisation) in their metadata. An encoder whose weights
or features (on a probe batch) are NaN or infinite, as from a run that diverged, is refused
unless --allow-non-finite.`;

const FORMATS = ["safetensors", "onnx", "transformers-js"];
const PARTS = ["encoder", "encoder+head"] as const;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: "string" },
      out: { type: "string" },
      checkpoint: { type: "string" },
      format: { type: "string" },
      part: { type: "string" },
      "no-check": { type: "boolean" },
      fp16: { type: "boolean" },
      "allow-non-finite": { type: "boolean" },
      help: { type: "boolean" },
    },
  });
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
  const options = {
    out: values.out,
    part: part as (typeof PARTS)[number],
    ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
    allowNonFinite: values["allow-non-finite"] ?? false,
    fp16: values.fp16 ?? false,
  };
  if (options.fp16 && format === "safetensors") throw new UsageError("--fp16 goes with --format onnx or transformers-js");
  const checkLine = (check: OnnxCheck | null) =>
    check === null
      ? { check: values["no-check"] ? "skipped (--no-check)" : "not run: onnxruntime-node is not installed (npm install onnxruntime-node)" }
      : {
          check: `onnxruntime-node vs libtorch on ${check.inputs}: max |diff| ${check.maxAbsDiff.toExponential(2)}`,
          ...Object.fromEntries(Object.entries(check.perOutput).map(([k, v]) => [`max_abs_diff_${k}`, v])),
        };
  if (format === "transformers-js") {
    if (part !== "encoder") throw new UsageError("--format transformers-js exports the encoder (h) only: drop --part");
    const result = await exportTransformersJs(values.run, evaluationConfig(values.run), { ...options, checkImages: values["no-check"] ? 0 : 8 });
    printResult({ out: result.out, files: result.files, bytes: result.bytes, ...checkLine(result.check) });
    return 0;
  }
  if (format === "onnx") {
    const result = await exportOnnx(values.run, evaluationConfig(values.run), { ...options, checkImages: values["no-check"] ? 0 : 8 });
    printResult({
      out: result.out,
      bytes: result.bytes,
      nodes: result.nodes,
      initializers: result.initializers,
      ...checkLine(result.check),
      ...result.metadata,
    });
    return 0;
  }
  const result = exportSafetensors(values.run, evaluationConfig(values.run), options);
  printResult({ out: result.out, tensors: result.tensors, ...result.metadata });
  return 0;
}
