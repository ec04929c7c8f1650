/**
 * A search index on disk: one safetensors file holding `embeddings`, float32 (N, D) rows of
 * unit length (h of each image, L2-normalised, so a dot product is the cosine), and in its
 * metadata `simclr.index`, a JSON record of the indexed folder, every file (path relative to
 * the folder, size, mtime) in row order, and the identity of the model that embedded them.
 * Written atomically (a temporary file renamed over the old one), so a crash mid-write
 * leaves the previous index readable.
 */
import { DataError } from "../errors.js";
import { readSafetensors, writeSafetensors } from "../nn/safetensors.js";
import type { Tensor } from "../tensor/tensor.js";

export const INDEX_FORMAT = "simclr-index/1";

export interface IndexedFile {
  /** Relative to the index's root, with "/" separators. */
  path: string;
  size: number;
  mtimeMs: number;
}

/** What embedded the images: a query must be embedded by the same weights to be comparable. */
export interface ModelIdentity {
  /** sha256 over the encoder's state dict and the input shape. */
  hash: string;
  run: string;
  checkpoint: string;
  arch: string;
  /** A ResNet's model.width, a MobileNetV3's width multiplier; 1 for EfficientNet. */
  width: number;
  inChannels: number;
  inputSize: number;
  featureDim: number;
}

export interface SearchIndex {
  root: string;
  files: IndexedFile[];
  /** (N, D) float32, unit rows. */
  embeddings: Tensor;
  model: ModelIdentity;
  updatedAt: string;
}

export function writeIndex(path: string, index: SearchIndex): void {
  const record = { format: INDEX_FORMAT, root: index.root, model: index.model, updatedAt: index.updatedAt, files: index.files };
  writeSafetensors(path, new Map([["embeddings", index.embeddings]]), { "simclr.index": JSON.stringify(record) });
}

function fail(path: string, what: string): never {
  throw new DataError(path, `is not a usable search index: ${what} (make it with simclr index)`);
}

/** Reads and checks an index; the embeddings tensor is the caller's to dispose. */
export function readIndex(path: string): SearchIndex {
  const { tensors, metadata } = readSafetensors(path);
  const embeddings = tensors.get("embeddings");
  const text = metadata["simclr.index"];
  const cleanup = () => {
    for (const t of tensors.values()) t.dispose();
  };
  try {
    if (embeddings === undefined) fail(path, "it holds no embeddings tensor");
    if (text === undefined) fail(path, "its metadata has no simclr.index record");
    let record: { format?: unknown; root?: unknown; model?: ModelIdentity; updatedAt?: unknown; files?: unknown };
    try {
      record = JSON.parse(text) as typeof record;
    } catch {
      fail(path, "its simclr.index record is not JSON");
    }
    if (record.format !== INDEX_FORMAT) fail(path, `format ${String(record.format)}, expected ${INDEX_FORMAT}`);
    if (typeof record.root !== "string" || !Array.isArray(record.files) || typeof record.model?.hash !== "string")
      fail(path, "the record lacks root, files or model");
    const files = record.files as IndexedFile[];
    const shape = embeddings.shape;
    if (embeddings.dtype !== "float32" || shape.length !== 2 || shape[0] !== files.length || shape[1] !== record.model.featureDim) {
      fail(path, `embeddings are ${embeddings.dtype} [${shape.join(", ")}], expected float32 [${files.length}, ${record.model.featureDim}]`);
    }
    for (const [i, f] of files.entries()) {
      if (typeof f?.path !== "string" || typeof f.size !== "number" || typeof f.mtimeMs !== "number") fail(path, `file entry ${i} is malformed`);
    }
    for (const [k, t] of tensors) if (k !== "embeddings") t.dispose();
    return { root: record.root, files, embeddings, model: record.model, updatedAt: String(record.updatedAt ?? "") };
  } catch (e) {
    cleanup();
    throw e;
  }
}
