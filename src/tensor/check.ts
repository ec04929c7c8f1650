/**
 * Argument checks for the library's public entry points: each names the function and the
 * argument, and throws an ArgumentError, so a wrong call fails at the call with a sentence
 * instead of deep inside ("Cannot read properties of undefined").
 */
import { ArgumentError } from "../errors.js";
import { Tensor } from "./tensor.js";

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Tensor) return `a tensor of shape [${value.shape.join(", ")}]`;
  return typeof value === "object" ? `a ${value.constructor?.name ?? "object"}` : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

/** `value` must be a live Tensor, of `ndim` dimensions when given. `where` is "fn(argument)". */
export function checkTensor(value: unknown, where: string, options: { ndim?: number } = {}): asserts value is Tensor {
  if (!(value instanceof Tensor)) throw new ArgumentError(`${where} must be a Tensor, got ${describe(value)}`);
  if (value.isDisposed) throw new ArgumentError(`${where} is a tensor that was disposed`);
  if (options.ndim !== undefined && value.ndim !== options.ndim)
    throw new ArgumentError(`${where} must have ${options.ndim} dimensions, got shape [${value.shape.join(", ")}]`);
}

/** `value` must be a plain object (an options bag). */
export function checkOptions(value: unknown, where: string): void {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Tensor) {
    throw new ArgumentError(`${where} must be an object of options, got ${describe(value)}`);
  }
}

/** `value` must be a non-empty string (a path, a name). */
export function checkString(value: unknown, where: string): asserts value is string {
  if (typeof value !== "string" || value === "") throw new ArgumentError(`${where} must be a non-empty string, got ${describe(value)}`);
}
