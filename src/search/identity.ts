/** The identity of an encoder for an index: a hash of its weights and input shape, and where it came from. */
import { createHash } from "node:crypto";
import type { Encoder } from "../models/encoder.js";
import type { ModelIdentity } from "./index-store.js";

export function modelIdentity(encoder: Encoder, info: { run: string; checkpoint: string; arch: string; inputSize: number }): ModelIdentity {
  const hash = createHash("sha256");
  const { inChannels, cifarStem } = encoder.options;
  // what the encoder's shape depends on: a ResNet's width, a MobileNet's multiplier
  const width = "width" in encoder.options ? encoder.options.width : "widthMult" in encoder.options ? encoder.options.widthMult : 1;
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
