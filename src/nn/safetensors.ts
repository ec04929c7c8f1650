/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written
 * here with every offset checked: 8 bytes little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {..}}`, then the data.
 * Written by hand because the npm packages for it either parse without bounds checks or
 * pull in a different tensor library; the format is ~100 lines.
 */
import { readFileSync } from "node:fs";
import { ArgumentError, DataError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { native } from "../native.js";
import { BYTES_PER_ELEMENT, dtypeCode, type DType } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import { checkTensor } from "../tensor/check.js";

const FILE_DTYPES: Record<string, DType> = {
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};
const DTYPE_NAMES = Object.fromEntries(Object.entries(FILE_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Headers beyond this are rejected before parsing, as the reference implementation does. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates the header; throws a DataError naming `source` and the tensor. */
function parseHeader(bytes: Uint8Array, source: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (message: string): never => {
    throw new DataError(source, message);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes is too short for a safetensors file (8-byte header length missing)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${headerLength} runs past the end of the file (${bytes.byteLength} bytes): truncated or not safetensors`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const dataLength = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) fail("__metadata__ must be an object of strings");
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__.${k} must be a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info === null || typeof info !== "object") fail(`tensor '${name}': entry is not an object`);
    const dtype = typeof info.dtype === "string" ? FILE_DTYPES[info.dtype] : undefined;
    if (dtype === undefined)
      fail(`tensor '${name}': unknown or unsupported dtype ${JSON.stringify(info.dtype)} (supported: ${Object.keys(FILE_DTYPES).join(", ")})`);
    if (!Array.isArray(info.shape) || !info.shape.every(isNonNegativeInt))
      fail(`tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(info.shape)}`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
      fail(`tensor '${name}': data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`tensor '${name}': data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) fail(`tensor '${name}': data_offsets [${begin}, ${end}] fall outside the ${dataLength}-byte data section`);
    const shape = info.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtype as DType];
    if (end - begin !== expected) {
      fail(`tensor '${name}': shape [${shape.join(", ")}] of ${info.dtype as string} needs ${expected} bytes, data_offsets give ${end - begin}`);
    }
    entries.push({ name, dtype: dtype as DType, shape, begin, end });
  }
  // The data section must be covered exactly: no overlaps, no holes (the format's rule).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = "";
  for (const e of sorted) {
    if (e.begin < cursor) fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${previous}'`);
    if (e.begin > cursor) fail(`bytes ${cursor}..${e.begin} of the data section belong to no tensor (before '${e.name}')`);
    cursor = e.end;
    previous = e.name;
  }
  if (cursor !== dataLength) fail(`the data section has ${dataLength - cursor} trailing bytes that belong to no tensor`);
  return { entries, metadata, dataStart };
}

/**
 * Parses safetensors bytes into CPU tensors (copies). `source` names the input in errors.
 * The tensors are new and the caller's, registered in the current tidy scope like op results.
 */
export function parseSafetensors(bytes: Uint8Array, source = "safetensors"): SafetensorsContents {
  const { entries, metadata, dataStart } = parseHeader(bytes, source);
  const tensors = new Map<string, Tensor>();
  try {
    for (const e of entries) {
      const slice = bytes.subarray(dataStart + e.begin, dataStart + e.end);
      tensors.set(e.name, new Tensor(native.fromBuffer(slice, e.shape, dtypeCode(e.dtype))));
    }
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return { tensors, metadata };
}

/** Reads a .safetensors file into new CPU tensors the caller owns (see parseSafetensors). */
export function readSafetensors(path: string): SafetensorsContents {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DataError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseSafetensors(bytes, path);
}

/** Serialises tensors (sorted by name) and string metadata to safetensors bytes. */
export function serializeSafetensors(record: Record<string, Tensor> | Map<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const items = [...(record instanceof Map ? record.entries() : Object.entries(record))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of items) {
    if (name === "__metadata__") throw new ArgumentError("safetensors: '__metadata__' cannot name a tensor");
    checkTensor(t, `serializeSafetensors: '${name}'`);
    const data = Buffer.from(native.toBuffer(t.id));
    header[name] = { dtype: DTYPE_NAMES[t.dtype], shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    chunks.push(data);
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad so the data section starts 8-byte aligned, as the reference writer does.
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf-8");
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  return Buffer.concat([length, headerBytes, ...chunks]);
}

/** Writes tensors to a .safetensors file atomically (a reader never sees half a file). */
export function writeSafetensors(path: string, record: Record<string, Tensor> | Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, serializeSafetensors(record, metadata));
}
