/**
 * NumPy's .npy format (version 1.0) for a float32 matrix: the magic "\x93NUMPY", the version,
 * a little-endian header length, a Python-dict header padded to 64 bytes, then the data in C
 * order. numpy.load reads it; readNpy reads it back here. Written atomically.
 */
import { readFileSync } from "node:fs";
import { ArgumentError, DataError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";

export function serializeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new ArgumentError(`serializeNpy: shape [${shape.join(", ")}] holds ${count} values, got ${data.length}`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = 6 + 2 + 2 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, "latin1"), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export function writeNpy(path: string, data: Float32Array, shape: readonly number[]): void {
  writeFileAtomic(path, serializeNpy(data, shape));
}

/** Reads a float32 .npy written by writeNpy (or numpy, little-endian, C order). */
export function readNpy(path: string): { data: Float32Array; shape: number[] } {
  const bytes = readFileSync(path);
  if (bytes.length < 10 || bytes[0] !== 0x93 || bytes.toString("latin1", 1, 6) !== "NUMPY") throw new DataError(path, "is not a .npy file");
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.toString("latin1", 10, 10 + headerLength);
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True"))
    throw new DataError(path, `only little-endian float32 in C order is read, header ${header.trim()}`);
  const shapeText = /'shape': \(([^)]*)\)/.exec(header)?.[1] ?? "";
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  const start = 10 + headerLength;
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  return { data, shape };
}
