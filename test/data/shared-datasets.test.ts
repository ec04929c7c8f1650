import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { cifar10JpgRoot, SHARED_CIFAR10_JPG_TARBALL, sharedCifar10JpgAvailable } from "../../src/data/shared-datasets.js";

describe("shared data sets", () => {
  test("without a tarball or an extracted copy, the error says what to do", () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "simclr-shared-"));
    const saved = process.env.SIMCLR_CIFAR10_JPG;
    try {
      process.env.SIMCLR_CIFAR10_JPG = join(cacheDir, "nowhere.tar.gz");
      assert.equal(sharedCifar10JpgAvailable({ cacheDir }), false);
      assert.throws(
        () => cifar10JpgRoot({ cacheDir }),
        (e: Error) =>
          e.message.startsWith(`${join(cacheDir, "nowhere.tar.gz")}: not found (named by $SIMCLR_CIFAR10_JPG)`) &&
          e.message.includes(SHARED_CIFAR10_JPG_TARBALL) &&
          e.message.includes("data.name cifar10"),
      );
      // An extracted copy is used without any tarball.
      mkdirSync(join(cacheDir, "cifar10-jpg", "train"), { recursive: true });
      mkdirSync(join(cacheDir, "cifar10-jpg", "test"));
      assert.equal(sharedCifar10JpgAvailable({ cacheDir }), true);
      assert.equal(cifar10JpgRoot({ cacheDir }), join(cacheDir, "cifar10-jpg"));
    } finally {
      if (saved === undefined) delete process.env.SIMCLR_CIFAR10_JPG;
      else process.env.SIMCLR_CIFAR10_JPG = saved;
    }
  });

  test(
    "a tarball without the expected folders is rejected and leaves no extraction behind",
    { skip: existsSync("/usr/bin/tar") || existsSync("/bin/tar") ? false : "no tar" },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "simclr-shared-"));
      const { execFileSync } = await import("node:child_process");
      mkdirSync(join(dir, "src", "other"), { recursive: true });
      const tarball = join(dir, "wrong.tar.gz");
      execFileSync("tar", ["czf", tarball, "-C", join(dir, "src"), "other"]);
      const cacheDir = join(dir, "cache");
      assert.throws(() => cifar10JpgRoot({ cacheDir, tarball }), /wrong.tar.gz: does not hold cifar10-jpg\/train and cifar10-jpg\/test/);
      assert.deepEqual(readdirSync(cacheDir), []);
    },
  );
});
