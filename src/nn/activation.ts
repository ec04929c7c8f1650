import type { Tensor } from "../tensor/tensor.js";
import { relu_ } from "./functional.js";
import { Module } from "./module.js";

/** max(x, 0). With `inplace` it overwrites its input, as torchvision's ResNet does. */
export class ReLU extends Module {
  constructor(readonly inplace = false) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.inplace ? relu_(x) : x.relu();
  }
}

/** Returns its input unchanged. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
