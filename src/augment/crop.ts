/**
 * Random resized crop with horizontal flip, batched: every view draws its own box, and one
 * bilinear grid-sample resamples all views at once (SimCLR Appendix A: "random cropping
 * with resize", area 0.08-1, aspect 3/4-4/3, then a random horizontal flip).
 */
import { affineGrid, gridSample } from "../nn/functional.js";
import { full, rand, stack, where, zeros } from "../tensor/factory.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

export interface CropOptions {
  /** Range of the crop's area as a fraction of the image's. */
  scale: [number, number];
  /** Range of the crop's aspect ratio (width / height), sampled log-uniformly. */
  ratio: [number, number];
}

/** Crop boxes in pixels, one per view: each (N) float32. */
export interface CropBoxes {
  top: Tensor;
  left: Tensor;
  height: Tensor;
  width: Tensor;
}

/** torchvision's RandomResizedCrop makes 10 attempts before falling back to a center crop. */
const ATTEMPTS = 10;

/**
 * Samples one crop box per view with torchvision's RandomResizedCrop.get_params, vectorised:
 * 10 candidate (area, aspect) pairs per view, the first that fits wins; if none fits, the
 * largest center crop with the aspect clamped into `ratio`.
 */
export function sampleCropBoxes(n: number, height: number, width: number, options: CropOptions, device?: string): CropBoxes {
  return tidy(() => {
    const area = height * width;
    const [s0, s1] = options.scale;
    const [r0, r1] = options.ratio;
    const targetArea = rand([n, ATTEMPTS], { device })
      .mul((s1 - s0) * area)
      .add(s0 * area); // (N, 10)
    const logRatio = rand([n, ATTEMPTS], { device })
      .mul(Math.log(r1) - Math.log(r0))
      .add(Math.log(r0));
    const aspect = logRatio.exp();
    const w = targetArea.mul(aspect).sqrt().round(); // (N, 10)
    const h = targetArea.div(aspect).sqrt().round();
    const fits = w.gt(0).logicalAnd(w.le(width)).logicalAnd(h.gt(0)).logicalAnd(h.le(height)); // (N, 10)
    const first = fits.to("uint8").argmax(1, true); // (N, 1): the first attempt that fits
    const anyFits = fits.any(1);
    // Fallback (torchvision): whole image, aspect clamped into [r0, r1], centered.
    const inRatio = width / height;
    let fw = width;
    let fh = height;
    if (inRatio < r0) fh = Math.round(fw / r0);
    else if (inRatio > r1) fw = Math.round(fh * r1);
    const cw = where(anyFits, w.gather(1, first).squeeze(1), full([n], fw, { device }));
    const ch = where(anyFits, h.gather(1, first).squeeze(1), full([n], fh, { device }));
    const randomTop = rand([n], { device })
      .mul(ch.neg().add(height + 1))
      .floor();
    const randomLeft = rand([n], { device })
      .mul(cw.neg().add(width + 1))
      .floor();
    const top = where(anyFits, randomTop, full([n], Math.floor((height - fh) / 2), { device }));
    const left = where(anyFits, randomLeft, full([n], Math.floor((width - fw) / 2), { device }));
    return { top, left, height: ch, width: cw };
  });
}

/**
 * Resamples each view's box to size x size, mirrored where `flip` is true.
 * x: (N, C, H, W) float -> (N, C, size, size). Bilinear without antialiasing and with
 * border clamping, which is what torchvision's tensor resize computes. (Two batched matrix
 * products with tent-weight matrices compute the same values; on the CPU they were 2x
 * slower than grid_sample at 32x32, so grid_sample it is.)
 */
export function resizedCrop(x: Tensor, boxes: CropBoxes, flip: Tensor, size: number): Tensor {
  return tidy(() => {
    const [n, c, height, width] = [x.size(0), x.size(1), x.size(2), x.size(3)];
    // Output pixel u samples input x = left + (u + 0.5) * w / size - 0.5; in the normalised
    // coordinates of affine_grid/grid_sample (align_corners = false) that is the map
    // x_in = (w / W) * x_out + (2 * left + w) / W - 1. A flip negates the slope.
    const sign = where(flip, full([n], -1, { device: x.device }), full([n], 1, { device: x.device }));
    const ax = boxes.width.div(width).mul(sign); // (N)
    const bx = boxes.left.mul(2).add(boxes.width).div(width).sub(1);
    const ay = boxes.height.div(height);
    const by = boxes.top.mul(2).add(boxes.height).div(height).sub(1);
    const zero = zeros([n], { device: x.device });
    const theta = stack([ax, zero, bx, zero, ay, by], 1).reshape([n, 2, 3]); // (N, 2, 3)
    const grid = affineGrid(theta, [n, c, size, size]); // (N, size, size, 2)
    return gridSample(x, grid, { mode: "bilinear", padding: "border" }); // (N, C, size, size)
  });
}
