/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte
 * magic (0, 0, element type, number of dimensions), big-endian uint32 sizes, then the
 * elements. Files may be gzip-compressed. Only unsigned bytes (type 0x08) occur in these
 * data sets, and only they are accepted.
 */
import { readFileSync } from "node:fs";
import { DataError } from "../errors.js";
import { gunzipBounded, isGzip } from "./gzip.js";

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** The most bytes a gzip-compressed IDX file may expand to (a bound against gzip bombs; Fashion-MNIST's train images are 47 MB). */
export const MAX_IDX_BYTES = 2 ** 31;

/**
 * Parses IDX bytes (gzip-compressed or raw). `source` names the input in errors; a file that
 * would expand past `maxBytes` (default MAX_IDX_BYTES) is refused before it is.
 */
export function parseIdx(bytes: Uint8Array, source = "idx", maxBytes = MAX_IDX_BYTES): IdxArray {
  const raw = isGzip(bytes) ? gunzipBounded(bytes, source, maxBytes) : bytes;
  if (raw.byteLength < 4) throw new DataError(source, `${raw.byteLength} bytes is too short for an IDX file`);
  if (raw[0] !== 0 || raw[1] !== 0) {
    throw new DataError(source, `wrong magic number 0x${Buffer.from(raw.subarray(0, 4)).toString("hex")}: not an IDX file`);
  }
  const type = raw[2] as number;
  const ndims = raw[3] as number;
  if (type !== 0x08) throw new DataError(source, `element type 0x${type.toString(16)} is not supported (only unsigned bytes, 0x08)`);
  if (ndims === 0) throw new DataError(source, "an IDX file needs at least one dimension");
  const headerBytes = 4 + 4 * ndims;
  if (raw.byteLength < headerBytes)
    throw new DataError(source, `truncated header: ${ndims} dimensions need ${headerBytes} bytes, the file has ${raw.byteLength}`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const available = raw.byteLength - headerBytes;
  if (available < count) throw new DataError(source, `truncated: shape [${shape.join(", ")}] needs ${count} bytes of data, the file has ${available}`);
  if (available > count) throw new DataError(source, `${available - count} unexpected bytes after the data of shape [${shape.join(", ")}]`);
  return { shape, data: raw.subarray(headerBytes) };
}

/** Reads an IDX file (.gz or raw). */
export function readIdx(path: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DataError(path, `cannot read: ${(e as Error).message}`);
  }
  return parseIdx(bytes, path);
}
