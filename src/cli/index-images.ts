/** `simclr index --run DIR --images PATH --out INDEX [--checkpoint FILE] [--batch N] [--allow-non-finite]` */
import { parseArgs } from "node:util";
import { evaluationConfig } from "../jobs/evaluation-config.js";
import { indexImages } from "../jobs/index-images.js";
import { UsageError, integerFlag, printResult } from "./common.js";

export const INDEX_HELP = `simclr index --run DIR --images PATH --out INDEX [--checkpoint FILE] [--batch N] [--allow-non-finite]

Embeds every image below PATH (JPEG, PNG, WebP; sub-folders too) with the run's encoder into a
search index: one file holding h of each image (L2-normalised) and, per file, its path, size
and mtime, and a hash of the weights. Run it again on the same folder and only new or changed
files are embedded; deleted ones are dropped. An index made by another model, or of another
folder, is refused. Unreadable files are skipped and reported. The index is written
atomically, and one index has one writer at a time (INDEX.lock). Images are decoded upright
(their EXIF orientation applied). An encoder whose features come out NaN or infinite (a run
that diverged) is refused; --allow-non-finite indexes the other images and skips those.
Then: simclr search, simclr duplicates, simclr serve.`;

export async function indexCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: "string" },
      images: { type: "string" },
      out: { type: "string" },
      checkpoint: { type: "string" },
      batch: { type: "string" },
      "allow-non-finite": { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${INDEX_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("index needs --run DIR (a pretraining run)");
  if (!values.images) throw new UsageError("index needs --images PATH (a folder of images)");
  if (!values.out) throw new UsageError("index needs --out INDEX (the index file)");
  const batch = values.batch === undefined ? undefined : integerFlag("batch", values.batch, 0);
  const result = await indexImages(values.run, evaluationConfig(values.run), {
    images: values.images,
    out: values.out,
    ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
    ...(batch !== undefined ? { batchSize: batch } : {}),
    allowNonFinite: values["allow-non-finite"] ?? false,
  });
  printResult({
    ...result,
    skipped: result.skipped.length,
    seconds: Number(result.seconds.toFixed(2)),
    imagesPerSecond: Number(result.imagesPerSecond.toFixed(1)),
  });
  return 0;
}
