/**
 * Color distortion (SimCLR Appendix A): brightness, contrast, saturation and hue jitter in
 * a random order per view, applied with probability p, then random grayscale. Batched:
 * each op takes one factor per view. The formulas are torchvision's tensor ColorJitter
 * (multiplicative brightness, as the official code's SimCLRv2 variant), pixels in [0, 1].
 */
import { native } from "../native.js";
import { ones, stack, tensor, where, zeros } from "../tensor/factory.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

/** (N, C, H, W) -> (N, 1, H, W): ITU-R 601 luma for RGB, the image itself for 1 channel. */
export function grayscale(x: Tensor): Tensor {
  if (x.shape[1] === 1) return x.clone();
  return tidy(() => {
    const r = x.narrow(1, 0, 1);
    const g = x.narrow(1, 1, 1);
    const b = x.narrow(1, 2, 1);
    return r.mul(0.299).add(g.mul(0.587)).add(b.mul(0.114));
  });
}

/** factor (N) -> (N, 1, 1, 1) for broadcasting over a view. */
function perView(factor: Tensor): Tensor {
  return factor.reshape([-1, 1, 1, 1]);
}

/** x * f, clamped. */
export function adjustBrightness(x: Tensor, factor: Tensor): Tensor {
  return tidy(() => x.mul(perView(factor)).clamp(0, 1));
}

/** Blend with the view's mean gray level: f * x + (1 - f) * mean. */
export function adjustContrast(x: Tensor, factor: Tensor): Tensor {
  return tidy(() => {
    const f = perView(factor);
    // mean of the grayscale image = the luma weights applied to the channel means
    const means = x.mean([2, 3], true); // (N, C, 1, 1)
    const mean = grayscale(means); // (N, 1, 1, 1)
    return x
      .mul(f)
      .add(mean.mul(f.neg().add(1)))
      .clamp(0, 1);
  });
}

/** Blend with the view's grayscale image: f * x + (1 - f) * gray. */
export function adjustSaturation(x: Tensor, factor: Tensor): Tensor {
  return tidy(() => {
    const f = perView(factor);
    return x
      .mul(f)
      .add(grayscale(x).mul(f.neg().add(1)))
      .clamp(0, 1);
  });
}

/** Rotates hue by `shift` (N) turns in [-0.5, 0.5]: RGB -> HSV, h += shift mod 1, HSV -> RGB. */
export function adjustHue(x: Tensor, shift: Tensor): Tensor {
  return tidy(() => {
    const [h, s, v] = rgbToHsv(x); // each (N, 1, H, W)
    const rotated = h.add(perView(shift)).remainder(1);
    return hsvToRgb(rotated, s, v);
  });
}

/** torchvision's _rgb2hsv. x: (N, 3, H, W) -> h, s, v each (N, 1, H, W), h in [0, 1). */
export function rgbToHsv(x: Tensor): [Tensor, Tensor, Tensor] {
  return tidy(() => {
    const r = x.narrow(1, 0, 1);
    const g = x.narrow(1, 1, 1);
    const b = x.narrow(1, 2, 1);
    const maxc = x.amax(1, true);
    const minc = x.amin(1, true);
    const gray = maxc.eq(minc); // achromatic: hue and saturation 0
    const chroma = maxc.sub(minc);
    const ones = gray.to(x.dtype).mul(0).add(1);
    const s = chroma.div(where(gray, ones, maxc));
    const divisor = where(gray, ones, chroma);
    const rc = maxc.sub(r).div(divisor);
    const gc = maxc.sub(g).div(divisor);
    const bc = maxc.sub(b).div(divisor);
    const isR = maxc.eq(r);
    const isG = maxc.eq(g).logicalAnd(isR.logicalNot());
    const isB = isR.logicalOr(isG).logicalNot();
    const hr = bc.sub(gc).mul(isR);
    const hg = rc.sub(bc).add(2).mul(isG);
    const hb = gc.sub(rc).add(4).mul(isB);
    const h = hr.add(hg).add(hb).div(6).add(1).remainder(1);
    return [h, s, maxc];
  });
}

