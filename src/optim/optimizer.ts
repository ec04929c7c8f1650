/** What the training loop needs from an optimizer. */
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { StateDictError } from "../errors.js";
import { ArgumentError } from "../errors.js";
import { checkOptions, checkTensor } from "../tensor/check.js";

/** A parameter with its state-dict name (names decide LARS exclusions and checkpoint keys). */
export type NamedParameter = [name: string, tensor: Tensor];

/**
 * Ownership (docs/api.md, "Ownership"): an optimizer owns its buffers. stateDict() returns
 * references to them, as torch's state_dict() does; loadStateDict() copies and never keeps
 * the tensors it is given; dispose() frees the buffers.
 */
export interface Optimizer {
  /** The learning rate of the next step; the schedule sets it before each step. */
  lr: number;
  step(): void;
  zeroGrad(): void;
  /**
   * Per-parameter buffers (momentum, moments) keyed "<buffer>.<parameter name>", for
   * checkpoints. The tensors are the optimizer's own: save or clone them, never dispose them.
   */
  stateDict(): Map<string, Tensor>;
  /**
   * Restores buffers saved by stateDict(), copying them (the caller still owns `state`);
   * missing keys mean that parameter has taken no step yet.
   */
  loadStateDict(state: Map<string, Tensor>): void;
  /** Frees the buffers; the optimizer cannot step afterwards. The parameters are the model's. */
  dispose(): void;
  /** Steps taken, for optimizers whose update depends on it. */
  steps: number;
}

/**
 * Restores `saved` into `buffers`, by key, checking shapes; a key names the parameter. The
 * buffers replaced are disposed; `saved` is only read.
 */
export function restoreBuffers(kind: string, buffers: Map<string, Tensor>, saved: Map<string, Tensor>, prefix: string, params: NamedParameter[]): void {
  for (const [name, p] of params) {
    const t = saved.get(prefix + name);
    if (t === undefined) continue;
    const a = t.shape;
    const b = p.shape;
    if (a.length !== b.length || a.some((n, i) => n !== b[i])) {
      throw new StateDictError(`${kind}: saved state '${prefix + name}' has shape [${a.join(", ")}], the parameter [${b.join(", ")}]`, prefix + name);
    }
    // to() returns a new reference even when nothing moves: tidy frees it. keep(): the
    // buffer must outlive a tidy scope loadStateDict() may be called in.
    // laid out as the parameter is (channels-last weights keep channels-last buffers)
    const copy = keep(tidy(() => p.detach().clone().copy_(t)));
    buffers.get(name)?.dispose();
    buffers.set(name, copy);
  }
}

/** Disposes every tensor in `buffers` and empties it. */
export function disposeBuffers(buffers: Map<string, Tensor>): void {
  for (const t of buffers.values()) t.dispose();
  buffers.clear();
}

/**
 * An optimizer's `params` argument checked and named: tensors (named by position) or
 * [name, tensor] pairs; `where` names the constructor ("SGD(params)") in errors.
 */
export function namedParams(params: unknown, where: string, options: { options: unknown }): NamedParameter[] {
  if (!Array.isArray(params))
    throw new ArgumentError(`${where} must be an array of tensors or [name, tensor] pairs, got ${params === null ? "null" : typeof params}`);
  checkOptions(options.options, where.replace("(params)", "(options)"));
  return params.map((p: unknown, i: number): NamedParameter => {
    const [name, t] = Array.isArray(p) ? (p as [unknown, unknown]) : [String(i), p];
    if (typeof name !== "string") throw new ArgumentError(`${where}[${i}]: the name must be a string, got ${typeof name}`);
    checkTensor(t, `${where}[${i}] ('${name}')`);
    return [name, t];
  });
}
