/**
 * CIFAR-10 and CIFAR-100 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny
 * Images") in their binary release (https://www.cs.toronto.edu/~kriz/cifar.html):
 *
 * - CIFAR-10 (`cifar-10-binary.tar.gz` -> `cifar-10-batches-bin/`): data_batch_1.bin ..
 *   data_batch_5.bin (train, 10,000 images each) and test_batch.bin; each record is 1 label
 *   byte then 3072 pixel bytes.
 * - CIFAR-100 (`cifar-100-binary.tar.gz` -> `cifar-100-binary/`): train.bin (50,000) and
 *   test.bin (10,000); each record is a coarse label byte, a fine label byte, then 3072 pixel
 *   bytes. The fine label (100 classes) is used, as torchvision's CIFAR100 does.
 *
 * The pixels are stored as the red plane, then green, then blue, each 32x32 row-major: the
 * (C, H, W) layout the models take, so a record's bytes are copied as they are.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tensor } from "../tensor/factory.js";
import type { LabeledImages } from "./fashion-mnist.js";
import { ArgumentError, DataError } from "../errors.js";

/** CIFAR-10's classes in label order (the release's batches.meta.txt). */
export const CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"] as const;

const PIXEL_BYTES = 3 * 32 * 32;
/** CIFAR-100's coarse labels (superclasses): checked so a wrong file is caught early. */
const CIFAR100_COARSE_CLASSES = 20;

export interface CifarOptions {
  /** The folder with the .bin files, or its parent holding cifar-10-batches-bin / cifar-100-binary. */
  path: string;
  split?: "train" | "test";
  /** Keep only the first N records (in file order: batch 1 first). */
  limit?: number;
  variant?: "cifar10" | "cifar100";
}

interface Layout {
  /** The folder the release unpacks to, looked for inside `path`. */
  folder: string;
  /** Label bytes before the pixels of each record. */
  labelBytes: number;
  files: Record<"train" | "test", string[]>;
  namesFile: string;
  classCount: number;
  download: string;
  defaultClasses: () => readonly string[];
}

const LAYOUTS: Record<"cifar10" | "cifar100", Layout> = {
  cifar10: {
    folder: "cifar-10-batches-bin",
    labelBytes: 1,
    files: { train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: ["test_batch.bin"] },
    namesFile: "batches.meta.txt",
    classCount: 10,
    download: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    defaultClasses: () => CIFAR10_CLASSES,
  },
  cifar100: {
    folder: "cifar-100-binary",
    labelBytes: 2,
    files: { train: ["train.bin"], test: ["test.bin"] },
    namesFile: "fine_label_names.txt",
    classCount: 100,
    download: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    defaultClasses: () => Array.from({ length: 100 }, (_, i) => `class_${i}`),
  },
};

function describeNames(names: string[]): string {
  return names.length > 2 ? `${names[0]}..${names[names.length - 1]}` : names.join(" and ");
}

/**
 * The folder holding the split's files: `path` itself, or the release's folder inside it.
 * A folder is chosen by its first file; every other file of the split must then be there too.
 */
function resolveFolder(path: string, layout: Layout, names: string[]): string {
  const candidates = [path, join(path, layout.folder)];
  const folder = candidates.find((c) => existsSync(join(c, names[0] as string)));
  if (folder === undefined) {
    throw new DataError(
      join(path, names[0] as string),
      `not found (looked for ${describeNames(names)} in ${candidates.join(" and ")}). ` +
        `Download the binary version (${layout.download}) and unpack it there, or point data.path at the folder with the .bin files.`,
    );
  }
  for (const name of names) {
    if (!existsSync(join(folder, name))) {
      throw new DataError(join(folder, name), `not found (this split needs ${describeNames(names)} in ${folder}); the download may be incomplete`);
    }
  }
  return folder;
}

/** Class names from the release's text file (one per line), or the defaults when it is absent. */
function readClassNames(folder: string, layout: Layout): readonly string[] {
  const file = join(folder, layout.namesFile);
  if (!existsSync(file)) return layout.defaultClasses();
  const names = readFileSync(file, "utf-8")
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== layout.classCount) {
    throw new DataError(file, `has ${names.length} class names, expected ${layout.classCount}`);
  }
  return names;
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new ArgumentError(`loadCifarBinary: limit must be a non-negative integer, got ${limit}`);
  }
}

