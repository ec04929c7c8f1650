/**
 * The Tensor class: a JS reference to one libtorch tensor. Every operation calls an ATen
 * operator through the dispatcher (src/tensor/op.ts), so results, autograd and errors are
 * libtorch's own. `dispose()` drops this reference; the memory goes when nothing in
 * libtorch (views, the autograd graph) still holds it.
 */
import { native, type NativeResult, type TensorId } from "../native.js";
import { dtypeCode, dtypeName, viewAs, type AnyTypedArray, type DType } from "./dtype.js";
import { op } from "./op.js";

/** Integer dtypes, whose division kernels trap on INT_MIN / -1. */
const INTEGER_DTYPES = new Set(["uint8", "int8", "int16", "int32", "int64"]);
import { track } from "./scope.js";
import { ArgumentError } from "../errors.js";

/** A nested array of numbers, as `toArray()` returns. */
export type NestedArray = number | boolean | NestedArray[];

const ops = {
  addT: op("aten::add", "Tensor"),
  addS: op("aten::add", "Scalar"),
  subT: op("aten::sub", "Tensor"),
  subS: op("aten::sub", "Scalar"),
  mulT: op("aten::mul", "Tensor"),
  mulS: op("aten::mul", "Scalar"),
  divT: op("aten::div", "Tensor"),
  divS: op("aten::div", "Scalar"),
  powS: op("aten::pow", "Tensor_Scalar"),
  powT: op("aten::pow", "Tensor_Tensor"),
  addT_: op("aten::add_", "Tensor"),
  addS_: op("aten::add_", "Scalar"),
  subT_: op("aten::sub_", "Tensor"),
  mulT_: op("aten::mul_", "Tensor"),
  mulS_: op("aten::mul_", "Scalar"),
  divT_: op("aten::div_", "Tensor"),
  divS_: op("aten::div_", "Scalar"),
  addcmul_: op("aten::addcmul_"),
  addcdiv_: op("aten::addcdiv_"),
  copy_: op("aten::copy_"),
  zero_: op("aten::zero_"),
  fill_: op("aten::fill_", "Scalar"),
  clamp_: op("aten::clamp_"),
  normal_: op("aten::normal_"),
  uniform_: op("aten::uniform_"),
  neg: op("aten::neg"),
  exp: op("aten::exp"),
  log: op("aten::log"),
  sqrt: op("aten::sqrt"),
  rsqrt: op("aten::rsqrt"),
  abs: op("aten::abs"),
  relu: op("aten::relu"),
  sigmoid: op("aten::sigmoid"),
  tanh: op("aten::tanh"),
  sign: op("aten::sign"),
  floor: op("aten::floor"),
  round: op("aten::round"),
  reciprocal: op("aten::reciprocal"),
  clamp: op("aten::clamp"),
  sumAll: op("aten::sum"),
  sumDim: op("aten::sum", "dim_IntList"),
  meanAll: op("aten::mean"),
  meanDim: op("aten::mean", "dim"),
  maxAll: op("aten::max"),
  maxDim: op("aten::max", "dim"),
  minAll: op("aten::min"),
  minDim: op("aten::min", "dim"),
  amax: op("aten::amax"),
  argmax: op("aten::argmax"),
  vectorNorm: op("aten::linalg_vector_norm"),
  logsumexp: op("aten::logsumexp"),
  eqT: op("aten::eq", "Tensor"),
  eqS: op("aten::eq", "Scalar"),
  neT: op("aten::ne", "Tensor"),
  neS: op("aten::ne", "Scalar"),
  gtT: op("aten::gt", "Tensor"),
  gtS: op("aten::gt", "Scalar"),
  geT: op("aten::ge", "Tensor"),
  geS: op("aten::ge", "Scalar"),
  ltT: op("aten::lt", "Tensor"),
  ltS: op("aten::lt", "Scalar"),
  leT: op("aten::le", "Tensor"),
  leS: op("aten::le", "Scalar"),
  reshape: op("aten::reshape"),
  view: op("aten::view"),
  flatten: op("aten::flatten", "using_ints"),
  unsqueeze: op("aten::unsqueeze"),
  squeezeDim: op("aten::squeeze", "dim"),
  squeeze: op("aten::squeeze"),
  permute: op("aten::permute"),
  transpose: op("aten::transpose", "int"),
  t: op("aten::t"),
  expand: op("aten::expand"),
  repeat: op("aten::repeat"),
  flip: op("aten::flip"),
  contiguous: op("aten::contiguous"),
  narrow: op("aten::narrow"),
  select: op("aten::select", "int"),
  slice: op("aten::slice", "Tensor"),
  indexSelect: op("aten::index_select"),
  index: op("aten::index", "Tensor"),
  gather: op("aten::gather"),
  maskedFill: op("aten::masked_fill", "Scalar"),
  maskedFill_: op("aten::masked_fill_", "Scalar"),
  matmul: op("aten::matmul"),
  mm: op("aten::mm"),
  bmm: op("aten::bmm"),
  toDtype: op("aten::to", "dtype"),
  toDevice: op("aten::to", "device"),
  clone: op("aten::clone"),
  detach: op("aten::detach"),
  softmax: op("aten::softmax", "int"),
  logSoftmax: op("aten::log_softmax", "int"),
  topk: op("aten::topk"),
  sort: op("aten::sort"),
  cumsum: op("aten::cumsum"),
  allclose: op("aten::allclose"),
  amin: op("aten::amin"),
  remainder: op("aten::remainder", "Scalar"),
  argsort: op("aten::argsort"),
  nonzero: op("aten::nonzero"),
  indexCopy_: op("aten::index_copy_"),
  minimum: op("aten::minimum"),
  maximum: op("aten::maximum"),
  isfinite: op("aten::isfinite"),
  all: op("aten::all"),
  any: op("aten::any"),
  anyDim: op("aten::any", "dim"),
  logicalAnd: op("aten::logical_and"),
  logicalOr: op("aten::logical_or"),
  scatterAdd: op("aten::scatter_add"),
  logicalNot: op("aten::logical_not"),
};

