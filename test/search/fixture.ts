/** A small run and a folder of PNGs for the search tests: synthetic 28x28 images in class folders. */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { loadConfig, loadDataset, pretrain } from "../../src/index.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";
import { quiet } from "../helpers.js";

export const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));

/** Pretrains 1 epoch on 256 synthetic images; returns the run directory and the data folder. */
export async function searchRun(extra: string[] = []): Promise<{ run: string; data: string }> {
  const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
  const run = tmp("run");
  await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0", ...extra]) }), { progress: quiet(), handleSignals: false });
  return { run, data };
}

/** Writes `count` test images of the synthetic set as PNGs in class folders under a new folder. */
export async function writePngFolder(data: string, count: number): Promise<string> {
  const root = tmp("images");
  const set = await loadDataset({ name: "mnist", path: data, limit: count, size: 28, channels: 1, skipBad: false }, "test");
  const pixels = set.images.data() as Uint8Array; // (count, 1, 28, 28)
  const labels = set.labels.dataAsNumbers();
  for (let i = 0; i < set.images.size(0); i++) {
    const dir = join(root, `class-${labels[i]}`);
    mkdirSync(dir, { recursive: true });
    await sharp(Buffer.from(pixels.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(join(dir, `${String(i).padStart(4, "0")}.png`));
  }
  set.images.dispose();
  set.labels.dispose();
  return root;
}
