/**
 * Gaussian blur with a per-view sigma (SimCLR Appendix A: p = 0.5, sigma in [0.1, 2.0],
 * kernel about 10% of the image side), as two depthwise 1-d convolutions over all views at
 * once. Views that are not blurred get a delta kernel. Borders are reflected (torchvision).
 */
import { conv2d, reflectionPad2d } from "../nn/functional.js";
import { arange, where, zeros } from "../tensor/factory.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";

/** Odd tap count for a nominal kernel size (the official code: radius = size // 2). */
export function blurTaps(kernelSize: number): number {
  return 2 * Math.floor(kernelSize / 2) + 1;
}

/** x: (N, C, H, W); sigma, apply: (N). Returns the blurred views. */
export function gaussianBlur(x: Tensor, sigma: Tensor, apply: Tensor, kernelSize: number): Tensor {
  const taps = blurTaps(kernelSize);
  const radius = (taps - 1) / 2;
  if (radius === 0) return x.clone();
  return tidy(() => {
    const [n, c, h, w] = [x.size(0), x.size(1), x.size(2), x.size(3)];
    if (radius >= h || radius >= w) throw new ArgumentError(`blur kernel of ${taps} taps is too large for ${h}x${w} images`);
    const offsets = arange(-radius, radius + 1, 1, { dtype: "float32", device: x.device }); // (taps)
    const s = sigma.reshape([n, 1]);
    const gauss = offsets.square().reshape([1, taps]).div(s.square().mul(-2)).exp(); // (N, taps)
    const normalised = gauss.div(gauss.sum(1, true));
    const delta = zeros([taps], { device: x.device }).indexCopy_(
      0,
      arange(radius, radius + 1, 1, { device: x.device }),
      zeros([1], { device: x.device }).add(1),
    );
    const kernel = where(apply.reshape([n, 1]), normalised, delta.reshape([1, taps])); // (N, taps)
    const perChannel = kernel
      .reshape([n, 1, taps])
      .expand([n, c, taps])
      .reshape([n * c, 1, taps]); // (N*C, 1, taps)
    // All views as channels of one image: (1, N*C, H, W), a depthwise conv per direction.
    const flat = reflectionPad2d(x.reshape([1, n * c, h, w]), [radius, radius, radius, radius]);
    const horizontal = conv2d(flat, perChannel.reshape([n * c, 1, 1, taps]), null, { groups: n * c });
    const vertical = conv2d(horizontal, perChannel.reshape([n * c, 1, taps, 1]), null, { groups: n * c });
    return vertical.reshape([n, c, h, w]);
  });
}
