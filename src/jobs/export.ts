/**
 * Taking an encoder out of a run: safetensors with torchvision's parameter names (a
 * torchvision ResNet loads it with strict=False, missing only `fc`), and metadata that says
 * how to feed it: architecture, width, stem, input channels and size, and the input scaling.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config/schema.js";
import { writeSafetensors } from "../nn/safetensors.js";
import { dataShape } from "../recipe/recipe.js";
import { loadEncoder } from "../run/encoder.js";
import type { Tensor } from "../tensor/tensor.js";

export type ExportPart = "encoder" | "encoder+head";

export interface ExportOptions {
  out: string;
  /** A checkpoint folder or model.safetensors (default: the run's latest). */
  checkpoint?: string;
  /** encoder: f only, torchvision's names; encoder+head: also g, as `head.*`. */
  part?: ExportPart;
}

function packageVersion(): string {
  const path = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "package.json");
  return (JSON.parse(readFileSync(path, "utf-8")) as { version: string }).version;
}

/** Writes the run's encoder (and head) to `options.out`; returns what was written. */
export function exportSafetensors(runDir: string, config: Config, options: ExportOptions): { out: string; tensors: number; metadata: Record<string, string> } {
  const part = options.part ?? "encoder";
  const [channels, side] = dataShape(config);
  const source = loadEncoder({ config, inChannels: channels, runDir, ...(options.checkpoint !== undefined ? { checkpoint: options.checkpoint } : {}) });
  try {
    const tensors = new Map<string, Tensor>(source.encoder.stateDict());
    if (part === "encoder+head") for (const [k, t] of source.model.head.stateDict()) tensors.set(`head.${k}`, t);
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
    writeSafetensors(options.out, tensors, metadata);
    return { out: options.out, tensors: tensors.size, metadata };
  } finally {
    source.model.dispose();
  }
}
