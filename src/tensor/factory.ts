/** Functions that make new tensors: from JS data, constants, ranges and random draws. */
import { native } from "../native.js";
import { BYTES_PER_ELEMENT, dtypeCode, dtypeOfArray, type DType, type TypedArray } from "./dtype.js";
import { op } from "./op.js";
import { Tensor, wrap, wrapList, type NestedArray } from "./tensor.js";
import { ArgumentError } from "../errors.js";

export interface TensorOptions {
  /** Element type; defaults to float32 (or the typed array's own type). */
  dtype?: DType;
  /** "cpu" (default), "cuda", "cuda:1", ... */
  device?: string;
  /** Make it a leaf that collects gradients. */
  requiresGrad?: boolean;
}

const ops = {
  zeros: op("aten::zeros"),
  ones: op("aten::ones"),
  full: op("aten::full"),
  empty: op("aten::empty", "memory_format"),
  randn: op("aten::randn"),
  rand: op("aten::rand"),
  randint: op("aten::randint", "low"),
  randperm: op("aten::randperm"),
  arange: op("aten::arange", "start_step"),
  eye: op("aten::eye"),
  linspace: op("aten::linspace"),
  cat: op("aten::cat"),
  stack: op("aten::stack"),
  where: op("aten::where", "self"),
  fromFile: op("aten::from_file"),
};

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Arguments common to the factory operators: dtype, layout, device, pin_memory. */
function factoryArgs(options: TensorOptions, fallback: DType = "float32"): unknown[] {
  return [dtypeCode(options.dtype ?? fallback), null, options.device ?? null, null];
}

function checkShape(shape: readonly number[], where: string): number[] {
  for (const n of shape) {
    if (!Number.isInteger(n) || n < 0) throw new ArgumentError(`${where}: shape [${shape.join(", ")}] must hold non-negative integers`);
  }
  return [...shape];
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0] as NestedArray;
  }
  return shape;
}

function flattenNested(data: NestedArray, shape: number[], dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (Array.isArray(data)) throw new ArgumentError("tensor(): ragged nested array (too deep at some element)");
    if (typeof data !== "number" && typeof data !== "boolean") {
      throw new ArgumentError(
        `tensor(data): data must be numbers or booleans (nested arrays) or a typed array, got ${typeof data === "bigint" ? "a bigint (use a BigInt64Array)" : data === null ? "null" : typeof data} at depth ${dim}`,
      );
    }
    out.push(typeof data === "boolean" ? Number(data) : data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new ArgumentError(`tensor(): ragged nested array: expected ${shape[dim]} elements at depth ${dim}`);
  }
  for (const d of data) flattenNested(d, shape, dim + 1, out);
}

function typedArrayFor(values: ArrayLike<number>, dtype: DType): ArrayBufferView {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values);
    case "float64":
      return Float64Array.from(values);
    case "int64":
      return BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)));
    case "int32":
      return Int32Array.from(values);
    case "int16":
      return Int16Array.from(values);
    case "int8":
      return Int8Array.from(values);
    case "uint8":
      return Uint8Array.from(values);
    case "bool":
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case "float16":
    case "bfloat16":
      throw new ArgumentError(`tensor(): make a float32 tensor and convert it with .to("${dtype}")`);
  }
}

/**
 * A tensor holding a copy of `data`: a (nested) number array, a typed array, or a number.
 * A flat typed array takes its shape from `options.shape` (default: 1-d).
 */
export function tensor(data: NestedArray | TypedArray, options: TensorOptions & { shape?: readonly number[] } = {}): Tensor {
  let bytes: ArrayBufferView;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    const arrayDtype = dtypeOfArray(data);
    dtype = options.dtype ?? arrayDtype;
    const count = data.byteLength / BYTES_PER_ELEMENT[arrayDtype];
    shape = options.shape ? checkShape(options.shape, "tensor()") : [count];
    if (dtype !== arrayDtype) {
      const values = data instanceof BigInt64Array ? Array.from(data, Number) : data;
      bytes = typedArrayFor(values, dtype);
    } else {
      bytes = data;
    }
  } else {
    shape = options.shape ? checkShape(options.shape, "tensor()") : inferShape(data);
    const flat: number[] = [];
    flattenNested(data, inferShape(data), 0, flat);
    dtype = options.dtype ?? (isBoolData(data) ? "bool" : "float32");
    bytes = typedArrayFor(flat, dtype);
  }
  let t = new Tensor(native.fromBuffer(bytes, shape, dtypeCode(dtype)));
  if (options.device !== undefined && options.device !== "cpu") {
    const moved = t.to(options.device);
    t.dispose();
    t = moved;
  }
  return finish(t, options);
}

