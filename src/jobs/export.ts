/**
 * Taking an encoder out of a run: safetensors with torchvision's parameter names (a
 * torchvision ResNet loads it with strict=False, missing only `fc`), or an ONNX graph
 * (opset 17, BN folded, dynamic batch) that onnxruntime runs; both carry metadata that says
 * how to feed the encoder: architecture, width, stem, input channels and size, input scaling.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config/schema.js";
import { ArgumentError, FileWriteError } from "../errors.js";
import { loadDataset } from "../data/datasets.js";
import { writeSafetensors } from "../nn/safetensors.js";
import { writeFileAtomic, writeFilesAtomic } from "../io/atomic.js";
import { dataShape } from "../recipe/recipe.js";
import { checkFeaturesFinite, loadEncoder, type EncoderSource } from "../run/encoder.js";
import { encodeOnnx, fp16Weights } from "../run/onnx.js";
import { onnxGraph } from "../run/onnx-model.js";
import { rand } from "../tensor/factory.js";
import { toUnitFloat } from "../tensor/pixels.js";
import { noGrad } from "../tensor/runtime.js";
import { withSeed } from "../tensor/rng.js";
import { disposingAfter, type Owned } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { compareWithOnnxRuntime, type OnnxCheck } from "./onnx-check.js";
import { checkConfig } from "../config/load.js";

export type ExportPart = "encoder" | "encoder+head";

export interface ExportOptions {
  /** Load weights that hold NaN or infinite values, and export an encoder whose features are (both refused by default: they give silently wrong results). */
  allowNonFinite?: boolean;
  out: string;
  /** A checkpoint folder or model.safetensors (default: the run's latest). */
  checkpoint?: string;
  /** encoder: f only, torchvision's names; encoder+head: also g, as `head.*`. */
  part?: ExportPart;
  /** ONNX: store the weights as float16 (half the file), computed in float32 (run/onnx.ts fp16Weights). */
  fp16?: boolean;
}

function packageVersion(): string {
  const path = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "package.json");
  return (JSON.parse(readFileSync(path, "utf-8")) as { version: string }).version;
}

function metadataOf(config: Config, source: EncoderSource, part: ExportPart): Record<string, string> {
  const [channels, side] = dataShape(config);
  const metadata: Record<string, string> = {
    format: "pt",
    "simclr.version": packageVersion(),
    "simclr.part": part,
    "simclr.arch": config.model.arch,
    "simclr.width": String(config.model.width),
    "simclr.cifar_stem": String(config.model.cifarStem),
    "simclr.in_channels": String(channels),
    "simclr.input_size": String(config.augment.size ?? side),
    "simclr.input": "float32 (N, C, H, W) in [0, 1] (pixels / 255), no mean/std normalisation",
    "simclr.feature_dim": String(source.encoder.featureDim),
    "simclr.checkpoint": source.origin,
  };
  if (part === "encoder+head") {
    metadata["simclr.head_layers"] = String(config.head.layers);
    metadata["simclr.out_dim"] = String(config.head.outDim);
  }
  return metadata;
}

function loadFor(runDir: string, config: Config, options: ExportOptions): EncoderSource {
  const [channels] = dataShape(config);
  return loadEncoder({
    config,
    inChannels: channels,
    runDir,
    ...(options.checkpoint !== undefined ? { checkpoint: options.checkpoint } : {}),
    allowNonFinite: options.allowNonFinite ?? false,
  });
}

/**
 * Refuses an encoder whose forward pass overflows: finite weights (loadStateDict checks those)
 * can still give NaN or infinite h or z when a run diverged, and an exported file would pass
 * them on to every user. The probe is 8 seeded uniform-noise images, as the inputs are pixels
 * in [0, 1], with BN in inference mode.
 */
function probeExport(source: EncoderSource, config: Config, options: ExportOptions): void {
  const [channels, side] = dataShape(config);
  const images = withSeed(config.train.seed, () => rand([8, channels, side, side])); // (8, C, S, S)
  try {
    const { h, z } = source.model.inInferenceMode(() => noGrad(() => source.model.call(images)));
    try {
      checkFeaturesFinite(h, `export ${options.out}: h`, source.origin, options.allowNonFinite ?? false);
      if ((options.part ?? "encoder") === "encoder+head") checkFeaturesFinite(z, `export ${options.out}: z`, source.origin, options.allowNonFinite ?? false);
    } finally {
      h.dispose();
      z.dispose();
    }
  } finally {
    images.dispose();
  }
}

