/**
 * Images to unit-length representations for search: decode (sharp, resized and centre-cropped
 * to the encoder's input side, as the image-folder loader does), pixels / 255, the frozen
 * encoder's h with BN in inference mode, L2-normalised. One batch is one synchronous forward.
 */
import { decodeImages, hwcToPlanes } from "../data/image-folder.js";
import type { Encoder } from "../models/encoder.js";
import { tensor } from "../tensor/factory.js";
import { toUnitFloat } from "../tensor/pixels.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";

export interface Decoded {
  /** (count, C, side, side) uint8, the readable images in input order. */
  pixels: Uint8Array;
  count: number;
  /** Per input: its row in `pixels`, or the reason it could not be read. */
  rows: ({ row: number } | { error: string })[];
}

export class ImageEmbedder {
  constructor(
    readonly encoder: Encoder,
    readonly side: number,
    readonly channels: 1 | 3,
    readonly device: string,
  ) {
    encoder.eval();
  }

  /** Decodes files or encoded bytes, 32 at a time; unreadable ones are reported, not thrown. */
  async decode(inputs: readonly (string | Buffer)[]): Promise<Decoded> {
    const bytes = this.channels * this.side * this.side;
    const hwcs: (Buffer | string)[] = new Array(inputs.length);
    const reasons = await decodeImages(inputs, this.side, this.channels, (i, hwc) => (hwcs[i] = hwc));
    reasons.forEach((reason, i) => {
      if (reason !== null) hwcs[i] = reason;
    });
    const count = hwcs.filter((h) => typeof h !== "string").length;
    const pixels = new Uint8Array(count * bytes);
    let row = 0;
    const rows = hwcs.map((hwc) => {
      if (typeof hwc === "string") return { error: hwc };
      hwcToPlanes(hwc, pixels.subarray(row * bytes, (row + 1) * bytes), this.channels);
      return { row: row++ };
    });
    return { pixels, count, rows };
  }

  /** (count, C, side, side) uint8 pixels -> (count * D) float32, rows of unit length. */
  embedPixels(pixels: Uint8Array, count: number): Float32Array {
    if (count === 0) return new Float32Array(0);
    return tidy(() =>
      noGrad(() => {
        const x = toUnitFloat(tensor(pixels, { shape: [count, this.channels, this.side, this.side] })).to(this.device); // (B, C, S, S)
        const h = this.encoder.call(x); // (B, D)
        const unit = h.div(h.norm(2, 1, true).clamp(1e-12)); // (B, D)
        return unit.to("cpu").data() as Float32Array;
      }),
    );
  }

  /** One image (a file or encoded bytes) -> D values of unit length; a DataError-worthy message when unreadable. */
  async embedOne(input: string | Buffer): Promise<Float32Array> {
    const decoded = await this.decode([input]);
    const r = decoded.rows[0];
    if (r === undefined || "error" in r) throw new Error(r && "error" in r ? r.error : "not decoded");
    return this.embedPixels(decoded.pixels, 1);
  }
}
