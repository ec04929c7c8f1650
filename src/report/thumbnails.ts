/** Images of a data set as PNG data: URIs for the report, scaled up with nearest neighbour. */
import sharp from "sharp";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

/** Image `index` of uint8 `images` (N, C, H, W) as a `side`-px PNG data: URI. */
export async function thumbnail(images: Tensor, index: number, side: number): Promise<string> {
  const [c, h, w] = [images.size(1), images.size(2), images.size(3)];
  // (C, H, W) -> (H, W, C), copied out; the intermediates are freed by tidy
  const pixels = tidy(() => Buffer.from(images.select(0, index).permute([1, 2, 0]).data() as Uint8Array));
  const png = await sharp(pixels, { raw: { width: w, height: h, channels: c === 1 ? 1 : 3 } })
    .resize(side, side, { kernel: "nearest", fit: "fill" })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString("base64")}`;
}

export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString("base64")}`;
}
