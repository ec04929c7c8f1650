import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

/** A single-input, single-output layer. */
export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}

/** Applies layers in order; they are named "0", "1", ... as in PyTorch. */
export class Sequential extends Module {
  readonly layers: Layer[];

  constructor(...layers: Layer[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, i) => this.registerModule(String(i), layer));
  }

  /** Each layer runs through `call`; intermediate results are freed as soon as the next layer has consumed them. */
  forward(x: Tensor): Tensor {
    let out = x;
    for (const layer of this.layers) {
      const next = layer.call(out);
      if (out !== x && next !== out) out.dispose();
      out = next;
    }
    return out;
  }
}