/**
 * HSV -> RGB. h, s, v: (N, 1, H, W) in [0, 1] -> (N, 3, H, W). The branch-free form of the
 * six-sector formula torchvision uses: channel c = v - v s clamp(min(k, 4 - k), 0, 1) with
 * k = (n_c + 6 h) mod 6 and n = (5, 3, 1) for (r, g, b); equal to it for s, v in [0, 1].
 */
export function hsvToRgb(h: Tensor, s: Tensor, v: Tensor): Tensor {
  return tidy(() => {
    const n = tensor([5, 3, 1], { device: h.device }).reshape([1, 3, 1, 1]);
    const k = h.mul(6).add(n).remainder(6); // (N, 3, H, W)
    const t = k.minimum(k.neg().add(4)).clamp(0, 1);
    return v.sub(v.mul(s).mul(t));
  });
}

export type JitterOp = "brightness" | "contrast" | "saturation" | "hue";

const ADJUST: Record<JitterOp, (x: Tensor, factor: Tensor) => Tensor> = {
  brightness: adjustBrightness,
  contrast: adjustContrast,
  saturation: adjustSaturation,
  hue: adjustHue,
};

/** Per-view jitter parameters: factors (N) per op, whether to jitter (N bool), order (N, K). */
export interface JitterParams {
  ops: JitterOp[];
  factors: Record<JitterOp, Tensor | undefined>;
  apply: Tensor;
  order: Tensor;
}

/**
 * Applies each view's jitter ops in that view's own order. Stage k applies, to the views
 * whose k-th op is `op` (and that jitter at all), that op with their factors: every view
 * gets each op once, and no view pays for ops it does not take. x is overwritten.
 */
export function colorJitter_(x: Tensor, params: JitterParams): Tensor {
  tidy(() => {
    params.ops.forEach((_, stage) => {
      const column = params.order.select(1, stage); // (N) op index per view
      params.ops.forEach((op, k) => {
        const chosen = column.eq(k).logicalAnd(params.apply).nonzero().flatten(); // (M)
        if (chosen.numel === 0) return;
        const factor = (params.factors[op] as Tensor).indexSelect(0, chosen);
        x.indexCopy_(0, chosen, ADJUST[op](x.indexSelect(0, chosen), factor));
      });
    });
  });
  return x;
}

/** Replaces the views where `apply` (N bool) holds by their grayscale, in every channel. */
export function randomGrayscale(x: Tensor, apply: Tensor): Tensor {
  return tidy(() => where(apply.reshape([-1, 1, 1, 1]), grayscale(x).expand(x.shape), x));
}

const OP_CODES: Record<JitterOp, number> = { brightness: 0, contrast: 1, saturation: 2, hue: 3 };

/**
 * colorJitter_ then randomGrayscale in one fused CPU kernel (native/color_kernel.cc): each
 * view is processed in one pass while it sits in cache, several times faster than the
 * composed tensor ops above, which stay the device-generic path and its test reference.
 * x: contiguous float32 (N, C, H, W) on the CPU, overwritten. `grayscale` null: no step.
 */
export function fusedColorDistortion_(x: Tensor, params: JitterParams, grayscale: Tensor | null): Tensor {
  tidy(() => {
    const n = x.size(0);
    const codes = tensor(
      params.ops.map((op) => OP_CODES[op]),
      { dtype: "int64" },
    ); // (K)
    const order = params.ops.length > 0 ? codes.index([params.order]) : params.order; // (N, K) op codes
    const f = params.factors;
    const factors = stack([f.brightness ?? ones([n]), f.contrast ?? ones([n]), f.saturation ?? ones([n]), f.hue ?? zeros([n])], 1); // (N, 4)
    native.colorJitterCpu(x.id, order.id, factors.id, params.apply.id, (grayscale ?? zeros([n], { dtype: "bool" })).id);
  });
  return x;
}
