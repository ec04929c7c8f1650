/**
 * Deterministic memory management for tensors. libtorch memory is invisible to the JS
 * garbage collector's sense of size, so tensors are freed explicitly: `dispose()`,
 * `using` (Symbol.dispose), or a `tidy(fn)` scope that frees every tensor created inside it
 * except the ones it returns. A FinalizationRegistry frees forgotten tensors
 * eventually; it is a safety net, not the plan. docs/api.md, "Ownership", has the rules.
 */
import { ArgumentError } from "../errors.js";
import { native } from "../native.js";

/** Anything that can be freed; Tensor implements it. */
export interface Trackable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** Called when it leaves every scope, so that only the garbage collector will free it. */
  leftScopes?(): void;
}

type Scope = Set<Trackable>;

const scopes: Scope[] = [];
const scopeOf = new WeakMap<Trackable, Scope>();

/**
 * Called by every new tensor: it belongs to the innermost open scope, if any. (The addon
 * knows whether one is open, and reports to V8 only the bytes of tensors made outside every
 * scope: those are the garbage collector's to free. native/tensor_table.cc says why.)
 */
export function track(t: Trackable): void {
  const scope = scopes[scopes.length - 1];
  if (scope !== undefined) {
    scope.add(t);
    scopeOf.set(t, scope);
  }
}

/** Takes `t` out of whatever tidy scope would dispose it; returns it. */
export function keep<T extends Trackable>(t: T): T {
  const scope = scopeOf.get(t);
  if (scope !== undefined) {
    scope.delete(t);
    scopeOf.delete(t);
    t.leftScopes?.();
  }
  return t;
}

function openScope(scope: Scope): void {
  if (scopes.length === 0) native.setScopeOpen(true);
  scopes.push(scope);
}

function closeScope(): void {
  scopes.pop();
  if (scopes.length === 0) native.setScopeOpen(false);
}

/** Every Trackable reachable from `value` through arrays, Maps, Sets and plain objects. */
function collect(value: unknown, found: Set<Trackable>, seen: Set<unknown>): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (isTrackable(value)) {
    found.add(value);
    return;
  }
  if (Array.isArray(value) || value instanceof Set) {
    for (const v of value) collect(v, found, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, found, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, found, seen);
  }
}

function isTrackable(value: object): value is Trackable {
  return typeof (value as Trackable).dispose === "function" && "isDisposed" in value;
}

/**
 * Runs `fn` and disposes every tensor created during it, except those reachable from its
 * result (tensors, or arrays/objects/Maps of them), which move to the enclosing scope.
 * `fn` must be synchronous: tensors made after an `await` would escape the scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  openScope(scope);
  let result: T | undefined;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new ArgumentError("tidy() takes a synchronous function; an async one would leak the tensors made after its first await");
    }
    return result;
  } finally {
    closeScope();
    const kept = new Set<Trackable>();
    collect(result, kept, new Set());
    for (const t of scope) {
      scopeOf.delete(t);
      if (!kept.has(t)) t.dispose();
    }
    for (const t of kept) {
      if (!scope.has(t)) continue;
      if (scopes.length > 0) track(t);
      else t.leftScopes?.();
    }
  }
}

/** Something freed when its owner is done with it (tensors, modules, optimizers, loaders). */
export type Owned = { dispose(): void };

/**
 * The ownership idiom of jobs, where `tidy` does not fit (work across awaits, or tensors that
 * are not a scope's results: modules, loaders, files read): the body pushes what it makes onto
 * `owned`, and all of it is freed when the body ends, however it ends, last made first. What
 * the body returns it must not push. An async body gives a promise, a synchronous one its value.
 */
export function disposingAfter<T>(body: (owned: Owned[]) => Promise<T>): Promise<T>;
export function disposingAfter<T>(body: (owned: Owned[]) => T): T;
export function disposingAfter<T>(body: (owned: Owned[]) => T | Promise<T>): T | Promise<T> {
  const owned: Owned[] = [];
  const free = () => {
    for (const o of owned.reverse()) o.dispose();
  };
  let result: T | Promise<T>;
  try {
    result = body(owned);
  } catch (e) {
    free();
    throw e;
  }
  if (result instanceof Promise) return result.finally(free);
  free();
  return result;
}
