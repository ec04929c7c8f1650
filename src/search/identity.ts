/** The identity of an encoder for an index: a hash of its weights and input shape, and where it came from. */
import { createHash } from "node:crypto";
import type { ResNet } from "../models/resnet.js";
import type { ModelIdentity } from "./index-store.js";

export function modelIdentity(encoder: ResNet, info: { run: string; checkpoint: string; arch: string; inputSize: number }): ModelIdentity {
  const hash = createHash("sha256");
  const { width, inChannels, cifarStem } = encoder.options;
  hash.update(JSON.stringify({ arch: info.arch, width, inChannels, cifarStem, inputSize: info.inputSize }));
  for (const [name, t] of [...encoder.stateDict()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(name);
    const data = t.data();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return {
    hash: hash.digest("hex"),
    run: info.run,
    checkpoint: info.checkpoint,
    arch: info.arch,
    width,
    inChannels,
    inputSize: info.inputSize,
    featureDim: encoder.featureDim,
  };
}
