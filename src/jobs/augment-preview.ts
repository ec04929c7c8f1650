/** `simclr augment-preview`: the view grid of src/report/view-grid.ts for the configured augmentation, as a PNG file. */
import type { Config } from "../config/schema.js";
import { loadDataset } from "../data/datasets.js";
import { writeFileAtomic } from "../io/atomic.js";
import { buildAugment } from "../recipe/recipe.js";
import { gridPng, viewGrid } from "../report/view-grid.js";
import { manualSeed } from "../tensor/runtime.js";
import { disposingAfter } from "../tensor/scope.js";

export interface PreviewOptions {
  out: string;
  /** Rows (training images), views per row, and the side of a cell in pixels. */
  images: number;
  views: number;
  cell: number;
}

export async function augmentPreview(config: Config, options: PreviewOptions): Promise<{ images: number }> {
  manualSeed(config.train.seed);
  return disposingAfter(async (owned) => {
    const data = await loadDataset({ ...config.data, limit: options.images }, "train");
    owned.push(data.images, data.labels);
    const grid = viewGrid(data.images, buildAugment(config), options.views, options.cell);
    writeFileAtomic(options.out, await gridPng(grid));
    return { images: data.images.size(0) };
  });
}
