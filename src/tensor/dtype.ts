/** Element types, named as in PyTorch, with libtorch's ScalarType codes. */
import { ArgumentError } from "../errors.js";
export type DType = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

/** c10::ScalarType values; stable across libtorch 1.x and 2.x. */
const CODES: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

/** True for the floating-point dtypes (the ones that can hold NaN or infinity, and gradients). */
export function isFloating(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64" || dtype === "float16" || dtype === "bfloat16";
}

const NAMES = new Map<number, DType>(Object.entries(CODES).map(([name, code]) => [code, name as DType]));

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  bool: 1,
  bfloat16: 2,
};

export function dtypeCode(dtype: DType): number {
  const code = CODES[dtype];
  if (code === undefined) throw new ArgumentError(`unknown dtype '${String(dtype)}' (known: ${Object.keys(CODES).join(", ")})`);
  return code;
}

export function dtypeName(code: number): DType {
  const name = NAMES.get(code);
  if (name === undefined) throw new ArgumentError(`libtorch dtype code ${code} has no name in this package`);
  return name;
}

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** The typed arrays a tensor can be made from (Uint8ClampedArray becomes uint8). */
export type TypedArray = AnyTypedArray | Uint8ClampedArray;

/** Views `buffer` as the typed array of `dtype`. float16/bfloat16 come back as raw Uint16Array. */
export function viewAs(dtype: DType, buffer: ArrayBuffer): AnyTypedArray | Uint16Array {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer);
    case "float64":
      return new Float64Array(buffer);
    case "int64":
      return new BigInt64Array(buffer);
    case "int32":
      return new Int32Array(buffer);
    case "int16":
      return new Int16Array(buffer);
    case "int8":
      return new Int8Array(buffer);
    case "float16":
    case "bfloat16":
      return new Uint16Array(buffer);
    case "uint8":
    case "bool":
      return new Uint8Array(buffer);
  }
}

/** The dtype a typed array holds when it becomes a tensor. */
export function dtypeOfArray(data: ArrayBufferView): DType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return "uint8";
  throw new ArgumentError(`cannot make a tensor from a ${data.constructor.name}`);
}
