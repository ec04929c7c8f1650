/**
 * Loads the libtorch addon (native/, built by `npm run build:native`) and describes its
 * surface. Everything else talks to libtorch through this module.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** A native handle that owns one at::Tensor (see native/tensor_handle.cc). */
export interface NativeHandle {
  dispose(): void;
  isDisposed(): boolean;
  shape(): number[];
  strides(): number[];
  dtype(): number;
  device(): string;
  numel(): number;
  requiresGrad(): boolean;
  setRequiresGrad(flag: boolean): void;
  isLeaf(): boolean;
  grad(): NativeHandle | null;
  setGrad(grad: NativeHandle | null): void;
  retainGrad(): void;
  backward(gradient: NativeHandle | null, retainGraph: boolean, createGraph: boolean): void;
  toBuffer(): ArrayBuffer;
  item(): number | boolean;
  sameAs(other: NativeHandle): boolean;
}

/** What an operator call can return: tensors, numbers, or lists of them. */
export type NativeResult = NativeHandle | number | boolean | string | null | NativeResult[];

export interface NativeAddon {
  TensorHandle: new () => NativeHandle;
  opHandle(name: string, overload: string): number;
  callOp(id: number, ...args: unknown[]): NativeResult;
  callOpDiscard(id: number, ...args: unknown[]): void;
  opSchema(id: number): string;
  listOps(): string[];
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: number): NativeHandle;
  setGradEnabled(enabled: boolean): void;
  isGradEnabled(): boolean;
  setAutocast(device: string, enabled: boolean, dtype: number): void;
  manualSeed(seed: number): void;
  rngState(device: string): NativeHandle;
  setRngState(device: string, state: NativeHandle): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaDeviceCount(): number;
  liveHandles(): number;
  version(): { torch: string; parallel: string };
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const addonPath = join(packageRoot, "build", "Release", "simclr_native.node");

function load(): NativeAddon {
  if (!existsSync(addonPath)) {
    throw new Error(
      `simclr: the native addon is not built (${addonPath} is missing). ` +
        `Run \`bash scripts/setup.sh\` (or \`npm run build:native\`) in ${packageRoot}.`,
    );
  }
  const require = createRequire(import.meta.url);
  return require(addonPath) as NativeAddon;
}

export const native: NativeAddon = load();
