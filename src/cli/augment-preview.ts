/** `simclr augment-preview [--config FILE] [--set key=value ...] --out grid.png [--images N] [--views K]` */
import { parseArgs } from "node:util";
import sharp from "sharp";
import { resizedCrop } from "../augment/crop.js";
import { loadDataset } from "../data/datasets.js";
import { full, zeros } from "../tensor/factory.js";
import { manualSeed } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import { buildAugment } from "../train/pretrain.js";
import { CONFIG_OPTIONS, UsageError, resolveConfig } from "./common.js";

export const PREVIEW_HELP = `simclr augment-preview [--config FILE.yaml] [--set key=value ...] --out grid.png [--images N] [--views K] [--cell PX]

Writes a PNG grid: one row per image, the original then K augmented views, so you can see
what the model sees with the configured augmentation.`;

export async function augmentPreviewCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...CONFIG_OPTIONS, out: { type: "string" }, images: { type: "string", default: "8" }, views: { type: "string", default: "6" }, cell: { type: "string", default: "96" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(`${PREVIEW_HELP}\n`);
    return 0;
  }
  if (!values.out) throw new UsageError("augment-preview needs --out FILE.png");
  const rows = Number(values.images);
  const views = Number(values.views);
  const cell = Number(values.cell);
  for (const [name, v] of [["--images", rows], ["--views", views], ["--cell", cell]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`${name} must be a positive integer`);
  }
  const config = resolveConfig(values);
  manualSeed(config.train.seed);
  const data = await loadDataset({ ...config.data, limit: rows }, "train");
  const augment = buildAugment(config);
  const [n, c, h] = data.images.shape as [number, number, number, number];
  const size = augment.options.size ?? h;
  // Each column: (N, C, size, size) floats in [0, 1]; column 0 is the original, resized.
  const columns = tidy(() => {
    const original = data.images.to("float32").div(255);
    const out: Float32Array[] = [];
    // Whole-image boxes, no flip and nothing else: the original at the views' size.
    const whole = { top: zeros([n]), left: zeros([n]), height: full([n], h), width: full([n], h) };
    const resized = size === h ? original : resizedCrop(original, whole, zeros([n], { dtype: "bool" }), size);
    out.push(resized.data() as Float32Array);
    for (let k = 0; k < views; k++) out.push(augment.view(data.images).data() as Float32Array);
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
            canvas[dst + ch] = Math.round((pixels[src] as number) * 255);
          }
        }
      }
    }
  });
  await sharp(canvas, { raw: { width, height, channels: 3 } }).png().toFile(values.out);
  process.stderr.write(`wrote ${values.out}: ${n} images x (original + ${views} views), preset ${config.augment.preset}\n`);
  return 0;
}
