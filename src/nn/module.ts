/**
 * The Module base: a tree of layers owning named parameters and buffers, with PyTorch's
 * state-dict naming (`layer1.0.conv1.weight`), so weights move between this package and
 * PyTorch through safetensors files.
 */
import { isFloating } from "../tensor/dtype.js";
import { isAllFinite } from "../tensor/finite.js";
import { op } from "../tensor/op.js";
import { keep, tidy } from "../tensor/scope.js";
import { noGrad } from "../tensor/runtime.js";
import { Tensor, type MemoryFormat } from "../tensor/tensor.js";
import { ArgumentError, StateDictError } from "../errors.js";

const setData = op("aten::set_data");

/** Tensors by state-dict name; a plain object or a Map. */
export type StateDict = Record<string, Tensor> | Map<string, Tensor>;

export interface LoadStateDictOptions {
  /** Missing and unexpected keys are errors (default). With false they are reported only. */
  strict?: boolean;
  /** Accept NaN and infinite values (default: refused, naming the key). */
  allowNonFinite?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * A layer or model. Subclasses implement `forward`; callers run it through `call`, which
 * frees whatever the forward made and did not return (see `call`), so a forward reads like
 * torchvision's, with no dispose of its intermediates.
 */
export abstract class Module {
  /** Training mode: BN uses batch statistics and updates running ones. */
  training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Registers a learnable tensor under `name`; it gets requiresGrad and outlives tidy scopes. */
  protected registerParameter(name: string, value: Tensor): Tensor {
    this.#checkName(name);
    if (!value.requiresGrad) value.requiresGrad = true;
    this.#parameters.set(name, keep(value));
    return value;
  }

  /** Registers state that is saved but not learned (BN running statistics). */
  protected registerBuffer(name: string, value: Tensor): Tensor {
    this.#checkName(name);
    this.#buffers.set(name, keep(value));
    return value;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name);
    this.#children.set(name, module);
    return module;
  }

  #checkName(name: string): void {
    if (name === "" || name.includes(".")) throw new ArgumentError(`invalid module member name '${name}'`);
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      throw new ArgumentError(`'${name}' is already registered in ${this.constructor.name}`);
    }
  }

  /**
   * Runs `forward` inside a tidy scope, as PyTorch's `module(x)` wraps forward and tfjs's
   * `Layer.apply` runs `call` inside `tidy`: every tensor made during the forward and not
   * returned (a conv's output consumed by its BN, say) is freed when it returns; what it
   * returns moves to the caller's scope. Autograd keeps what backward needs on its own.
   */
  call<M extends Module & { forward(...args: never[]): unknown }>(this: M, ...args: Parameters<M["forward"]>): ReturnType<M["forward"]> {
    return tidy(() => this.forward(...args) as ReturnType<M["forward"]>);
  }

  /** Direct sub-modules, by name. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** This module and every descendant, with dotted names ("" for this one). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.#children) out.push(...child.namedModules(prefix === "" ? name : `${prefix}.${name}`));
    return out;
  }

  namedParameters(prefix = ""): [string, Tensor][] {
    return this.#collect(prefix, (m) => m.#parameters);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ""): [string, Tensor][] {
    return this.#collect(prefix, (m) => m.#buffers);
  }

  #collect(prefix: string, own: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, t] of own(this)) out.push([prefix + name, t]);
    for (const [name, child] of this.#children) out.push(...child.#collect(`${prefix}${name}.`, own));
    return out;
  }

  /**
   * Parameters and buffers by state-dict name, in registration order. The tensors are the
   * module's own (not copies): read or save them, don't dispose them.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, module] of this.namedModules()) {
      const prefix = name === "" ? "" : `${name}.`;
      for (const [k, t] of module.#parameters) out.set(prefix + k, t);
      for (const [k, t] of module.#buffers) out.set(prefix + k, t);
    }
    return out;
  }

  /**
   * Copies values from `state` into this module's tensors, in place (optimizers holding
   * the parameters stay valid). Strict by default: a missing or unexpected key is an error,
   * and a shape mismatch always is; each error names the key.
   */
  loadStateDict(state: StateDict, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const given = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts: string[] = [];
      if (missingKeys.length > 0) parts.push(`missing keys: ${missingKeys.join(", ")}`);
      if (unexpectedKeys.length > 0) parts.push(`unexpected keys: ${unexpectedKeys.join(", ")}`);
      throw new StateDictError(`loadStateDict(${this.constructor.name}): ${parts.join("; ")}`);
    }
    for (const [key, target] of own) {
      const source = given.get(key) as unknown;
      if (source === undefined) continue;
      if (!(source instanceof Tensor)) {
        throw new StateDictError(
          `loadStateDict(${this.constructor.name}): '${key}' is ${source === null ? "null" : Array.isArray(source) ? "an array" : typeof source}, not a tensor`,
          key,
        );
      }
      // Casting between float types is allowed (as PyTorch does); floats from integers or the reverse is a corrupt or foreign file.
      if (isFloating(target.dtype) !== isFloating(source.dtype)) {
        throw new StateDictError(
          `loadStateDict(${this.constructor.name}): '${key}' is ${source.dtype} in the state dict, the module holds ${target.dtype}`,
          key,
        );
      }
      if (!options.allowNonFinite && !isAllFinite(source)) {
        throw new StateDictError(
          `loadStateDict(${this.constructor.name}): '${key}' holds NaN or infinite values (loadStateDict(state, { allowNonFinite: true }) accepts them)`,
          key,
        );
      }
      const a = target.shape;
      const b = source.shape;
      if (a.length !== b.length || a.some((n, i) => n !== b[i])) {
        throw new StateDictError(
          `loadStateDict(${this.constructor.name}): '${key}' has shape [${b.join(", ")}] in the state dict, the module expects [${a.join(", ")}]`,
          key,
        );
      }
    }
    noGrad(() => {
      for (const [key, target] of own) {
        const source = given.get(key);
        if (source !== undefined) target.copy_(source);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and all below it. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Inference mode: BN uses its running statistics. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Runs `fn` with this module and all below it in inference mode (BN on its running
   * statistics), then gives each module its own mode back, also when `fn` throws.
   */
  inInferenceMode<T>(fn: () => T): T {
    const modes = [...this.namedModules()].map(([, m]) => [m, m.training] as const);
    this.eval();
    try {
      return fn();
    } finally {
      for (const [m, training] of modes) m.training = training;
    }
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Moves parameters and buffers to `device` ("cpu", "cuda", ...) in place. */
  to(device: string): this {
    noGrad(() => {
      for (const t of this.stateDict().values()) {
        if (t.device === device) continue;
        const moved = t.to(device);
        setData.callInPlace(t.id, moved.id);
        moved.dispose();
      }
    });
    return this;
  }

  /**
   * Lays out every 4-D parameter and buffer (the convolutions' weights) in `memoryFormat`, in
   * place. With the input in the same format, oneDNN's convolutions run without converting
   * layouts, and autograd gives each gradient its parameter's layout.
   */
  toMemoryFormat(memoryFormat: MemoryFormat): this {
    noGrad(() => {
      for (const t of this.stateDict().values()) {
        // exact strides, as PyTorch's module.to(memory_format=...) gives: a one-channel conv
        // weight is "contiguous" either way, and oneDNN reads its layout from the strides
        if (t.ndim !== 4 || t.isStridedAs(memoryFormat)) continue;
        const laid = t.clone(memoryFormat);
        setData.callInPlace(t.id, laid.id);
        laid.dispose();
      }
    });
    return this;
  }

  /** Frees every parameter and buffer. The module cannot be used afterwards. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }

  /** Number of learnable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }
}