/** Writes the run's encoder (and head) to `options.out`; returns what was written. */
export function exportSafetensors(runDir: string, config: Config, options: ExportOptions): { out: string; tensors: number; metadata: Record<string, string> } {
  checkConfig(config, "exportSafetensors(config)");
  const part = options.part ?? "encoder";
  return disposingAfter((owned) => {
    const source = loadFor(runDir, config, options);
    owned.push(source.model);
    probeExport(source, config, options);
    const tensors = new Map<string, Tensor>(source.encoder.stateDict());
    if (part === "encoder+head") for (const [k, t] of source.model.head.stateDict()) tensors.set(`head.${k}`, t);
    const metadata = metadataOf(config, source, part);
    writeSafetensors(options.out, tensors, metadata);
    return { out: options.out, tensors: tensors.size, metadata };
  });
}

export interface OnnxExportResult {
  out: string;
  bytes: number;
  nodes: number;
  initializers: number;
  metadata: Record<string, string>;
  /** onnxruntime-node against libtorch on test images; null when onnxruntime-node is absent. */
  check: OnnxCheck | null;
}

/** Up to `n` test images of the run's data set as float32 in [0, 1]; seeded noise where the data set cannot be read. What it makes goes onto `owned`. */
async function checkImages(owned: Owned[], config: Config, n: number): Promise<{ images: Tensor; inputs: string }> {
  const [channels, side] = dataShape(config);
  try {
    const test = await loadDataset({ ...config.data, limit: n }, "test");
    owned.push(test.images, test.labels);
    const images = toUnitFloat(test.images); // (n, C, H, W)
    owned.push(images);
    return { images, inputs: `${images.size(0)} images of ${test.description}` };
  } catch {
    const images = withSeed(config.train.seed, () => rand([n, channels, side, side]));
    owned.push(images);
    return { images, inputs: `${n} uniform-noise images (the run's data set could not be read)` };
  }
}

/**
 * Writes the run's encoder (and head) as an ONNX model (opset 17, BN folded, dynamic batch),
 * then runs it in onnxruntime-node on test images against libtorch when that is installed.
 */
export async function exportOnnx(
  runDir: string,
  config: Config,
  options: ExportOptions & { foldBatchNorm?: boolean; checkImages?: number },
): Promise<OnnxExportResult> {
  checkConfig(config, "exportOnnx(config)");
  return disposingAfter((owned) => exportOnnxIn(owned, runDir, config, options));
}

async function exportOnnxIn(
  owned: Owned[],
  runDir: string,
  config: Config,
  options: ExportOptions & { foldBatchNorm?: boolean; checkImages?: number },
): Promise<OnnxExportResult> {
  const part = options.part ?? "encoder";
  const source = loadFor(runDir, config, options);
  owned.push(source.model);
  probeExport(source, config, options);
  source.model.eval();
  const { format: _pt, ...metadata } = metadataOf(config, source, part);
  metadata["simclr.batch_norm"] = options.foldBatchNorm === false ? "nodes" : "folded";
  const graph = onnxGraph(source.encoder, {
    inputSize: Number(metadata["simclr.input_size"]),
    foldBatchNorm: options.foldBatchNorm ?? true,
    ...(part === "encoder+head" ? { head: source.model.head } : {}),
  });
  if (options.fp16) metadata["simclr.weights"] = "float16, computed in float32";
  const written = options.fp16 ? fp16Weights(graph) : graph;
  const bytes = encodeOnnx(written, {
    producerVersion: packageVersion(),
    metadata,
    docString: `SimCLR ${config.model.arch} encoder${part === "encoder+head" ? " and projection head" : ""} from ${source.origin}`,
  });
  writeFileAtomic(options.out, bytes);
  const n = options.checkImages ?? 8;
  let check: OnnxCheck | null = null;
  if (n > 0) {
    const { images, inputs } = await checkImages(owned, config, n);
    const { h, z } = noGrad(() => source.model.call(images)); // (n, D), (n, outDim)
    owned.push(h, z);
    check = await compareWithOnnxRuntime(options.out, images, part === "encoder+head" ? { h, z } : { h }, inputs);
  }
  return { out: options.out, bytes: statSync(options.out).size, nodes: written.nodes.length, initializers: written.initializers.length, metadata, check };
}

export interface TransformersJsExportResult {
  /** The folder: config.json, preprocessor_config.json, onnx/model.onnx. */
  out: string;
  files: string[];
  bytes: number;
  /** onnxruntime-node against libtorch on test images; null when onnxruntime-node is absent. */
  check: OnnxCheck | null;
}

/**
 * Writes the run's encoder as a folder that transformers.js loads with
 * `pipeline("image-feature-extraction", DIR)`: onnx/model.onnx (input "pixel_values", h as
 * "pooler_output" and "last_hidden_state"), config.json (model_type resnet, and the run's
 * metadata under "simclr"), and preprocessor_config.json, which preprocesses as training
 * decoded images: the shorter edge resized to the input side with Lanczos-3 (sharp's
 * default, which the loader uses), a centre crop to a square, pixels / 255, no mean/std. A
 * 1-channel encoder takes RGB and averages the channels (exact for grayscale images). The three
 * files are written together (writeFilesAtomic), after the same finite-features probe.
 */