/** Wraps an operator's result: a tensor id becomes a Tensor, a list becomes Tensor[]. */
export function wrap(result: NativeResult): Tensor {
  if (typeof result !== "number") throw new ArgumentError(`expected a tensor from libtorch, got ${JSON.stringify(result)}`);
  return new Tensor(result);
}

/**
 * The safety net for tensors nobody disposed: when a Tensor object is garbage collected,
 * its native tensor is freed. Normal code frees tensors with dispose(), using or tidy().
 */
const finalizer = new FinalizationRegistry<TensorId>((id) => native.dispose(id));

export function wrapList(result: NativeResult): Tensor[] {
  if (!Array.isArray(result)) throw new ArgumentError("expected a list of tensors from libtorch");
  return result.map((r) => wrap(r));
}

function dimList(dim: number | readonly number[]): number[] {
  return typeof dim === "number" ? [dim] : [...dim];
}

/** Memory layouts of a 4-D tensor: row-major NCHW, or NHWC ("channels_last"). */
export type MemoryFormat = "contiguous" | "channels_last";
/** c10::MemoryFormat values. */
const MEMORY_FORMATS: Record<MemoryFormat, number> = { contiguous: 0, channels_last: 2 };

/**
 * A tensor argument's id for an op call; anything else is passed through as it is, so the
 * native binding names the operator, the argument and what it got ("aten::matmul: argument
 * 'other' (Tensor) expects a Tensor, got null"), which Op.call raises as an ArgumentError.
 */
function idOf(value: unknown): TensorId {
  return (value instanceof Tensor ? value.id : value) as TensorId;
}

export class Tensor implements Disposable {
  readonly #id: TensorId;

  /** Wraps a native tensor id; use the factory functions (`tensor`, `zeros`, ...) instead. */
  constructor(id: TensorId) {
    this.#id = id;
    finalizer.register(this, id, this);
    track(this);
  }

  /** The native tensor id, for operator calls. */
  get id(): TensorId {
    return this.#id;
  }

  // ---- lifetime -------------------------------------------------------------------------

