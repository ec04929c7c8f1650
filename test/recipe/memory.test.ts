/**
 * The memory pre-flight (src/recipe/memory.ts): its parameter count is the built model's,
 * exactly; a config beyond the memory available is refused naming the key that costs most;
 * and a full disk (a 64 KiB tmpfs) gives a FileWriteError naming the file, with the previous
 * version and `latest` untouched and nothing half-written left behind.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError, FileWriteError, loadConfig, rand, writeSafetensors } from "../../src/index.js";
import { checkPretrainMemory, estimatePretrainMemory } from "../../src/recipe/memory.js";
import { cgroupMemoryLimits } from "../../src/io/host-memory.js";
import { buildModel, dataShape } from "../../src/recipe/recipe.js";
import { saveCheckpoint } from "../../src/run/checkpoint.js";

const GiB = 2 ** 30;

describe("memory pre-flight", () => {
  test("the parameter count is the built model's, for basic and bottleneck blocks, MobileNetV3 and EfficientNet, both stems, 2- and 3-layer heads", () => {
    for (const set of [
      [],
      ["model.arch=resnet50", "model.width=8", "model.cifarStem=false", "head.layers=3", "data.name=cifar10"],
      ["model.arch=resnet34", "model.width=5", "head.outDim=7"],
      ["model.arch=resnet101", "model.width=4", "model.cifarStem=false"],
      ["model.arch=mobilenet_v3_small"],
      ["model.arch=mobilenet_v3_large", "model.widthMult=0.75", "model.cifarStem=false", "head.layers=3", "data.name=cifar10"],
      ["model.arch=efficientnet_b0", "head.outDim=64"],
    ]) {
      const config = loadConfig({ set });
      const model = buildModel(config, dataShape(config)[0]);
      const built = model.namedParameters().reduce((a, [, p]) => a + p.numel, 0);
      model.dispose();
      assert.equal(estimatePretrainMemory(config).parameters, built, set.join(" "));
    }
  });

  test("grows with width, batch and view size; the demo's config fits in 8 GiB", () => {
    const total = (set: string[]) => estimatePretrainMemory(loadConfig({ set })).total;
    assert.ok(total(["model.width=32"]) > total([]));
    assert.ok(total(["train.batchSize=512"]) > total([]));
    assert.ok(total(["augment.size=64"]) > total([]));
    const demo = checkPretrainMemory(loadConfig(), 8 * GiB);
    assert.ok(demo.total > 0.3 * GiB && demo.total < 2 * GiB, `${demo.total / GiB} GiB`);
  });

  test("a config beyond the memory available is refused, naming the key that costs most", () => {
    for (const [set, key] of [
      [["model.width=1000000"], "model.width"],
      [["augment.size=100000"], "augment.size"],
      [["data.name=image-folder", "data.path=/x", "data.size=100000"], "data.size"],
      [["train.batchSize=100000000"], "train.batchSize"],
      [["train.batchSize=4096", "model.width=64"], "train.batchSize"],
    ] as const) {
      assert.throws(
        () => checkPretrainMemory(loadConfig({ set: [...set] }), 8 * GiB),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.key === key &&
          new RegExp(`more than the 8\\.0 GiB this machine has; most of it comes from ${key.replace(".", "\\.")}=`).test(e.message),
        set.join(" "),
      );
    }
  });

  test("the cgroup limits: v1 and v2, the process's own group and its ancestors; 'max' and other controllers ignored", () => {
    const root = mkdtempSync(join(tmpdir(), "simclr-cgroup-"));
    const put = (path: string, value: string) => {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), value);
    };
    put("memory/jobs/memory.limit_in_bytes", "8589934592\n"); // the parent's 8 GiB
    put("memory/jobs/run-1/memory.limit_in_bytes", "9223372036854771712\n"); // v1's "no limit"
    put("cpu/jobs/run-1/memory.limit_in_bytes", "1"); // not the memory controller
    put("user.slice/memory.max", "max\n");
    put("user.slice/session-3.scope/memory.max", "1073741824\n");
    const proc = join(root, "cgroup");
    writeFileSync(proc, "7:cpu,cpuacct:/jobs/run-1\n4:memory:/jobs/run-1\n0::/user.slice/session-3.scope\n");
    assert.deepEqual(
      cgroupMemoryLimits(root, proc).sort((a, b) => a - b),
      [1073741824, 8589934592, 9223372036854771712],
    );
    writeFileSync(proc, "0::/\n");
    assert.deepEqual(cgroupMemoryLimits(root, proc), []);
    assert.deepEqual(cgroupMemoryLimits(root, join(root, "missing")), []);
  });
});

describe("a full disk", () => {
  const mount = join(mkdtempSync(join(tmpdir(), "simclr-full-")), "disk");
  mkdirSync(mount);
  let mounted = false;
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount], { stdio: "ignore" });
    mounted = true;
  } catch {
    mounted = false;
  }
  after(() => {
    if (mounted) execFileSync("umount", [mount]);
  });
  const skip = mounted ? false : "mounting a tmpfs needs root (CI runs as root)";

  test("writeSafetensors: FileWriteError naming the file and ENOSPC; the previous version stays, no temporary is left", { skip }, () => {
    const file = join(mount, "weights.safetensors");
    writeFileSync(file, "previous");
    const big = rand([64, 1024]); // 256 KiB > the disk
    assert.throws(
      () => writeSafetensors(file, { w: big }),
      (e: unknown) => e instanceof FileWriteError && e.path === file && /cannot write .*weights\.safetensors: the disk is full \(ENOSPC\)/.test(e.message),
    );
    big.dispose();
    assert.equal(readFileSync(file, "utf-8"), "previous");
    assert.deepEqual(readdirSync(mount), ["weights.safetensors"]);
  });

  test("saveCheckpoint: FileWriteError, `latest` still names the previous checkpoint, no .tmp folder left", { skip }, () => {
    const run = join(mount, "run");
    const small = rand([4]);
    const state = { epoch: 1, stepInEpoch: 0, globalStep: 4, rngState: "", optimizer: { name: "lars", steps: 4 }, config: {}, createdAt: "" };
    saveCheckpoint(run, state, new Map([["model", new Map([["w", small]])]]));
    const big = rand([64, 1024]);
    assert.throws(
      () => saveCheckpoint(run, { ...state, epoch: 2, globalStep: 8 }, new Map([["model", new Map([["w", big]])]])),
      (e: unknown) => e instanceof FileWriteError && /ENOSPC/.test(e.message) && /epoch-0002/.test(e.message),
    );
    small.dispose();
    big.dispose();
    assert.equal(readFileSync(join(run, "checkpoints", "latest"), "utf-8").trim(), "epoch-0001");
    assert.deepEqual(readdirSync(join(run, "checkpoints")).sort(), ["epoch-0001", "latest"]);
    assert.ok(existsSync(join(run, "checkpoints", "epoch-0001", "model.safetensors")));
  });
});
