/** `simclr augment-preview [--config FILE] [--set key=value ...] --out grid.png [--images N] [--views K]` */
import { parseArgs } from "node:util";
import { augmentPreview } from "../jobs/augment-preview.js";
import { CONFIG_OPTIONS, UsageError, integerFlag, resolveConfig } from "./common.js";

export const PREVIEW_HELP = `simclr augment-preview [--config FILE.yaml] [--set key=value ...] --out grid.png [--images N] [--views K] [--cell PX]

Writes a PNG grid: one row per image, the original then K augmented views, so you can see
what the model sees with the configured augmentation.`;

export async function augmentPreviewCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...CONFIG_OPTIONS,
      out: { type: "string" },
      images: { type: "string" },
      views: { type: "string" },
      cell: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${PREVIEW_HELP}\n`);
    return 0;
  }
  if (!values.out) throw new UsageError("augment-preview needs --out FILE.png");
  const options = {
    out: values.out,
    images: integerFlag("images", values.images, 8),
    views: integerFlag("views", values.views, 6),
    cell: integerFlag("cell", values.cell, 96),
  };
  const config = resolveConfig(values);
  const { images } = await augmentPreview(config, options);
  process.stderr.write(`wrote ${options.out}: ${images} images x (original + ${options.views} views), preset ${config.augment.preset}\n`);
  return 0;
}