  /** Drops this reference to the libtorch tensor now. Using the tensor afterwards throws. */
  dispose(): void {
    finalizer.unregister(this);
    native.dispose(this.#id);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Left every tidy scope: from now on only the GC frees it, so V8 is told its bytes. */
  leftScopes(): void {
    native.reportToGc(this.#id);
  }

  get isDisposed(): boolean {
    return !native.isLive(this.#id);
  }

  // ---- metadata -------------------------------------------------------------------------

  get shape(): number[] {
    return native.shape(this.#id);
  }

  get strides(): number[] {
    return native.strides(this.#id);
  }

  get ndim(): number {
    return native.shape(this.#id).length;
  }

  /**
   * Size of dimension `dim` (negative counts from the end, as in PyTorch). The typed way to
   * read one dimension: `shape[k]` is `number | undefined` under noUncheckedIndexedAccess.
   */
  size(dim: number): number {
    const shape = this.shape;
    const d = dim < 0 ? dim + shape.length : dim;
    const n = Number.isInteger(d) ? shape[d] : undefined;
    if (n === undefined) throw new ArgumentError(`dimension ${dim} is out of range for a tensor of shape [${shape.join(", ")}]`);
    return n;
  }

  get numel(): number {
    return native.numel(this.#id);
  }

  get dtype(): DType {
    return dtypeName(native.dtype(this.#id));
  }

  /** "cpu", "cuda:0", ... */
  get device(): string {
    return native.device(this.#id);
  }

  toString(): string {
    if (this.isDisposed) return "Tensor(disposed)";
    return `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ", requiresGrad" : ""})`;
  }

  // ---- data -----------------------------------------------------------------------------

  /**
   * A copy of the elements, contiguous, in the tensor's dtype (int64 as BigInt64Array,
   * bool as Uint8Array). float16/bfloat16 are converted to float32.
   */
  data(): AnyTypedArray {
    const dtype = this.dtype;
    if (dtype === "float16" || dtype === "bfloat16") {
      const f = this.to("float32");
      try {
        return f.data();
      } finally {
        f.dispose();
      }
    }
    return viewAs(dtype, native.toBuffer(this.#id)) as AnyTypedArray;
  }

  /** The elements as plain numbers (int64 converted with Number()). */
  dataAsNumbers(): Float64Array {
    const d = this.data();
    if (d instanceof BigInt64Array) return Float64Array.from(d, (x) => Number(x));
    return Float64Array.from(d as ArrayLike<number>);
  }

  /** Nested JS arrays, like PyTorch's tolist(). */
  toArray(): NestedArray {
    const flat = this.dataAsNumbers();
    const shape = this.shape;
    const asBool = this.dtype === "bool";
    const build = (dims: readonly number[], offset: number): NestedArray => {
      const [n, ...inner] = dims;
      if (n === undefined) return asBool ? flat[offset] !== 0 : (flat[offset] as number);
      const stride = inner.reduce((a, b) => a * b, 1);
      const out: NestedArray[] = [];
      for (let i = 0; i < n; i++) out.push(build(inner, offset + i * stride));
      return out;
    };
    return build(shape, 0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    const v = native.item(this.#id);
    return typeof v === "boolean" ? Number(v) : v;
  }

  // ---- autograd -------------------------------------------------------------------------

  get requiresGrad(): boolean {
    return native.requiresGrad(this.#id);
  }

  set requiresGrad(flag: boolean) {
    native.setRequiresGrad(this.#id, flag);
  }

  /** Sets requiresGrad and returns this, for chaining. */
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.#id, flag);
    return this;
  }

  get isLeaf(): boolean {
    return native.isLeaf(this.#id);
  }

  /**
   * The accumulated gradient, or null. Like every op result, each read is a new reference
   * the caller owns, registered in the current tidy scope: read it inside tidy() or dispose
   * it. It shares the gradient's memory, so in-place changes to it change the gradient.
   */
  get grad(): Tensor | null {
    const g = native.grad(this.#id);
    return g === null ? null : new Tensor(g);
  }

  set grad(g: Tensor | null) {
    native.setGrad(this.#id, g === null ? null : idOf(g));
  }

  retainGrad(): this {
    native.retainGrad(this.#id);
    return this;
  }

  /** Accumulates d(this)/d(leaf) into every leaf's grad. A scalar needs no gradient argument. */
  backward(gradient?: Tensor, options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward(this.#id, gradient?.id ?? null, options.retainGraph ?? false, options.createGraph ?? false);
  }

  /** A tensor sharing this one's data, cut from the autograd graph. */
  detach(): Tensor {
    return wrap(ops.detach.call(this.#id));
  }

  // ---- arithmetic -----------------------------------------------------------------------

  add(other: Tensor | number, alpha = 1): Tensor {
    return wrap(typeof other === "number" ? ops.addS.call(this.#id, other, alpha) : ops.addT.call(this.#id, idOf(other), alpha));
  }

  sub(other: Tensor | number, alpha = 1): Tensor {
    return wrap(typeof other === "number" ? ops.subS.call(this.#id, other, alpha) : ops.subT.call(this.#id, idOf(other), alpha));
  }

  mul(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.mulS.call(this.#id, other) : ops.mulT.call(this.#id, idOf(other)));
  }

  div(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.divS.call(this.#id, other) : ops.divT.call(this.#id, idOf(other)));
  }

  pow(exponent: Tensor | number): Tensor {
    return wrap(typeof exponent === "number" ? ops.powS.call(this.#id, exponent) : ops.powT.call(this.#id, idOf(exponent)));
  }

  neg(): Tensor {
    return wrap(ops.neg.call(this.#id));
  }
  exp(): Tensor {
    return wrap(ops.exp.call(this.#id));
  }
  log(): Tensor {
    return wrap(ops.log.call(this.#id));
  }
  sqrt(): Tensor {
    return wrap(ops.sqrt.call(this.#id));
  }
  rsqrt(): Tensor {
    return wrap(ops.rsqrt.call(this.#id));
  }
  abs(): Tensor {
    return wrap(ops.abs.call(this.#id));
  }
  square(): Tensor {
    return this.mul(this);
  }
  reciprocal(): Tensor {
    return wrap(ops.reciprocal.call(this.#id));
  }
  relu(): Tensor {
    return wrap(ops.relu.call(this.#id));
  }
  sigmoid(): Tensor {
    return wrap(ops.sigmoid.call(this.#id));
  }
  tanh(): Tensor {
    return wrap(ops.tanh.call(this.#id));
  }
  sign(): Tensor {
    return wrap(ops.sign.call(this.#id));
  }
  floor(): Tensor {
    return wrap(ops.floor.call(this.#id));
  }
  round(): Tensor {
    return wrap(ops.round.call(this.#id));
  }

  /** Limits values to [min, max]; either bound may be null. */
  clamp(min: number | null, max: number | null = null): Tensor {
    return wrap(ops.clamp.call(this.#id, min, max));
  }

  // ---- in place (these change this tensor and return it) --------------------------------

  add_(other: Tensor | number, alpha = 1): this {
    if (typeof other === "number") ops.addS_.callInPlace(this.#id, other, alpha);
    else ops.addT_.callInPlace(this.#id, idOf(other), alpha);
    return this;
  }

  sub_(other: Tensor, alpha = 1): this {
    ops.subT_.callInPlace(this.#id, idOf(other), alpha);
    return this;
  }

  mul_(other: Tensor | number): this {
    if (typeof other === "number") ops.mulS_.callInPlace(this.#id, other);
    else ops.mulT_.callInPlace(this.#id, idOf(other));
    return this;
  }

  div_(other: Tensor | number): this {
    if (typeof other === "number") ops.divS_.callInPlace(this.#id, other);
    else ops.divT_.callInPlace(this.#id, idOf(other));
    return this;
  }

  /** this += value * a * b */
  addcmul_(a: Tensor, b: Tensor, value = 1): this {
    ops.addcmul_.callInPlace(this.#id, idOf(a), idOf(b), value);
    return this;
  }

  /** this += value * a / b */
  addcdiv_(a: Tensor, b: Tensor, value = 1): this {
    ops.addcdiv_.callInPlace(this.#id, idOf(a), idOf(b), value);
    return this;
  }

  /** Writes the rows of `source` at positions `index` (int64) of dimension `dim`. */
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    ops.indexCopy_.callInPlace(this.#id, dim, idOf(index), idOf(source));
    return this;
  }

  /** Copies `src` (broadcast, converted) into this tensor. */
  copy_(src: Tensor): this {
    ops.copy_.callInPlace(this.#id, idOf(src), false);
    return this;
  }

  zero_(): this {
    ops.zero_.callInPlace(this.#id);
    return this;
  }

  fill_(value: number): this {
    ops.fill_.callInPlace(this.#id, value);
    return this;
  }

  clamp_(min: number | null, max: number | null = null): this {
    ops.clamp_.callInPlace(this.#id, min, max);
    return this;
  }

  /** Fills with N(mean, std^2) samples from libtorch's default generator. */
  normal_(mean = 0, std = 1): this {
    ops.normal_.callInPlace(this.#id, mean, std, null);
    return this;
  }

  /** Fills with U[low, high) samples from libtorch's default generator. */
  uniform_(low = 0, high = 1): this {
    ops.uniform_.callInPlace(this.#id, low, high, null);
    return this;
  }

  // ---- reductions -----------------------------------------------------------------------

  /** Sum of all elements, or over `dim`. */
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    if (dim === undefined) return wrap(ops.sumAll.call(this.#id, null));
    return wrap(ops.sumDim.call(this.#id, dimList(dim), keepdim, null));
  }

  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    if (dim === undefined) return wrap(ops.meanAll.call(this.#id, null));
    return wrap(ops.meanDim.call(this.#id, dimList(dim), keepdim, null));
  }

  /** Largest element, or with `dim` the largest values and their indices. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return wrap(ops.maxAll.call(this.#id));
    const [values, indices] = wrapList(ops.maxDim.call(this.#id, dim, keepdim)) as [Tensor, Tensor];
    return { values, indices };
  }

  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return wrap(ops.minAll.call(this.#id));
    const [values, indices] = wrapList(ops.minDim.call(this.#id, dim, keepdim)) as [Tensor, Tensor];
    return { values, indices };
  }

  amax(dim: number | readonly number[], keepdim = false): Tensor {
    return wrap(ops.amax.call(this.#id, dimList(dim), keepdim));
  }

  amin(dim: number | readonly number[], keepdim = false): Tensor {
    return wrap(ops.amin.call(this.#id, dimList(dim), keepdim));
  }

  /** Elementwise maximum / minimum of two tensors (broadcasting). */
  maximum(other: Tensor): Tensor {
    return wrap(ops.maximum.call(this.#id, idOf(other)));
  }
  minimum(other: Tensor): Tensor {
    return wrap(ops.minimum.call(this.#id, idOf(other)));
  }

  /** Python-style modulo: the result has the sign of the divisor. */
  remainder(divisor: number): Tensor {
    // x % ±1 is 0 for every integer, and libtorch's integer kernel computes INT_MIN % -1 with a
    // hardware division that traps (SIGFPE kills the process): answer it here.
    if (Math.abs(divisor) === 1 && INTEGER_DTYPES.has(this.dtype)) return this.mul(0);
    return wrap(ops.remainder.call(this.#id, divisor));
  }

  /** Indices that sort along `dim`. */
  argsort(dim = -1, descending = false): Tensor {
    return wrap(ops.argsort.call(this.#id, dim, descending));
  }

  /** Indices of non-zero elements, (count, ndim) int64. */
  nonzero(): Tensor {
    return wrap(ops.nonzero.call(this.#id));
  }

  isfinite(): Tensor {
    return wrap(ops.isfinite.call(this.#id));
  }
  /** True (a bool tensor) if every / any element (along `dim`) is non-zero. */
  all(): Tensor {
    return wrap(ops.all.call(this.#id));
  }
  any(dim?: number, keepdim = false): Tensor {
    return wrap(dim === undefined ? ops.any.call(this.#id) : ops.anyDim.call(this.#id, dim, keepdim));
  }
  logicalAnd(other: Tensor): Tensor {
    return wrap(ops.logicalAnd.call(this.#id, idOf(other)));
  }
  logicalOr(other: Tensor): Tensor {
    return wrap(ops.logicalOr.call(this.#id, idOf(other)));
  }
  logicalNot(): Tensor {
    return wrap(ops.logicalNot.call(this.#id));
  }

  argmax(dim?: number, keepdim = false): Tensor {
    return wrap(ops.argmax.call(this.#id, dim ?? null, keepdim));
  }

  /** The p-norm over all elements, or over `dim`. */
  norm(p = 2, dim?: number | readonly number[], keepdim = false): Tensor {
    return wrap(ops.vectorNorm.call(this.#id, p, dim === undefined ? null : dimList(dim), keepdim, null));
  }

  logsumexp(dim: number | readonly number[], keepdim = false): Tensor {
    return wrap(ops.logsumexp.call(this.#id, dimList(dim), keepdim));
  }

  cumsum(dim: number): Tensor {
    return wrap(ops.cumsum.call(this.#id, dim, null));
  }

  /** The k largest (or smallest) values along `dim` and their indices. */
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapList(ops.topk.call(this.#id, k, dim, largest, sorted)) as [Tensor, Tensor];
    return { values, indices };
  }

  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapList(ops.sort.call(this.#id, dim, descending)) as [Tensor, Tensor];
    return { values, indices };
  }

  // ---- comparisons (bool results) -------------------------------------------------------

  eq(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.eqS.call(this.#id, other) : ops.eqT.call(this.#id, idOf(other)));
  }
  ne(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.neS.call(this.#id, other) : ops.neT.call(this.#id, idOf(other)));
  }
  gt(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.gtS.call(this.#id, other) : ops.gtT.call(this.#id, idOf(other)));
  }
  ge(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.geS.call(this.#id, other) : ops.geT.call(this.#id, idOf(other)));
  }
  lt(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.ltS.call(this.#id, other) : ops.ltT.call(this.#id, idOf(other)));
  }
  le(other: Tensor | number): Tensor {
    return wrap(typeof other === "number" ? ops.leS.call(this.#id, other) : ops.leT.call(this.#id, idOf(other)));
  }

  /** True when every element is within atol + rtol * |other| of `other`. */
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    return ops.allclose.call(this.#id, idOf(other), rtol, atol, false) === true;
  }

  // ---- shape ----------------------------------------------------------------------------

  reshape(shape: readonly number[]): Tensor {
    return wrap(ops.reshape.call(this.#id, [...shape]));
  }
  view(shape: readonly number[]): Tensor {
    return wrap(ops.view.call(this.#id, [...shape]));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return wrap(ops.flatten.call(this.#id, startDim, endDim));
  }
  unsqueeze(dim: number): Tensor {
    return wrap(ops.unsqueeze.call(this.#id, dim));
  }
  squeeze(dim?: number): Tensor {
    return wrap(dim === undefined ? ops.squeeze.call(this.#id) : ops.squeezeDim.call(this.#id, dim));
  }
  permute(dims: readonly number[]): Tensor {
    return wrap(ops.permute.call(this.#id, [...dims]));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return wrap(ops.transpose.call(this.#id, dim0, dim1));
  }
  /** Transpose of a matrix. */
  t(): Tensor {
    return wrap(ops.t.call(this.#id));
  }
  expand(shape: readonly number[]): Tensor {
    return wrap(ops.expand.call(this.#id, [...shape], false));
  }
  repeat(repeats: readonly number[]): Tensor {
    return wrap(ops.repeat.call(this.#id, [...repeats]));
  }
  flip(dims: readonly number[]): Tensor {
    return wrap(ops.flip.call(this.#id, [...dims]));
  }
  /**
   * A tensor with the elements laid out densely: in row-major order (the default), or for
   * "channels_last" a 4-D tensor (N, C, H, W) stored as (N, H, W, C) — the layout oneDNN's
   * convolutions prefer. Shape and indexing are unchanged; only the strides differ.
   */
  contiguous(memoryFormat: MemoryFormat = "contiguous"): Tensor {
    return wrap(ops.contiguous.call(this.#id, MEMORY_FORMATS[memoryFormat]));
  }

  /** Whether the elements are laid out densely in `memoryFormat` (a size-1 dim's stride does not matter). */
  isContiguous(memoryFormat: MemoryFormat = "contiguous"): boolean {
    return this.#denseIn(memoryFormat, false);
  }

  /**
   * Whether the strides are exactly those of a dense tensor in `memoryFormat`, size-1 dims
   * included. The difference from isContiguous matters where a layout is read off the strides:
   * a (16, 1, 3, 3) weight strided (9, 9, 3, 1) is contiguous in both formats, and oneDNN
   * takes it as NCHW and gives NCHW outputs; strided (9, 1, 3, 1) it is channels-last.
   */
  isStridedAs(memoryFormat: MemoryFormat): boolean {
    return this.#denseIn(memoryFormat, true);
  }

  #denseIn(memoryFormat: MemoryFormat, exact: boolean): boolean {
    const shape = this.shape;
    if (memoryFormat === "channels_last" && shape.length !== 4) return false;
    // the order in which dims are laid out, innermost last: NCHW, or N H W C
    const order = memoryFormat === "channels_last" ? [0, 2, 3, 1] : shape.map((_, i) => i);
    const strides = this.strides;
    let expected = 1;
    for (let k = order.length - 1; k >= 0; k--) {
      const d = order[k] as number;
      if ((exact || (shape[d] as number) !== 1) && strides[d] !== expected) return false;
      expected *= shape[d] as number;
    }
    return true;
  }
  /** Elements start..start+length-1 along `dim` (a view). */
  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(ops.narrow.call(this.#id, dim, start, length));
  }
  /** Index `index` of `dim`, which is removed (a view). */
  select(dim: number, index: number): Tensor {
    return wrap(ops.select.call(this.#id, dim, index));
  }
  /** Elements start, start+step, ... < end along `dim` (a view). */
  slice(dim: number, start: number | null, end: number | null, step = 1): Tensor {
    return wrap(ops.slice.call(this.#id, dim, start, end, step));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return wrap(ops.indexSelect.call(this.#id, dim, idOf(index)));
  }
  /** Advanced indexing, like `x[i0, i1, ...]` with index tensors (null = whole dimension). */
  index(indices: ReadonlyArray<Tensor | null>): Tensor {
    return wrap(
      ops.index.call(
        this.#id,
        indices.map((t) => (t === null ? null : idOf(t))),
      ),
    );
  }
  /** Adds src's values into a copy of this tensor at `index` along `dim`. */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return wrap(ops.scatterAdd.call(this.#id, dim, idOf(index), idOf(src)));
  }
  gather(dim: number, index: Tensor): Tensor {
    return wrap(ops.gather.call(this.#id, dim, idOf(index), false));
  }
  /** In place: elements where `mask` is true become `value`. */
  maskedFill_(mask: Tensor, value: number): this {
    ops.maskedFill_.callInPlace(this.#id, idOf(mask), value);
    return this;
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return wrap(ops.maskedFill.call(this.#id, idOf(mask), value));
  }

  // ---- linear algebra -------------------------------------------------------------------

  matmul(other: Tensor): Tensor {
    return wrap(ops.matmul.call(this.#id, idOf(other)));
  }
  mm(other: Tensor): Tensor {
    return wrap(ops.mm.call(this.#id, idOf(other)));
  }
  bmm(other: Tensor): Tensor {
    return wrap(ops.bmm.call(this.#id, idOf(other)));
  }

  softmax(dim: number): Tensor {
    return wrap(ops.softmax.call(this.#id, dim, null));
  }
  logSoftmax(dim: number): Tensor {
    return wrap(ops.logSoftmax.call(this.#id, dim, null));
  }

  // ---- conversion -----------------------------------------------------------------------

  /** Converts to a dtype ("float64") or moves to a device ("cuda", "cpu"). Returns a new tensor. */
  to(target: DType | string): Tensor {
    if (isDType(target)) return wrap(ops.toDtype.call(this.#id, dtypeCode(target), false, false, null));
    return wrap(ops.toDevice.call(this.#id, target, native.dtype(this.#id), false, false, null));
  }

  float(): Tensor {
    return this.to("float32");
  }
  double(): Tensor {
    return this.to("float64");
  }

  /** A copy; with `memoryFormat`, strided exactly as that format lays it out (isStridedAs). */
  clone(memoryFormat?: MemoryFormat): Tensor {
    return wrap(ops.clone.call(this.#id, memoryFormat === undefined ? null : MEMORY_FORMATS[memoryFormat]));
  }
}

const DTYPES = new Set<string>(["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]);

function isDType(s: string): s is DType {
  return DTYPES.has(s);
}
