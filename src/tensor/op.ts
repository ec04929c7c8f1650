/**
 * Typed access to libtorch operators by schema name. An `Op` resolves its dispatcher
 * handle on first use, so a missing overload fails where it is used, with the name.
 */
import { native, type NativeResult } from "../native.js";

export class Op {
  #id = -1;
  constructor(
    readonly name: string,
    readonly overload: string = "",
  ) {}

  get id(): number {
    if (this.#id < 0) this.#id = native.opHandle(this.name, this.overload);
    return this.#id;
  }

  /** The operator's schema as libtorch prints it. */
  get schema(): string {
    return native.opSchema(this.id);
  }

  call(...args: unknown[]): NativeResult {
    return native.callOp(this.id, ...args);
  }

  /** For in-place operators: the result aliases an argument, so no new tensor id is made. */
  callInPlace(...args: unknown[]): void {
    native.callOpDiscard(this.id, ...args);
  }
}

/** `op("aten::add", "Tensor")` names `aten::add.Tensor`. */
export function op(name: string, overload = ""): Op {
  return new Op(name, overload);
}
