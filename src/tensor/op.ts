/**
 * Typed access to libtorch operators by schema name. An `Op` resolves its dispatcher
 * handle on first use, so a missing overload fails where it is used, with the name.
 * Every op declared through `op()` is also recorded, so a test can resolve them all up
 * front against the linked libtorch (test/tensor/ops-schema.test.ts) instead of waiting
 * for the one code path that uses a misspelt overload.
 */
import { ArgumentError } from "../errors.js";
import { native, type NativeResult } from "../native.js";

/** The binding reports arguments of the wrong kind as TypeErrors; libtorch's own errors (shapes, dtypes) stay as they are. */
function asArgumentError(e: unknown): unknown {
  return e instanceof TypeError ? new ArgumentError(e.message) : e;
}

export class Op {
  #id = -1;
  /** Use `op()`, which records the declaration; `new Op` is for probes that must not be recorded. */
  constructor(
    readonly name: string,
    readonly overload: string = "",
  ) {}

  /** "aten::add.Tensor", as libtorch names the overload. */
  get label(): string {
    return this.overload === "" ? this.name : `${this.name}.${this.overload}`;
  }

  get id(): number {
    if (this.#id < 0) this.#id = native.opHandle(this.name, this.overload);
    return this.#id;
  }

  /** The operator's schema as libtorch prints it. */
  get schema(): string {
    return native.opSchema(this.id);
  }

  /** Calls the operator; a bad argument (the binding's TypeError, naming op and argument) is an ArgumentError. */
  call(...args: unknown[]): NativeResult {
    try {
      return native.callOp(this.id, ...args);
    } catch (e) {
      throw asArgumentError(e);
    }
  }

  /** For in-place operators: the result aliases an argument, so no new tensor id is made. */
  callInPlace(...args: unknown[]): void {
    try {
      native.callOpDiscard(this.id, ...args);
    } catch (e) {
      throw asArgumentError(e);
    }
  }
}

/** Every op declared with `op()`, by label; the first declaration of a label is kept. */
const declared = new Map<string, Op>();

/** `op("aten::add", "Tensor")` names `aten::add.Tensor`. Declare ops once, at module level. */
export function op(name: string, overload = ""): Op {
  const o = new Op(name, overload);
  const existing = declared.get(o.label);
  if (existing !== undefined) return existing;
  declared.set(o.label, o);
  return o;
}

/** The ops declared so far with `op()` (by the modules imported so far). */
export function declaredOps(): readonly Op[] {
  return [...declared.values()];
}
