/**
 * A PNG grid of what the model sees: one row per training image, the original and then K
 * augmented views with the configured augmentation (`simclr augment-preview`, the start of
 * pretraining, the report).
 */
import sharp from "sharp";
import { resizedCrop } from "../augment/crop.js";
import { toUnitFloat } from "../tensor/pixels.js";
import type { SimCLRAugment } from "../augment/simclr.js";
import { full, zeros } from "../tensor/factory.js";
import type { Tensor } from "../tensor/tensor.js";
import { tidy } from "../tensor/scope.js";

/** An RGB canvas: rows of the original and `views` augmented views, each `cell` px square. */
export interface ViewGrid {
  rgb: Buffer;
  width: number;
  height: number;
}

/**
 * Lays out `images` (uint8 (N, C, H, W)) and `views` augmentations of each as a grid. Draws
 * augmentation parameters from the global RNG (callers that must not disturb it wrap this in
 * withoutRngEffect or withSeed).
 */
export function viewGrid(images: Tensor, augment: SimCLRAugment, views: number, cell: number): ViewGrid {
  const [n, c, h] = [images.size(0), images.size(1), images.size(2)];
  const size = augment.options.size ?? h;
  // Each column: (N, C, size, size) floats in [0, 1]; column 0 is the original, resized.
  const columns = tidy(() => {
    const original = toUnitFloat(images); // (N, C, H, W)
    const out: Float32Array[] = [];
    // Whole-image boxes, no flip and nothing else: the original at the views' size.
    const whole = { top: zeros([n]), left: zeros([n]), height: full([n], h), width: full([n], h) };
    const resized = size === h ? original : resizedCrop(original, whole, zeros([n], { dtype: "bool" }), size);
    out.push(resized.data() as Float32Array);
    for (let k = 0; k < views; k++) out.push(augment.view(images).data() as Float32Array);
    return out;
  });
  // Assemble an RGB canvas of rows x (views + 1) cells, nearest-neighbour scaled to `cell` px.
  const gap = 4;
  const width = (views + 1) * (cell + gap) + gap;
  const height = n * (cell + gap) + gap;
  const canvas = Buffer.alloc(width * height * 3, 255);
  columns.forEach((pixels, col) => {
    for (let r = 0; r < n; r++) {
      for (let y = 0; y < cell; y++) {
        for (let x = 0; x < cell; x++) {
          const sy = Math.floor((y * size) / cell);
          const sx = Math.floor((x * size) / cell);
          const dst = ((gap + r * (cell + gap) + y) * width + gap + col * (cell + gap) + x) * 3;
          for (let ch = 0; ch < 3; ch++) {
            const src = ((r * c + Math.min(ch, c - 1)) * size + sy) * size + sx;
            canvas[dst + ch] = Math.round((pixels[src] ?? 0) * 255);
          }
        }
      }
    }
  });
  return { rgb: canvas, width, height };
}

/** The grid as PNG bytes. */
export async function gridPng(grid: ViewGrid): Promise<Buffer> {
  return sharp(grid.rgb, { raw: { width: grid.width, height: grid.height, channels: 3 } })
    .png()
    .toBuffer();
}
