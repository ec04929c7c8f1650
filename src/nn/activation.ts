import type { Tensor } from "../tensor/tensor.js";
import { hardsigmoid, hardswish, relu_, silu } from "./functional.js";
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

/** x * relu6(x + 3) / 6 (MobileNetV3). */
export class Hardswish extends Module {
  forward(x: Tensor): Tensor {
    return hardswish(x);
  }
}

/** relu6(x + 3) / 6 (MobileNetV3's squeeze-and-excitation gate). */
export class Hardsigmoid extends Module {
  forward(x: Tensor): Tensor {
    return hardsigmoid(x);
  }
}

/** x * sigmoid(x) (EfficientNet). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** 1 / (1 + exp(-x)) (EfficientNet's squeeze-and-excitation gate). */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}