export async function exportTransformersJs(
  runDir: string,
  config: Config,
  options: ExportOptions & { checkImages?: number },
): Promise<TransformersJsExportResult> {
  checkConfig(config, "exportTransformersJs(config)");
  return disposingAfter(async (owned) => {
    const source = loadFor(runDir, config, { ...options, part: "encoder" });
    owned.push(source.model);
    probeExport(source, config, { ...options, part: "encoder" });
    source.model.eval();
    const metadata = metadataOf(config, source, "encoder");
    const side = Number(metadata["simclr.input_size"]);
    const channels = Number(metadata["simclr.in_channels"]);
    const graph = onnxGraph(source.encoder, { inputSize: side, names: { input: "pixel_values", h: ["pooler_output", "last_hidden_state"] }, rgbInput: true });
    const onnx = encodeOnnx(graph, {
      producerVersion: packageVersion(),
      metadata: { ...metadata, "simclr.input": "pixel_values: float32 (N, 3, H, W) in [0, 1] (pixels / 255), no mean/std" },
      docString: `SimCLR ${config.model.arch} encoder from ${source.origin}, for transformers.js image-feature-extraction`,
    });
    const modelConfig = {
      model_type: "resnet",
      architectures: ["ResNetModel"],
      num_channels: 3,
      hidden_size: source.encoder.featureDim,
      simclr: Object.fromEntries(
        Object.entries(metadata)
          .filter(([k]) => k.startsWith("simclr."))
          .map(([k, v]) => [k.slice("simclr.".length), v]),
      ),
    };
    const preprocessor = {
      image_processor_type: "ViTImageProcessor",
      do_convert_rgb: true,
      do_resize: true,
      size: { shortest_edge: side },
      resample: 1, // Lanczos: sharp's lanczos3, as the loader resizes
      do_center_crop: true,
      crop_size: { height: side, width: side },
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: false,
      image_mean: new Array(3).fill(0),
      image_std: new Array(3).fill(1),
      simclr_in_channels: channels,
    };
    if (existsSync(options.out) && !statSync(options.out).isDirectory())
      throw new ArgumentError(`exportTransformersJs: out ${options.out} is a file; the transformers.js export is a folder: give a folder's path`);
    try {
      mkdirSync(join(options.out, "onnx"), { recursive: true });
    } catch (e) {
      throw new FileWriteError(join(options.out, "onnx"), e);
    }
    const files = [
      { path: join(options.out, "onnx", "model.onnx"), bytes: onnx },
      // transformers.js loads this one with { dtype: "fp16" }
      ...(options.fp16
        ? [
            {
              path: join(options.out, "onnx", "model_fp16.onnx"),
              bytes: encodeOnnx(fp16Weights(graph), {
                producerVersion: packageVersion(),
                metadata: {
                  ...metadata,
                  "simclr.input": "pixel_values: float32 (N, 3, H, W) in [0, 1] (pixels / 255), no mean/std",
                  "simclr.weights": "float16, computed in float32",
                },
                docString: `SimCLR ${config.model.arch} encoder from ${source.origin}, float16 weights, for transformers.js`,
              }),
            },
          ]
        : []),
      { path: join(options.out, "config.json"), bytes: `${JSON.stringify(modelConfig, null, 2)}\n` },
      { path: join(options.out, "preprocessor_config.json"), bytes: `${JSON.stringify(preprocessor, null, 2)}\n` },
    ];
    writeFilesAtomic(files);
    // a float16 model left by an earlier --fp16 export would be another checkpoint's weights
    if (!options.fp16) rmSync(join(options.out, "onnx", "model_fp16.onnx"), { force: true });
    const n = options.checkImages ?? 8;
    let check: OnnxCheck | null = null;
    if (n > 0) {
      const { images, inputs } = await checkImages(owned, config, n);
      const { h, z } = noGrad(() => source.model.call(images)); // (n, D), (n, outDim)
      owned.push(h, z);
      let rgb = images; // (n, 3, S, S)
      if (images.size(1) === 1) {
        rgb = images.expand([images.size(0), 3, images.size(2), images.size(3)]).contiguous();
        owned.push(rgb);
      }
      check = await compareWithOnnxRuntime(files[0]!.path, rgb, { pooler_output: h, last_hidden_state: h }, inputs, "pixel_values");
      if (check !== null && options.fp16) {
        const half = await compareWithOnnxRuntime(files[1]!.path, rgb, { pooler_output: h }, inputs, "pixel_values");
        if (half !== null) check.perOutput["pooler_output_fp16"] = half.maxAbsDiff;
      }
    }
    return { out: options.out, files: files.map((f) => f.path), bytes: files.reduce((sum, f) => sum + Buffer.byteLength(f.bytes), 0), check };
  });
}