function isBoolData(data: NestedArray): boolean {
  let level: NestedArray = data;
  while (Array.isArray(level) && level.length > 0) level = level[0] as NestedArray;
  return typeof level === "boolean";
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(wrap(ops.zeros.call(checkShape(shape, "zeros()"), ...factoryArgs(options))), options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(wrap(ops.ones.call(checkShape(shape, "ones()"), ...factoryArgs(options))), options);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  return finish(wrap(ops.full.call(checkShape(shape, "full()"), value, ...factoryArgs(options))), options);
}

/** Uninitialised memory: only for tensors that will be overwritten. */
export function empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(wrap(ops.empty.call(checkShape(shape, "empty()"), ...factoryArgs(options), null)), options);
}

/** Standard normal samples from libtorch's default generator (see manualSeed). */
export function randn(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(wrap(ops.randn.call(checkShape(shape, "randn()"), ...factoryArgs(options))), options);
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return finish(wrap(ops.rand.call(checkShape(shape, "rand()"), ...factoryArgs(options))), options);
}

/** Integers uniform in [low, high), int64 unless told otherwise. */
export function randint(low: number, high: number, shape: readonly number[], options: TensorOptions = {}): Tensor {
  return wrap(ops.randint.call(low, high, checkShape(shape, "randint()"), ...factoryArgs(options, "int64")));
}

/**
 * The first `numel` elements of a file, memory-mapped (libtorch's from_file): the pages are
 * read when touched and can be dropped by the kernel under memory pressure, so the file may be
 * larger than RAM. The mapping is private (copy-on-write): writes to the tensor never reach
 * the file. The tensor owns the mapping; dispose() unmaps it. (numel)
 */
export function mapFile(path: string, numel: number, dtype: DType): Tensor {
  if (typeof path !== "string" || path.length === 0) throw new ArgumentError(`mapFile: path must be a non-empty string, got ${String(path)}`);
  if (!Number.isSafeInteger(numel) || numel < 1) throw new ArgumentError(`mapFile: numel must be a positive integer, got ${numel}`);
  return wrap(ops.fromFile.call(path, false, numel, dtypeCode(dtype), null, null, null));
}

/** How a mapped tensor will be read, for the kernel's read-ahead (madvise(2)). */
export type MapAccess = "normal" | "random" | "sequential" | "willneed";
const MAP_ACCESS: Record<MapAccess, number> = { normal: 0, random: 1, sequential: 2, willneed: 3 };

/**
 * Tells the kernel how the pages of `t`'s storage (a mapFile tensor) will be read: "random"
 * turns off the read-around a page fault otherwise does (right for shuffled batches of a file
 * larger than the page cache), "willneed" reads the pages ahead now.
 */
export function adviseMapped(t: Tensor, access: MapAccess): void {
  if (!(access in MAP_ACCESS)) throw new ArgumentError(`adviseMapped: access must be one of ${Object.keys(MAP_ACCESS).join(", ")}, got ${String(access)}`);
  native.adviseStorage(t.id, MAP_ACCESS[access]);
}

/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, options: TensorOptions = {}): Tensor {
  return wrap(ops.randperm.call(n, ...factoryArgs(options, "int64")));
}

/** start, start+step, ... < end. Integer arguments give int64 unless a dtype is given. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  const integral = Number.isInteger(lo) && Number.isInteger(hi) && Number.isInteger(step);
  return wrap(ops.arange.call(lo, hi, step, ...factoryArgs(options, integral ? "int64" : "float32")));
}

export function eye(n: number, options: TensorOptions = {}): Tensor {
  return wrap(ops.eye.call(n, ...factoryArgs(options)));
}

export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  return wrap(ops.linspace.call(start, end, steps, ...factoryArgs(options)));
}

/** Joins tensors along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return wrap(
    ops.cat.call(
      tensors.map((t) => t.id),
      dim,
    ),
  );
}

/** Joins tensors along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return wrap(
    ops.stack.call(
      tensors.map((t) => t.id),
      dim,
    ),
  );
}

/** Elementwise `condition ? a : b`. */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return wrap(ops.where.call(condition.id, a.id, b.id));
}

export { wrapList };
