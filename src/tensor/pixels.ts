/** Pixels: the one place uint8 [0, 255] becomes float32 [0, 1] (the loader and the augmentation use it). */
import type { Tensor } from "./tensor.js";

/**
 * uint8 pixels in [0, 255] -> float32 in [0, 1]; any other dtype is converted to float32 as it
 * is. Returns one new tensor and leaves no intermediate behind (the division is in place on the
 * fresh float copy), so callers need no tidy for it.
 */
export function toUnitFloat(images: Tensor): Tensor {
  return images.dtype === "uint8" ? images.to("float32").div_(255) : images.to("float32");
}