/**
 * The records of one CIFAR binary batch file: for each, the label byte(s) then 3072 pixel
 * bytes (R, G, B planes of 32x32). CIFAR-100 records carry a coarse label before the fine one
 * (kept). Errors name `source` and the record. Returns the pixels (N*3072) and labels (N).
 */
export function parseCifarRecords(
  bytes: Uint8Array,
  source: string,
  options: { variant?: "cifar10" | "cifar100"; classCount?: number } = {},
): { pixels: Uint8Array; labels: Uint8Array } {
  const layout = LAYOUTS[options.variant ?? "cifar10"];
  if (layout === undefined) throw new ArgumentError(`parseCifarRecords: unknown variant ${JSON.stringify(options.variant)} (cifar10 or cifar100)`);
  const classCount = options.classCount ?? layout.classCount;
  const recordBytes = layout.labelBytes + PIXEL_BYTES;
  if (bytes.byteLength === 0) throw new DataError(source, "is empty (0 bytes): the download or unpacking was interrupted");
  if (bytes.byteLength % recordBytes !== 0) {
    throw new DataError(source, `truncated or not CIFAR binary: ${bytes.byteLength} bytes is not a multiple of the ${recordBytes}-byte record`);
  }
  const n = bytes.byteLength / recordBytes;
  const pixels = new Uint8Array(n * PIXEL_BYTES);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * recordBytes;
    if (layout.labelBytes === 2) {
      const coarse = bytes[at] as number;
      if (coarse >= CIFAR100_COARSE_CLASSES) {
        throw new DataError(source, `coarse label ${coarse} of record ${i} is out of range (0..${CIFAR100_COARSE_CLASSES - 1}): not CIFAR-100 binary?`);
      }
    }
    const label = bytes[at + layout.labelBytes - 1] as number;
    if (label >= classCount) throw new DataError(source, `label ${label} of record ${i} is out of range (0..${classCount - 1})`);
    labels[i] = label;
    pixels.set(bytes.subarray(at + layout.labelBytes, at + recordBytes), i * PIXEL_BYTES);
  }
  return { pixels, labels };
}

/**
 * Loads a CIFAR-10 or CIFAR-100 split from the binary release: images (N, 3, 32, 32) uint8,
 * labels (N) int64 (CIFAR-100: the fine labels), and the class names.
 */
export function loadCifarBinary(options: CifarOptions): LabeledImages {
  checkLimit(options.limit);
  const layout = LAYOUTS[options.variant ?? "cifar10"];
  if (layout === undefined) throw new ArgumentError(`loadCifarBinary: unknown variant ${JSON.stringify(options.variant)} (cifar10 or cifar100)`);
  const split = options.split ?? "train";
  const names = layout.files[split];
  if (names === undefined) throw new ArgumentError(`loadCifarBinary: unknown split ${JSON.stringify(split)} (train or test)`);
  const folder = resolveFolder(options.path, layout, names);
  const classes = readClassNames(folder, layout);
  const recordBytes = layout.labelBytes + PIXEL_BYTES;

  // Sizes first, so a truncated later batch fails before anything is read.
  const files = names.map((name) => {
    const file = join(folder, name);
    const bytes = statSync(file).size;
    if (bytes === 0) throw new DataError(file, "is empty (0 bytes): the download or unpacking was interrupted");
    if (bytes % recordBytes !== 0) {
      throw new DataError(file, `truncated or not CIFAR binary: ${bytes} bytes is not a multiple of the ${recordBytes}-byte record`);
    }
    return { file, records: bytes / recordBytes };
  });
  const total = files.reduce((a, f) => a + f.records, 0);
  const n = Math.min(total, options.limit ?? total);

  const pixels = new Uint8Array(n * PIXEL_BYTES);
  const labels = new Uint8Array(n);
  let done = 0;
  for (const { file, records } of files) {
    if (done === n) break;
    const bytes = readFileSync(file);
    if (bytes.byteLength !== records * recordBytes) throw new DataError(file, `changed size while being read`);
    const take = Math.min(records, n - done);
    const batch = parseCifarRecords(bytes.subarray(0, take * recordBytes), file, { variant: options.variant ?? "cifar10", classCount: classes.length });
    pixels.set(batch.pixels, done * PIXEL_BYTES);
    labels.set(batch.labels, done);
    done += take;
  }
  return {
    images: tensor(pixels, { shape: [n, 3, 32, 32] }),
    labels: tensor(labels, { dtype: "int64" }),
    classes,
  };
}
